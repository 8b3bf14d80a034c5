"""Gold faces (honeypots): settled faces mixed into review pages, scored instead of applied."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import face_relabel
from webapp.quality.gold import gold_decision_correct, gold_faces_promote
from webapp.quality.models import GoldFace, GoldItem
from webapp.review.models import Decision, Item, Queue

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vips(db):
    return [IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")]


def make_queue(vips, n=4, title="errors"):
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title=title)
    for k in range(n):
        Item.objects.create(
            queue=queue,
            face=FaceFactory(identity=vips[k % 2]),
            identity=vips[k % 2],
            score=1.0 - k / 10,
            payload={"reason": "likely wrong", "suggestions": []},
        )
    return queue


def make_gold(identity, status=Face.Status.VERIFIED):
    face = FaceFactory(identity=identity, status=status)
    return GoldFace.objects.create(
        face=face,
        identity=identity,
        status=status,
        face_version=face.version,
        source=GoldFace.Source.ADMIN,
        since=timezone.now(),
    )


def serve(client, queue, limit=4):
    response = client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": limit}, format="json")
    assert response.status_code == 200, response.data
    return response.data


def decide(client, *decisions):
    return client.post("/api/v1/review/decisions/", {"decisions": list(decisions)}, format="json")


def test_no_gold_is_mixed_in_at_rate_zero(settings, annotator_client, vips):
    settings.FACECURATOR_GOLD_RATE = 0
    make_gold(vips[0])
    page = serve(annotator_client, make_queue(vips))
    assert not GoldItem.objects.exists() and len(page) == 4


def test_gold_items_look_like_the_other_items_of_the_page(settings, annotator_client, vips):
    settings.FACECURATOR_GOLD_RATE = 0.5
    for _ in range(4):
        make_gold(vips[0])
    queue = make_queue(vips, n=8)
    page = serve(annotator_client, queue, limit=8)

    gold_ids = set(GoldItem.objects.values_list("item_id", flat=True))
    assert gold_ids and len(page) == 8
    ordinary = next(item for item in page if item["id"] not in gold_ids)
    for item in page:
        assert set(item) == set(ordinary) and set(item["face"]) == set(ordinary["face"])
        assert item["queue"] == queue.pk and item["kind"] == ordinary["kind"]
        assert item["face"]["status"] == "unverified"  # shown like the faces it sits between
        assert "gold" not in str(item).lower()
    assert [item["score"] for item in page] == sorted((item["score"] for item in page), reverse=True)


def test_a_decision_on_a_gold_face_changes_no_label(settings, annotator_client, vips):
    settings.FACECURATOR_GOLD_RATE = 1.0
    gold = make_gold(vips[0])
    item = serve(annotator_client, make_queue(vips, n=1), limit=1)[0]
    assert item["face"]["id"] == gold.face_id

    response = decide(annotator_client, {"item": item["id"], "action": "relabel", "identity": vips[1].pk})

    assert response.status_code == 201
    face = Face.objects.get(pk=gold.face_id)
    assert (face.identity, face.status, face.version) == (vips[0], "verified", 0)
    assert not LabelEvent.objects.filter(face=face).exists()
    assert Decision.objects.get(item_id=item["id"]).action == "relabel"


def test_a_gold_face_is_not_shown_twice_to_one_annotator_within_the_window(settings, annotator_client, vips):
    settings.FACECURATOR_GOLD_RATE = 1.0
    make_gold(vips[0])
    first = serve(annotator_client, make_queue(vips, n=1), limit=1)
    second = serve(annotator_client, make_queue(vips, n=1, title="other"), limit=1)

    assert GoldItem.objects.count() == 1
    assert first[0]["face"]["id"] != second[0]["face"]["id"]


def test_a_gold_face_comes_back_after_the_window(settings, annotator_client, vips):
    settings.FACECURATOR_GOLD_RATE = 1.0
    make_gold(vips[0])
    serve(annotator_client, make_queue(vips, n=1), limit=1)
    GoldItem.objects.update(created_at=timezone.now() - timedelta(days=8))

    serve(annotator_client, make_queue(vips, n=1, title="other"), limit=1)

    assert GoldItem.objects.count() == 2


def test_a_gold_face_is_not_served_to_another_annotator_when_its_lease_expires(
    settings, annotator_client, other_annotator_client, vips
):
    settings.FACECURATOR_GOLD_RATE = 1.0
    make_gold(vips[0])
    queue = make_queue(vips, n=2)
    serve(annotator_client, queue, limit=1)
    Item.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    settings.FACECURATOR_GOLD_RATE = 0

    page = serve(other_annotator_client, queue, limit=5)

    assert GoldItem.objects.count() == 1 and GoldItem.objects.get().item_id not in {i["id"] for i in page}


def test_a_gold_face_whose_label_changed_is_no_longer_served(settings, annotator_client, admin_user, vips):
    settings.FACECURATOR_GOLD_RATE = 1.0
    gold = make_gold(vips[0])
    face_relabel(face=gold.face, user=admin_user, identity=vips[1])

    serve(annotator_client, make_queue(vips, n=1), limit=1)

    assert not GoldItem.objects.exists()


def test_two_annotators_agreeing_make_a_face_gold(annotator_client, other_annotator_client, vips):
    queue = make_queue(vips, n=1)
    item = serve(annotator_client, queue, limit=1)[0]
    decide(annotator_client, {"item": item["id"], "action": "confirm"})
    assert not GoldFace.objects.exists()
    second = Queue.objects.create(kind=Queue.Kind.SENT, title="again")
    again = Item.objects.create(queue=second, face_id=item["face"]["id"], identity=vips[0], score=1)
    serve(other_annotator_client, second, limit=1)

    decide(other_annotator_client, {"item": again.pk, "action": "confirm"})

    gold = GoldFace.objects.get()
    assert (gold.face_id, gold.identity, gold.status, gold.source) == (
        item["face"]["id"],
        vips[0],
        "verified",
        "agreement",
    )


def test_a_label_verified_by_an_admin_makes_a_face_gold(admin_user, vips):
    face = FaceFactory(identity=vips[0])
    face_relabel(face=face, user=admin_user, identity=vips[1], status="verified")

    gold_faces_promote(face_ids=[face.pk])

    gold = GoldFace.objects.get()
    assert (gold.identity, gold.source) == (vips[1], "admin")


def test_an_annotator_alone_does_not_make_a_face_gold(annotator, vips):
    face = FaceFactory(identity=vips[0])
    face_relabel(face=face, user=annotator, identity=vips[1], status="verified")

    assert gold_faces_promote(face_ids=[face.pk]) == []


@pytest.mark.parametrize(
    ("action", "identity", "shown", "correct"),
    [
        ("confirm", None, "answer", True),
        ("confirm", None, "decoy", False),
        ("reject", None, "decoy", True),
        ("relabel", "answer", "decoy", True),
        ("relabel", "decoy", "answer", False),
        ("unknown", None, "answer", False),
        ("skip", None, "answer", None),
    ],
)
def test_decisions_are_scored_against_the_known_answer(action, identity, shown, correct):
    ids = {"answer": 1, "decoy": 2, None: None}
    assert (
        gold_decision_correct(
            action=action,
            identity_id=ids[identity],
            shown_identity_id=ids[shown],
            gold_identity_id=1,
            gold_status="verified",
        )
        is correct
    )


def test_only_not_a_face_is_right_on_a_gold_non_face():
    assert gold_decision_correct(
        action="not_a_face", identity_id=None, shown_identity_id=1, gold_identity_id=1, gold_status="not_a_face"
    )
    assert not gold_decision_correct(
        action="confirm", identity_id=None, shown_identity_id=1, gold_identity_id=1, gold_status="not_a_face"
    )
