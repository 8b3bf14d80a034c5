"""The curation loop from the shell: train, set_operating_point, promote, curation_status."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from webapp.training import selectors
from webapp.training.models import Chunk, TrainingRun

from .test_training_fixtures import make_face_set

pytestmark = pytest.mark.django_db


QUICK_ARGS = ("--epochs", "20", "--lr", "0.2", "--batch-size", "32", "--option", "noise_folds=2")


def run_command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_train_here_runs_in_this_process_and_can_accept_the_run(admin_user):
    make_face_set()

    out = run_command("train", "--here", *QUICK_ARGS, "--accept", "--user", admin_user.username)

    run = TrainingRun.objects.get()
    assert run.job.state == "succeeded" and run.config["epochs"] == 20 and run.created_by == admin_user
    assert f"run {run.pk} succeeded" in out and "review queues: " in out and "label_errors" in out
    assert selectors.active_run() == run


def test_train_refuses_a_user_who_is_not_an_admin(annotator):
    with pytest.raises(CommandError, match="not an admin"):
        run_command("train", "--user", annotator.username)


def test_train_without_vips_says_to_promote_first():
    with pytest.raises(CommandError, match="promote the first chunk"):
        run_command("train")


def test_set_operating_point_and_curation_status_report_the_active_model(admin_user):
    make_face_set(vips=3, candidates=2)
    run_command("train", "--here", *QUICK_ARGS, "--accept")

    out = run_command("set_operating_point", "--target-precision", "0.8")
    status = run_command("curation_status")

    threshold = selectors.operating_threshold()
    assert f"threshold {threshold:.4f} for target precision 0.8" in out
    assert "VIPs: 3 (chunk -), candidates: 2" in status and f"threshold {threshold:.4f}" in status
    assert "\ngate: " in status  # the gate reads the model at this operating point


def test_promote_shows_the_gate_and_promotes_the_next_chunk(settings):
    settings.FACECURATOR_CHUNK_SIZE = 2
    face_set = make_face_set(vips=3, candidates=3)
    run_command("train", "--here", *QUICK_ARGS, "--accept")  # the gate reads it at the default operating point

    dry = run_command("promote", "--dry-run")
    out = run_command("promote")

    assert "gate: passed" in dry and "would promote: Candidate 0, Candidate 1" in dry
    assert "chunk 2: promoted Candidate 0, Candidate 1" in out
    assert set(Chunk.objects.get(number=2).identities[i]["id"] for i in range(2)) == {
        c.pk for c in face_set.candidates[:2]
    }


@pytest.mark.parametrize("unknown, rule", [(30, "lowest_measurable_far"), (0, "target_precision_fallback")])
def test_the_demo_loop_promote_train_accept_gives_a_model_that_tags_at_the_default_operating_point(
    settings, unknown, rule
):
    # as `make demo` leaves it, at two sizes: 10+ unknown val faces (far fewer than the 1,000 a rate
    # of 0.001 needs) and none; the default must tag a VIP's video and say how its threshold was chosen
    from .test_tagging import tag_here, vip_video

    settings.FACECURATOR_CHUNK_SIZE = 3
    face_set = make_face_set(vips=0, candidates=5, unknown=unknown, chunk=None)
    run_command("promote")

    out = run_command("train", "--here", *QUICK_ARGS, "--accept")

    point = selectors.operating_point_current()
    assert point.far == settings.FACECURATOR_DEFAULT_FAR and point.rule == rule
    assert f"operating point: threshold {point.threshold:.4f}, chosen for " in out and point.reason in out
    vip = face_set.candidates[0]  # promoted first (popularity rank 1)
    video = vip_video(face_set, vip, strangers=0)
    tag_here(video=video)
    assert [tag.identity_id for tag in video.tags.all()] == [vip.pk]
    assert "gate: passed" in run_command("promote", "--dry-run")


def test_promote_refuses_when_the_gate_is_not_met_and_no_reason_is_given(settings):
    settings.FACECURATOR_CHUNK_SIZE = 1
    make_face_set(vips=2, candidates=1)

    with pytest.raises(CommandError, match="gate is not met"):
        run_command("promote")
