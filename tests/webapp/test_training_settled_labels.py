"""What a run trains on, stated in its snapshot: settled labels only (the default), or all labels.

A label is not settled while a decision on its face waits for a second opinion, or while two
annotators' disagreement on it waits for an admin."""

from __future__ import annotations

import pytest

from webapp.quality.models import SecondOpinion
from webapp.review.models import Item, Queue
from webapp.review.services import DecisionRequest, decisions_apply
from webapp.training import selectors, services

from .test_training_fixtures import QUICK, run_job_here

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_face(face_set, annotator, settings):
    """A VIP 0 face an annotator relabelled as VIP 1: waiting for a second opinion."""
    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]
    face = face_set.faces_of(face_set.vips[0], "train")[0]
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    item = Item.objects.create(
        queue=queue, face=face, identity=face_set.vips[0], score=1.0, leased_to=annotator, served_version=face.version
    )
    decisions_apply(user=annotator, requests=[DecisionRequest(item.pk, "relabel", face_set.vips[1].pk)])
    assert SecondOpinion.objects.get().state == "pending"
    return face


def snapshotted(run):
    """The run once its task has taken the snapshot (its first step)."""
    services.training_run_snapshot(run=run)
    run.refresh_from_db()
    return run


def second_opinion_answered(face, user, action, **extra):
    item = Item.objects.get(face=face, queue__payload__second_opinion=True)
    Item.objects.filter(pk=item.pk).update(leased_to=user, served_version=face.version)
    decisions_apply(user=user, requests=[DecisionRequest(item.pk, action, **extra)])


def test_a_run_on_settled_labels_leaves_out_a_face_waiting_for_a_second_opinion(held_face, admin_user):
    run = snapshotted(services.training_run_start(user=admin_user, options=QUICK, dispatch=False))

    assert run.labels == "settled"
    assert not run.samples.filter(face=held_face).exists()
    assert run.counts["unsettled_left_out"] == 1


def test_a_run_on_all_labels_trains_on_the_face_with_its_current_label(held_face, admin_user):
    run = snapshotted(services.training_run_start(user=admin_user, options=QUICK, labels="all", dispatch=False))

    assert run.samples.get(face=held_face).label == 0
    assert run.counts["unsettled_left_out"] == 0


def test_a_disputed_face_is_left_out_until_an_admin_decides_it(held_face, other_annotator, admin_user):
    second_opinion_answered(held_face, other_annotator, "confirm")
    assert SecondOpinion.objects.get().state == "disputed"
    assert (
        snapshotted(services.training_run_start(user=admin_user, options=QUICK, dispatch=False)).counts[
            "unsettled_left_out"
        ]
        == 1
    )
    services.training_run_cancel(run=selectors.runs_unfinished().get())
    dispute = SecondOpinion.objects.get().dispute_item
    Item.objects.filter(pk=dispute.pk).update(leased_to=admin_user, served_version=held_face.version)

    decisions_apply(user=admin_user, requests=[DecisionRequest(dispute.pk, "relabel", held_face.identity.pk)])

    run = snapshotted(services.training_run_start(user=admin_user, options=QUICK, dispatch=False))
    assert run.samples.filter(face=held_face).exists() and run.counts["unsettled_left_out"] == 0


def test_training_honours_the_snapshot_without_the_unsettled_face(held_face, admin_user):
    run = run_job_here(services.training_run_start(user=admin_user, options=QUICK, dispatch=False))

    assert run.job.state == "succeeded", run.job.error
    assert not run.samples.filter(face=held_face).exists()


def test_the_api_starts_a_run_on_all_labels_and_states_it(face_set, admin_client_api):
    started = admin_client_api.post("/api/v1/runs/", {"options": QUICK, "labels": "all"}, format="json")
    assert started.status_code == 202, started.data

    listed = admin_client_api.get("/api/v1/runs/").data

    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(r["id"], r["labels"]) for r in rows] == [(started.data["id"], "all")]


def test_unknown_labels_are_refused(face_set, admin_client_api):
    response = admin_client_api.post("/api/v1/runs/", {"options": QUICK, "labels": "some"}, format="json")

    assert response.status_code == 400 and "labels" in str(response.data)
