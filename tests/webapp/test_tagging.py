"""Video tagging on synthetic faces: clustered embeddings, a quick head run, videos built from factories.

The real-video behaviour (Obama in obama_speech.mp4, nobody in the crowd video) is in
test_tagging_real.py; here every rule is checked fast and exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings

from webapp.core.models import Job
from webapp.faces.models import Face, LabelEvent
from webapp.media.models import ProcessingStatus
from webapp.tagging import selectors, services
from webapp.tagging.models import FacePrediction, VideoTag, VideoTagging
from webapp.tagging.tasks import tag_videos
from webapp.training import services as training_services
from webapp.training.models import ActiveModel

from .factories import FaceFactory, FrameFactory, UserFactory, VideoFactory
from .test_training_fixtures import DIM, FaceSet, make_face_set, person_vectors, run_job_here, train_now

HEAD = {"noise_folds": 0, "epochs": 30}  # a quick, well-separated head: the tests check tagging, not training


@dataclass
class World:
    face_set: FaceSet
    run: object


@pytest.fixture(scope="module")
def world_media(tmp_path_factory):
    return tmp_path_factory.mktemp("tagging-media")


@pytest.fixture(autouse=True)
def media_in_tmp(settings, world_media):
    """Overrides conftest's: every test of this module reads the module's model file from one media folder."""
    settings.MEDIA_ROOT = world_media
    return world_media


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, world_media):
    """Synthetic faces and one accepted head run, built once for the module (each test rolls its own rows back)."""
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=world_media):
        face_set = make_face_set()
        admin = UserFactory(username="tagging-world-admin", role="admin")
        run = train_now(user=admin, accept=True, **HEAD)  # at the default operating point
    yield World(face_set=face_set, run=run)
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def face_set(world, db) -> FaceSet:
    return world.face_set


@pytest.fixture
def model(world, db):
    return world.run


def make_video(*, frames: list[list[np.ndarray]], status: str = ProcessingStatus.DONE):
    """A processed video whose n-th frame holds faces with the given embeddings."""
    video = VideoFactory(status=status)
    for n, vectors in enumerate(frames):
        frame = FrameFactory(video=video, index=n * 10)
        for k, vector in enumerate(vectors):
            FaceFactory(
                source=Face.Source.FRAME,
                identity=None,
                video=video,
                frame=frame,
                vector=vector,
                group_key=video.group_key,
                box=[10 + 60 * k, 20, 50, 50],
            )
    return video


def vip_video(face_set, vip, *, frames: int = 5, seed: int = 1, strangers: int = 1):
    """``frames`` frames each showing ``vip`` and ``strangers`` people who are no VIP (candidates: distractors)."""
    rng = np.random.default_rng(seed)
    own = person_vectors(face_set.centers[vip.pk], frames, rng, spread=0.1)
    others = [
        person_vectors(face_set.centers[face_set.candidates[i % len(face_set.candidates)].pk], frames, rng, spread=0.1)
        for i in range(strangers)
    ]
    return make_video(frames=[[own[n], *(o[n] for o in others)] for n in range(frames)])


def tag_here(*, video=None, scope=None, user=None) -> Job:
    """Start a tagging job and run it in this process, as the gpu worker would."""
    job = (
        services.video_tag_start(video=video, user=user, dispatch=False)
        if video is not None
        else services.videos_tag_start(scope=scope, user=user, dispatch=False)
    )
    tag_videos(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    return job


def test_a_tagging_job_goes_to_the_gpu_queue_with_the_model_and_threshold_pinned(face_set, model, admin_client_api):
    video = vip_video(face_set, face_set.vips[0])
    response = admin_client_api.post(f"/api/v1/videos/{video.pk}/tags/")
    assert response.status_code == 202, response.data
    job = Job.objects.get(pk=response.data["id"])
    assert (job.kind, job.queue) == ("tagging.tag_video", "gpu")
    threshold = selectors.tagging_settings_current().threshold
    assert job.params == {"video": video.pk, "run": model.pk, "threshold": threshold, "min_frames": 3}


def test_a_vip_seen_in_enough_frames_is_tagged_with_its_supporting_frames(face_set, model):
    vip = face_set.vips[1]
    video = vip_video(face_set, vip, frames=5)
    tag_here(video=video)
    (tag,) = VideoTag.objects.filter(video=video)
    assert (tag.identity_id, tag.status, tag.run_id, tag.frame_count) == (vip.pk, "proposed", model.pk, 5)
    evidence = list(tag.evidence.order_by("rank"))
    assert [e.face.identity_id for e in evidence] == [None] * 5
    assert {e.frame_id for e in evidence} == set(video.frames.values_list("pk", flat=True))
    confidences = [e.confidence for e in evidence]
    assert confidences == sorted(confidences, reverse=True)
    assert tag.confidence == pytest.approx(confidences[2])  # k = 3: the third best frame
    assert tag.confidence >= tag.threshold


def test_every_face_gets_a_prediction_and_faces_below_the_threshold_are_unknown(face_set, model):
    video = vip_video(face_set, face_set.vips[0], frames=4, strangers=2)
    tag_here(video=video)
    predictions = {p.face_id: p for p in FacePrediction.objects.filter(video=video)}
    assert set(predictions) == set(Face.objects.filter(video=video).values_list("pk", flat=True))
    threshold = VideoTagging.objects.get(video=video).threshold
    for prediction in predictions.values():
        assert prediction.run_id == model.pk
        assert prediction.accepted == (prediction.confidence >= threshold)
    vip_faces = [p for p in predictions.values() if p.identity_id == face_set.vips[0].pk and p.accepted]
    assert len(vip_faces) == 4
    assert sum(p.accepted for p in predictions.values()) == 4  # the strangers are unknown people


def test_an_identity_in_fewer_than_k_frames_is_not_tagged(face_set, model, settings):
    settings.FACECURATOR_TAG_MIN_FRAMES = 3
    video = vip_video(face_set, face_set.vips[0], frames=2)
    tag_here(video=video)
    assert not VideoTag.objects.filter(video=video).exists()
    assert VideoTagging.objects.get(video=video).faces == 4


def test_raising_the_operating_threshold_never_adds_tags(face_set, model, admin_user):
    videos = [vip_video(face_set, vip, frames=4, seed=n) for n, vip in enumerate(face_set.vips)]
    rng = np.random.default_rng(9)
    noisy = rng.standard_normal((40, DIM)).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    videos.append(make_video(frames=[list(noisy[i : i + 4]) for i in range(0, 40, 4)]))
    previous = first = None
    for threshold in (0.0, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0):
        training_services.operating_point_set(threshold=threshold, user=admin_user)
        job = tag_here(scope="outdated")
        assert job.result["tagged"] == len(videos)
        tagged = set(VideoTag.objects.values_list("video_id", "identity_id"))
        if previous is not None:
            assert tagged <= previous, f"threshold {threshold} added {tagged - previous}"
        previous = tagged
        first = tagged if first is None else first
    assert len(first) >= len(face_set.vips) > len(previous)  # every VIP video at 0, fewer tags at 1


def test_retagging_with_the_same_model_reuses_predictions_and_changes_nothing(face_set, model):
    video = vip_video(face_set, face_set.vips[0])
    tag_here(video=video)
    before = list(VideoTag.objects.filter(video=video).values("pk", "confidence", "run"))
    job = tag_here(video=video)
    assert job.result["per_video"][0]["reused_predictions"] is True
    assert job.result["tags"]["kept"] == 1
    assert list(VideoTag.objects.filter(video=video).values("pk", "confidence", "run")) == before


def test_retagging_after_a_new_model_replaces_proposed_tags_and_records_the_new_run(face_set, model, admin_user):
    video = vip_video(face_set, face_set.vips[0])
    tag_here(video=video)
    old = VideoTag.objects.get(video=video)
    second = train_now(user=admin_user, accept=True, seed=1, **HEAD)
    # A fixed threshold, so the test is about re-tagging, not about where the new run's sweep lands.
    training_services.operating_point_set(threshold=0.5, user=admin_user)
    assert selectors.tagging_summary()["outdated"] == 1
    job = tag_here(scope="outdated")
    assert job.result["tagged"] == 1 and job.result["run"] == second.pk
    (new,) = VideoTag.objects.filter(video=video)
    assert new.pk != old.pk and new.run_id == second.pk and new.identity_id == old.identity_id
    assert set(FacePrediction.objects.filter(video=video).values_list("run", flat=True)) == {second.pk}
    assert VideoTagging.objects.get(video=video).run_id == second.pk
    assert selectors.tagging_summary()["outdated"] == 0


def test_confirmed_and_rejected_tags_survive_retagging_and_a_rejection_is_not_proposed_again(
    face_set, model, admin_user, annotator
):
    first = vip_video(face_set, face_set.vips[0], seed=1)
    second = vip_video(face_set, face_set.vips[1], seed=2)
    tag_here(scope="untagged")
    confirmed = services.tag_confirm(tag=VideoTag.objects.get(video=first), user=annotator).tag
    rejected = services.tag_reject(tag=VideoTag.objects.get(video=second), user=annotator, note="not him").tag
    newer = train_now(user=admin_user, accept=True, seed=2, **HEAD)
    job = tag_here(scope="all")
    assert job.result["tags"]["confirmed"] == 1 and job.result["tags"]["suppressed"] == 1
    assert list(VideoTag.objects.filter(video=first).values_list("pk", "status", "run")) == [
        (confirmed.pk, "confirmed", model.pk)
    ]
    assert list(VideoTag.objects.filter(video=second).values_list("pk", "status", "run")) == [
        (rejected.pk, "rejected", model.pk)
    ]
    assert VideoTagging.objects.get(video=second).run_id == newer.pk


def test_an_annotator_confirms_a_tag_and_its_faces_become_verified_with_label_events(
    face_set, model, annotator_client, annotator
):
    vip = face_set.vips[2]
    video = vip_video(face_set, vip, frames=4)
    tag_here(video=video)
    tag = VideoTag.objects.get(video=video)
    response = annotator_client.post(f"/api/v1/tags/{tag.pk}/confirm/", {"note": "clearly him"})
    assert response.status_code == 200, response.data
    assert response.data["tag"]["status"] == "confirmed" and response.data["label_events"] == 4
    faces = Face.objects.filter(pk__in=tag.evidence.values("face_id"))
    assert {(f.identity_id, f.status) for f in faces} == {(vip.pk, "verified")}
    events = LabelEvent.objects.filter(face__in=faces)
    assert events.count() == 4
    assert {(e.user_id, e.from_identity_id, e.to_identity_id, e.to_status) for e in events} == {
        (annotator.pk, None, vip.pk, "verified")
    }
    tag.refresh_from_db()
    assert set(events.values_list("operation", flat=True)) == {tag.label_operation}
    # The stranger in each frame is not touched.
    assert not Face.objects.filter(video=video, status="verified").exclude(pk__in=faces).exists()


def test_confirming_only_some_faces_verifies_those_and_refuses_faces_that_do_not_support_the_tag(
    face_set, model, annotator_client
):
    video = vip_video(face_set, face_set.vips[0], frames=4)
    tag_here(video=video)
    tag = VideoTag.objects.get(video=video)
    chosen = list(tag.evidence.order_by("rank").values_list("face_id", flat=True)[:2])
    stranger = Face.objects.filter(video=video).exclude(pk__in=tag.evidence.values("face_id")).first()
    refused = annotator_client.post(f"/api/v1/tags/{tag.pk}/confirm/", {"faces": [chosen[0], stranger.pk]})
    assert refused.status_code == 400 and str(stranger.pk) in refused.data["detail"]
    response = annotator_client.post(f"/api/v1/tags/{tag.pk}/confirm/", {"faces": chosen})
    assert response.status_code == 200 and response.data["label_events"] == 2
    assert set(Face.objects.filter(video=video, status="verified").values_list("pk", flat=True)) == set(chosen)


def test_a_face_a_person_verified_as_someone_else_is_left_alone_on_confirm(face_set, model, annotator):
    video = vip_video(face_set, face_set.vips[0], frames=4)
    tag_here(video=video)
    tag = VideoTag.objects.get(video=video)
    face = tag.evidence.order_by("rank").first().face
    Face.objects.filter(pk=face.pk).update(identity=face_set.vips[1], status="verified")
    decision = services.tag_confirm(tag=tag, user=annotator)
    assert decision.skipped == [{"face": face.pk, "reason": f"verified as identity {face_set.vips[1].pk}"}]
    assert len(decision.events) == 3
    face.refresh_from_db()
    assert face.identity_id == face_set.vips[1].pk


def test_a_decided_tag_cannot_be_decided_the_other_way(face_set, model, annotator_client):
    video = vip_video(face_set, face_set.vips[0])
    tag_here(video=video)
    tag = VideoTag.objects.get(video=video)
    assert annotator_client.post(f"/api/v1/tags/{tag.pk}/reject/").status_code == 200
    again = annotator_client.post(f"/api/v1/tags/{tag.pk}/reject/")
    assert again.status_code == 200 and again.data["tag"]["status"] == "rejected"
    response = annotator_client.post(f"/api/v1/tags/{tag.pk}/confirm/")
    assert response.status_code == 409 and "already rejected by bob-annotator" in response.data["detail"]
    assert not LabelEvent.objects.exists()


def test_annotators_cannot_start_tagging_jobs(face_set, model, annotator_client, admin_client_api):
    video = vip_video(face_set, face_set.vips[0])
    assert annotator_client.post(f"/api/v1/videos/{video.pk}/tags/").status_code == 403
    assert annotator_client.post("/api/v1/tags/start/", {"scope": "untagged"}).status_code == 403
    assert not Job.objects.filter(kind__startswith="tagging.").exists()
    response = admin_client_api.post("/api/v1/tags/start/", {"scope": "untagged"})
    assert response.status_code == 202 and response.data["kind"] == "tagging.tag_videos"
    assert response.data["queue"] == "gpu"


def test_tagging_without_an_active_model_is_refused_with_a_clear_message(face_set, admin_client_api):
    ActiveModel.objects.all().delete()
    video = vip_video(face_set, face_set.vips[0])
    response = admin_client_api.post(f"/api/v1/videos/{video.pk}/tags/")
    assert response.status_code == 400 and response.data["code"] == "no_active_model"
    assert "accept a training run first" in response.data["detail"]


def test_a_video_still_processing_is_refused_and_a_batch_skips_it(face_set, model, admin_client_api):
    pending = make_video(frames=[], status=ProcessingStatus.PROCESSING)
    response = admin_client_api.post(f"/api/v1/videos/{pending.pk}/tags/")
    assert response.status_code == 400 and response.data["code"] == "video_not_ready"
    job = services.videos_tag_start(video_ids=[pending.pk], dispatch=False)
    tag_videos(job.pk)
    job.refresh_from_db()
    assert job.state == "succeeded" and job.result["errors"][0]["video"] == pending.pk


def test_the_review_queue_serves_proposed_tags_closest_to_the_threshold_first(
    face_set, model, annotator_client, annotator
):
    for n, vip in enumerate(face_set.vips):
        vip_video(face_set, vip, seed=10 + n)
    tag_here(scope="untagged")
    decided = VideoTag.objects.order_by("id").first()
    services.tag_reject(tag=decided, user=annotator)
    response = annotator_client.get("/api/v1/tags/review/")
    assert response.status_code == 200
    rows = response.data["results"]
    assert decided.pk not in [row["id"] for row in rows] and len(rows) == 2
    margins = [row["margin"] for row in rows]
    assert margins == sorted(margins)
    assert all(row["status"] == "proposed" and 0 < len(row["evidence"]) <= 12 for row in rows)
    first = rows[0]["evidence"][0]
    assert set(first) >= {"frame", "frame_index", "timestamp", "image_url", "face", "box", "crop_url", "confidence"}


def test_tags_per_video_and_videos_per_identity(face_set, model, annotator_client, annotator):
    a, b = face_set.vips[:2]
    video_a, video_b = vip_video(face_set, a, seed=1), vip_video(face_set, b, seed=2)
    tag_here(scope="untagged")
    response = annotator_client.get(f"/api/v1/videos/{video_a.pk}/tags/")
    assert response.status_code == 200
    (row,) = response.data
    assert (row["identity"], row["identity_name"], len(row["evidence"])) == (a.pk, a.name, 5)
    assert row["evidence"][0]["image_url"].startswith("/media/frames/")
    listed = annotator_client.get("/api/v1/tags/", {"video": video_b.pk}).data["results"]
    assert [r["identity"] for r in listed] == [b.pk]
    videos = annotator_client.get("/api/v1/videos/", {"identity": a.pk}).data["results"]
    assert [v["id"] for v in videos] == [video_a.pk]
    services.tag_reject(tag=VideoTag.objects.get(video=video_a), user=annotator)
    assert annotator_client.get("/api/v1/videos/", {"identity": a.pk}).data["results"] == []
    predictions = annotator_client.get(f"/api/v1/videos/{video_a.pk}/predictions/").data
    assert predictions["count"] == 10 and sum(p["accepted"] for p in predictions["results"]) == 5


def test_listing_tags_takes_a_fixed_number_of_queries(face_set, model, annotator_client, django_assert_max_num_queries):
    for n in range(4):
        vip_video(face_set, face_set.vips[n % 3], seed=20 + n)
    tag_here(scope="untagged")
    for url in ("/api/v1/tags/", "/api/v1/tags/review/"):
        with django_assert_max_num_queries(8):
            response = annotator_client.get(url)
        assert response.status_code == 200 and response.data["count"] == 4


def test_the_command_tags_untagged_videos_here(face_set, model, capsys):
    video = vip_video(face_set, face_set.vips[0])
    call_command("tag_videos", "--untagged", "--here")
    out = capsys.readouterr().out
    assert "1/1 videos tagged" in out and "1 proposed" in out
    assert VideoTag.objects.filter(video=video, run=model).count() == 1
    call_command("tag_videos", "--untagged", "--here")
    assert "0/0 videos tagged" in capsys.readouterr().out


@pytest.mark.slow
def test_a_finetune_run_tags_from_the_aligned_crops(face_set, admin_user):
    run = training_services.training_run_start(
        user=admin_user,
        mode="finetune",
        dispatch=False,
        options={"backbone": "mobilenet_v3_small", "epochs": 1, "image_size": 32, "batch_size": 32, "lr": 0.01},
    )
    run = run_job_here(run)
    assert run.job.state == "succeeded", run.job.error
    training_services.training_run_accept(run=run, user=admin_user)
    video = vip_video(face_set, face_set.vips[0], frames=3)
    job = tag_here(video=video)
    assert job.result["per_video"][0]["skipped"] == 0
    predictions = FacePrediction.objects.filter(video=video, run=run)
    assert predictions.count() == Face.objects.filter(video=video).count() == 6
    assert all(0.0 <= p.confidence <= 1.0 for p in predictions)


# --- Undo, and the video list's tags ------------------------------------------------------------
def test_undoing_a_confirmation_proposes_the_tag_again_and_gives_the_faces_their_labels_back(
    face_set, model, annotator_client, annotator
):
    video = vip_video(face_set, face_set.vips[0], frames=4)
    tag_here(video=video)
    tag = VideoTag.objects.get(video=video)
    supporting = list(tag.evidence.values_list("face_id", flat=True))
    before = {f.pk: (f.identity_id, f.status) for f in Face.objects.filter(pk__in=supporting)}
    assert annotator_client.post(f"/api/v1/tags/{tag.pk}/confirm/").status_code == 200

    response = annotator_client.post(f"/api/v1/tags/{tag.pk}/undo/")
    assert response.status_code == 200, response.data
    assert response.data["tag"]["status"] == "proposed" and response.data["label_events"] == 4
    assert {f.pk: (f.identity_id, f.status) for f in Face.objects.filter(pk__in=supporting)} == before
    tag.refresh_from_db()
    assert (tag.reviewed_by, tag.label_operation) == (None, None)
    assert LabelEvent.objects.filter(undoes__isnull=False, user=annotator).count() == 4
    again = annotator_client.post(f"/api/v1/tags/{tag.pk}/undo/")
    assert again.status_code == 409 and "nothing to undo" in again.data["detail"]


def test_a_rejection_is_undone_by_its_author_or_an_admin_only(
    face_set, model, annotator_client, other_annotator_client, admin_client_api
):
    video = vip_video(face_set, face_set.vips[1])
    tag_here(video=video)
    tag = VideoTag.objects.get(video=video)
    annotator_client.post(f"/api/v1/tags/{tag.pk}/reject/")
    refused = other_annotator_client.post(f"/api/v1/tags/{tag.pk}/undo/")
    assert refused.status_code == 403 and "own" in refused.data["detail"]
    assert admin_client_api.post(f"/api/v1/tags/{tag.pk}/undo/").data["tag"]["status"] == "proposed"
    assert not LabelEvent.objects.exists()


def test_the_video_list_shows_each_videos_standing_tags_and_when_it_was_tagged(
    face_set, model, annotator_client, annotator, django_assert_max_num_queries
):
    a, b = face_set.vips[:2]
    tagged, rejected, untagged = (
        vip_video(face_set, a, seed=3),
        vip_video(face_set, b, seed=4),
        vip_video(face_set, b, seed=5),
    )
    tag_here(video=tagged)
    tag_here(video=rejected)
    services.tag_reject(tag=VideoTag.objects.get(video=rejected), user=annotator)
    with django_assert_max_num_queries(6):
        rows = {row["id"]: row for row in annotator_client.get("/api/v1/videos/").data["results"]}
    assert [(t["identity_name"], t["status"]) for t in rows[tagged.pk]["tags"]] == [(a.name, "proposed")]
    assert rows[rejected.pk]["tags"] == [] and rows[rejected.pk]["tagged_at"] is not None
    assert rows[untagged.pk]["tags"] == [] and rows[untagged.pk]["tagged_at"] is None
