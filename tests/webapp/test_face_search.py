"""Finding any face: the faces list filters by queue reason, the active model's confidence and who
labelled it, in one query a page; chosen faces can be sent to review as a queue of their own."""

from __future__ import annotations

import pytest

from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.faces.services import face_relabel
from webapp.review.models import Item, Queue
from webapp.training.models import ActiveModel, RunSample, TrainingRun

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db
FACES = "/api/v1/faces/"


def ids(response) -> set[int]:
    assert response.status_code == 200, response.data
    return {row["id"] for row in response.data["results"]}


def run_with_confidences(confidences: dict[Face, float], *, accept: bool) -> TrainingRun:
    run = TrainingRun.objects.create(job=Job.objects.create(kind="training.run", state="succeeded"))
    RunSample.objects.bulk_create(
        [
            RunSample(
                run=run,
                face=face,
                identity_id=face.identity_id,
                label=0,
                split=face.split,
                version=face.version,
                confidence=value,
            )
            for face, value in confidences.items()
        ]
    )
    if accept:
        ActiveModel.objects.create(run=run)
    return run


def test_confidence_range_reads_the_active_models_scores_only(annotator_client):
    low, middle, high, unseen = FaceFactory.create_batch(4)
    run_with_confidences({low: 0.2, middle: 0.55, high: 0.9}, accept=True)
    run_with_confidences({low: 0.95, middle: 0.95, high: 0.95, unseen: 0.95}, accept=False)  # not in force

    assert ids(annotator_client.get(FACES, {"confidence_min": 0.5, "confidence_max": 0.8})) == {middle.pk}
    assert ids(annotator_client.get(FACES, {"confidence_min": 0.5})) == {middle.pk, high.pk}
    listed = {row["id"]: row["model_confidence"] for row in annotator_client.get(FACES).data["results"]}
    assert listed == {low.pk: 0.2, middle.pk: 0.55, high.pk: 0.9, unseen.pk: None}


def test_queue_kind_keeps_faces_waiting_in_an_open_queue_of_that_kind(annotator_client):
    queued, decided, elsewhere, free = FaceFactory.create_batch(4)
    errors = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    Item.objects.create(queue=errors, face=queued, score=1)
    Item.objects.create(queue=errors, face=decided, score=1, state=Item.State.DECIDED)
    Item.objects.create(
        queue=Queue.objects.create(kind=Queue.Kind.NON_FACES, title="non faces"), face=elsewhere, score=1
    )

    assert ids(annotator_client.get(FACES, {"queue_kind": "label_errors"})) == {queued.pk}
    assert ids(annotator_client.get(FACES, {"queue_kind": "non_faces"})) == {elsewhere.pk}
    refused = annotator_client.get(FACES, {"queue_kind": "whatever"})
    assert refused.status_code == 400 and "queue_kind" in refused.data


def test_labelled_by_keeps_faces_whose_label_that_user_changed(annotator_client, annotator, other_annotator):
    mine, theirs, untouched = FaceFactory.create_batch(3)
    face_relabel(face=mine, status=Face.Status.VERIFIED, user=annotator)
    face_relabel(face=theirs, status=Face.Status.VERIFIED, user=other_annotator)

    assert ids(annotator_client.get(FACES, {"labelled_by": annotator.username})) == {mine.pk}
    assert ids(annotator_client.get(FACES, {"labelled_by": other_annotator.username, "status": "verified"})) == {
        theirs.pk
    }
    assert ids(annotator_client.get(FACES, {"labelled_by": "nobody"})) == set()


def test_the_faces_list_costs_the_same_queries_for_one_face_or_many(
    annotator_client, annotator, django_assert_num_queries
):
    person = IdentityFactory()
    faces = FaceFactory.create_batch(2, identity=person)
    run_with_confidences({faces[0]: 0.7}, accept=True)
    query = {
        "queue_kind": "label_errors",
        "labelled_by": annotator.username,
        "confidence_min": 0.1,
        "identity": person.pk,
    }
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")

    def count_queries(face_count: int) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert len(ids(annotator_client.get(FACES, query))) == face_count
        return len(captured)

    Item.objects.create(queue=queue, face=faces[0], score=1)
    face_relabel(face=faces[0], status=Face.Status.VERIFIED, user=annotator)
    one = count_queries(1)
    more = FaceFactory.create_batch(5, identity=person)
    run = ActiveModel.objects.get().run
    for face in more:
        RunSample.objects.create(run=run, face=face, label=0, split=face.split, version=0, confidence=0.5)
        Item.objects.create(queue=queue, face=face, score=1)
        face_relabel(face=face, status=Face.Status.VERIFIED, user=annotator)
    with django_assert_num_queries(one):
        assert len(ids(annotator_client.get(FACES, query))) == 6


def test_chosen_faces_are_sent_to_review_as_a_queue_in_the_order_given(annotator_client, annotator):
    person = IdentityFactory()
    first, second = FaceFactory.create_batch(2, identity=person)
    unknown = FaceFactory(identity=None)

    response = annotator_client.post(
        "/api/v1/review/queues/from-faces/", {"faces": [second.pk, unknown.pk, first.pk]}, format="json"
    )
    assert response.status_code == 201, response.data
    queue = Queue.objects.get(pk=response.data["id"])
    assert (queue.kind, queue.created_by, response.data["open_count"]) == ("sent", annotator, 3)
    assert queue.title == f"3 faces sent by {annotator.username}"
    served = [(item.face_id, item.identity_id) for item in queue.items.order_by("-score")]
    assert served == [(second.pk, person.pk), (unknown.pk, None), (first.pk, person.pk)]


def test_sending_unknown_faces_or_none_is_refused_with_a_message(annotator_client):
    face = FaceFactory()
    missing = annotator_client.post("/api/v1/review/queues/from-faces/", {"faces": [face.pk, 999999]}, format="json")
    assert missing.status_code == 404 and "999999" in missing.data["detail"]
    empty = annotator_client.post("/api/v1/review/queues/from-faces/", {"faces": []}, format="json")
    assert empty.status_code == 400
    assert not Queue.objects.exists()
