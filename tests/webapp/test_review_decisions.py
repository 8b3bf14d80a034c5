"""Decisions on review items: each writes a LabelEvent, a page goes in one request, undo restores it."""

from __future__ import annotations

import pytest

from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import face_relabel
from webapp.review.models import Decision, Item, Queue

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vips(db):
    return [IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")]


@pytest.fixture
def queue(vips):
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    for n in range(6):
        face = FaceFactory(identity=vips[0])
        Item.objects.create(
            queue=queue,
            face=face,
            identity=vips[0],
            score=1.0 - n / 10,
            payload={"suggestions": [{"identity": vips[1].pk, "name": "Grace", "probability": 0.9}]},
        )
    return queue


def serve(client, queue, limit=6):
    response = client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": limit}, format="json")
    assert response.status_code == 200, response.data
    return response.data


def decide(client, *decisions):
    return client.post("/api/v1/review/decisions/", {"decisions": list(decisions)}, format="json")


def test_confirm_verifies_the_label_and_records_a_label_event(annotator_client, annotator, queue):
    item = serve(annotator_client, queue, 1)[0]

    response = decide(annotator_client, {"item": item["id"], "action": "confirm"})

    assert response.status_code == 201
    face = Face.objects.get(pk=item["face"]["id"])
    assert face.status == "verified" and face.identity.name == "Ada"
    event = LabelEvent.objects.get(face=face)
    assert event.user == annotator and event.to_status == "verified"
    assert response.data["label_events"] == [event.pk]
    assert Item.objects.get(pk=item["id"]).state == "decided"


def test_relabel_moves_the_face_to_the_chosen_identity_as_verified(annotator_client, queue, vips):
    item = serve(annotator_client, queue, 1)[0]

    decide(annotator_client, {"item": item["id"], "action": "relabel", "identity": vips[1].pk})

    face = Face.objects.get(pk=item["face"]["id"])
    assert (face.identity, face.status) == (vips[1], "verified")
    assert LabelEvent.objects.get(face=face).from_identity == vips[0]


@pytest.mark.parametrize(
    "action, identity, status",
    [
        ("unknown", None, "verified"),
        ("not_a_face", "Ada", "not_a_face"),
        ("exclude", "Ada", "excluded"),
    ],
)
def test_unknown_not_a_face_and_exclude_set_the_label_they_name(annotator_client, queue, action, identity, status):
    item = serve(annotator_client, queue, 1)[0]

    decide(annotator_client, {"item": item["id"], "action": action})

    face = Face.objects.select_related("identity").get(pk=item["face"]["id"])
    assert (face.identity.name if face.identity else None, face.status) == (identity, status)
    assert LabelEvent.objects.filter(face=face).count() == 1


def test_skip_leaves_the_label_alone_and_hands_the_item_to_someone_else(
    annotator_client, other_annotator_client, queue
):
    item = serve(annotator_client, queue, 1)[0]

    decide(annotator_client, {"item": item["id"], "action": "skip"})

    assert not LabelEvent.objects.exists()
    assert item["id"] not in [i["id"] for i in serve(annotator_client, queue)]
    assert serve(other_annotator_client, queue, 1)[0]["id"] == item["id"]


def test_a_page_of_decisions_is_one_request_under_one_operation_id(annotator_client, queue, vips):
    items = serve(annotator_client, queue)

    response = decide(
        annotator_client,
        *[
            {"item": items[0]["id"], "action": "relabel", "identity": vips[1].pk},
            {"item": items[1]["id"], "action": "not_a_face"},
            {"item": items[2]["id"], "action": "confirm"},
            {"item": items[3]["id"], "action": "skip"},
        ],
    )

    assert response.status_code == 201
    operation = response.data["operation"]
    assert len(response.data["label_events"]) == 3
    assert LabelEvent.objects.filter(operation=operation).count() == 3
    assert Decision.objects.filter(operation=operation).count() == 4


def test_a_page_answers_with_its_decisions_as_the_decision_serializer_shows_them(annotator_client, queue, vips):
    from webapp.review.serializers import DecisionSerializer

    items = serve(annotator_client, queue)

    response = decide(
        annotator_client,
        {"item": items[0]["id"], "action": "relabel", "identity": vips[1].pk},
        {"item": items[1]["id"], "action": "unknown"},
        {"item": items[2]["id"], "action": "confirm"},
        {"item": items[3]["id"], "action": "skip"},
    )

    saved = Decision.objects.filter(operation=response.data["operation"]).select_related("user").order_by("id")
    assert response.json()["decisions"] == DecisionSerializer(saved, many=True).data


def test_undoing_a_page_restores_the_labels_and_reopens_the_items_for_me(annotator_client, annotator, queue, vips):
    items = serve(annotator_client, queue, 2)
    operation = decide(
        annotator_client,
        {"item": items[0]["id"], "action": "relabel", "identity": vips[1].pk},
        {"item": items[1]["id"], "action": "exclude"},
    ).data["operation"]

    response = annotator_client.post(f"/api/v1/review/operations/{operation}/undo/")

    assert response.status_code == 200 and response.data["undone_label_events"] == 2
    for item in items:
        face = Face.objects.get(pk=item["face"]["id"])
        assert (face.identity, face.status) == (vips[0], "unverified")
    again = serve(annotator_client, queue, 2)
    assert [i["id"] for i in again] == [i["id"] for i in items]
    assert decide(annotator_client, *[{"item": i["id"], "action": "confirm"} for i in again]).status_code == 201


def test_annotators_cannot_undo_someone_elses_page(annotator_client, other_annotator_client, queue):
    item = serve(annotator_client, queue, 1)[0]
    operation = decide(annotator_client, {"item": item["id"], "action": "confirm"}).data["operation"]

    response = other_annotator_client.post(f"/api/v1/review/operations/{operation}/undo/")

    assert response.status_code == 403


def test_a_stale_decision_is_refused_with_409_and_nothing_of_the_page_is_saved(annotator_client, queue, vips):
    items = serve(annotator_client, queue, 2)
    changed = Face.objects.get(pk=items[1]["face"]["id"])
    face_relabel(face=changed, identity=vips[1])  # someone else relabels it meanwhile

    response = decide(
        annotator_client, {"item": items[0]["id"], "action": "confirm"}, {"item": items[1]["id"], "action": "confirm"}
    )

    assert response.status_code == 409 and response.data["code"] == "stale"
    assert f"face {changed.pk} (item {items[1]['id']})" in response.data["detail"]
    assert response.data["stale"] == [{"item": items[1]["id"], "face": changed.pk, "version_seen": 0, "version_now": 1}]
    assert LabelEvent.objects.count() == 1 and not Decision.objects.exists()


def test_the_face_version_the_client_sends_is_checked_too(annotator_client, queue):
    item = serve(annotator_client, queue, 1)[0]

    response = decide(annotator_client, {"item": item["id"], "action": "confirm", "version": 7})

    assert response.status_code == 409


def test_deciding_an_item_leased_to_someone_else_is_refused_with_409(annotator_client, other_annotator_client, queue):
    item = serve(annotator_client, queue, 1)[0]

    response = decide(other_annotator_client, {"item": item["id"], "action": "confirm", "version": 0})

    assert response.status_code == 409 and "bob-annotator" in response.data["detail"]


def test_an_item_decided_already_is_refused_with_409(annotator_client, queue):
    item = serve(annotator_client, queue, 1)[0]
    decide(annotator_client, {"item": item["id"], "action": "confirm"})

    response = decide(annotator_client, {"item": item["id"], "action": "exclude"})

    assert response.status_code == 409 and "already decided" in response.data["detail"]


def test_deciding_a_face_resolves_its_items_in_other_queues(annotator_client, queue):
    item = serve(annotator_client, queue, 1)[0]
    other_queue = Queue.objects.create(kind=Queue.Kind.NON_FACES, title="non-faces")
    elsewhere = Item.objects.create(queue=other_queue, face_id=item["face"]["id"], score=0.9)

    decide(annotator_client, {"item": item["id"], "action": "confirm"})

    assert Item.objects.get(pk=elsewhere.pk).state == "obsolete"


def test_relabel_needs_an_identity(annotator_client, queue):
    item = serve(annotator_client, queue, 1)[0]

    response = decide(annotator_client, {"item": item["id"], "action": "relabel"})

    assert response.status_code == 400 and "needs the identity" in response.data["detail"]


def test_accepting_a_suggestion_labels_the_face_as_the_suggested_vip(annotator_client, vips):
    queue = Queue.objects.create(kind=Queue.Kind.LOW_RECALL, title="needs data")
    face = FaceFactory(identity=None)
    item = Item.objects.create(queue=queue, face=face, identity=vips[1], score=0.8)
    rejected_face = FaceFactory(identity=None)
    rejected = Item.objects.create(queue=queue, face=rejected_face, identity=vips[1], score=0.7)
    serve(annotator_client, queue, 2)

    decide(annotator_client, {"item": item.pk, "action": "accept"}, {"item": rejected.pk, "action": "reject"})

    face.refresh_from_db()
    rejected_face.refresh_from_db()
    assert (face.identity, face.status) == (vips[1], "verified")
    assert (rejected_face.identity, rejected_face.status) == (None, "unverified")
    assert Decision.objects.get(item=rejected).identity == vips[1]


def _queries_to_decide(client, n: int) -> int:
    """Queries to decide a page of ``n`` items whose faces each belong to another person."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title=f"{n} people")
    people = [IdentityFactory(role="vip") for _ in range(n)]
    for k, person in enumerate(people):
        Item.objects.create(queue=queue, face=FaceFactory(identity=person), identity=person, score=1.0 - k / 100)
    items = serve(client, queue, n)
    decisions = [
        {"item": item["id"], "action": "confirm" if k % 2 else "relabel", "identity": people[-1 - k].pk}
        for k, item in enumerate(items)
    ]
    with CaptureQueriesContext(connection) as queries:
        response = decide(client, *decisions)
    assert response.status_code == 201, response.data
    assert LabelEvent.objects.filter(face_id__in=[item["face"]["id"] for item in items]).count() == n
    return len(queries.captured_queries)


def test_a_page_of_decisions_takes_as_many_queries_for_forty_faces_as_for_two(annotator_client):
    assert _queries_to_decide(annotator_client, 40) == _queries_to_decide(annotator_client, 2)
