"""Acting on a careless annotator: with FACECURATOR_HOLD_FLAGGED, a flagged annotator's decisions are
held (they change no label) until a second annotator or an admin reviews them; and a flagged
annotator never gives a second opinion (agreeing with a careless annotator is no check)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.faces.models import Face
from webapp.quality.models import GoldFace, GoldItem, SecondOpinion
from webapp.review.models import Item, Queue
from webapp.review.services import DecisionRequest, decisions_apply

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vips(db):
    return [IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")]


@pytest.fixture
def hold_flagged(settings):
    settings.FACECURATOR_HOLD_FLAGGED = True


def answer_gold_wrongly(user, vips, n=20):
    """``n`` gold faces of Ada shown as Grace, all confirmed by ``user``: 0 of n right, flagged (n is at
    least FACECURATOR_QUALITY_MIN_GOLD, 15)."""
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="gold")
    requests = []
    for k in range(n):
        face = FaceFactory(identity=vips[0], status=Face.Status.VERIFIED)
        gold = GoldFace.objects.create(
            face=face,
            identity=vips[0],
            status="verified",
            face_version=face.version,
            source="admin",
            since=timezone.now() - timedelta(minutes=1),
        )
        item = Item.objects.create(
            queue=queue, face=face, identity=vips[1], score=1 - k / 100, leased_to=user, served_version=face.version
        )
        GoldItem.objects.create(item=item, gold=gold, user=user, shown_identity=vips[1], shown_status="unverified")
        requests.append(DecisionRequest(item_id=item.pk, action="confirm"))
    decisions_apply(user=user, requests=requests)


@pytest.fixture
def face_to_review(vips):
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    face = FaceFactory(identity=vips[0])
    Item.objects.create(queue=queue, face=face, identity=vips[0], score=1.0, payload={"suggestions": []})
    return queue, face


def serve(client, queue):
    response = client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": 5}, format="json")
    assert response.status_code == 200, response.data
    return response.data


def decide(client, *decisions):
    response = client.post("/api/v1/review/decisions/", {"decisions": list(decisions)}, format="json")
    assert response.status_code == 201, response.data
    return response.data


def confirm_first(client, queue):
    item = serve(client, queue)[0]
    decide(client, {"item": item["id"], "action": "confirm"})


def test_a_flagged_annotators_decision_is_held_when_hold_flagged_is_on(
    hold_flagged, annotator, annotator_client, face_to_review, vips
):
    answer_gold_wrongly(annotator, vips)
    queue, face = face_to_review

    confirm_first(annotator_client, queue)

    face.refresh_from_db()
    assert face.status == "unverified"
    opinion = SecondOpinion.objects.get()
    assert (opinion.kind, opinion.state, opinion.first_user) == ("flagged_annotator", "pending", annotator)


def test_a_flagged_annotators_decision_applies_when_hold_flagged_is_off(
    annotator, annotator_client, face_to_review, vips
):
    answer_gold_wrongly(annotator, vips)
    queue, face = face_to_review

    confirm_first(annotator_client, queue)

    face.refresh_from_db()
    assert face.status == "verified" and not SecondOpinion.objects.exists()


def test_an_annotator_who_is_not_flagged_is_not_held(hold_flagged, annotator_client, face_to_review):
    queue, face = face_to_review

    confirm_first(annotator_client, queue)

    face.refresh_from_db()
    assert face.status == "verified" and not SecondOpinion.objects.exists()


def test_a_held_decision_counts_once_a_second_annotator_agrees(
    hold_flagged, annotator, annotator_client, other_annotator_client, face_to_review, vips
):
    answer_gold_wrongly(annotator, vips)
    queue, face = face_to_review
    confirm_first(annotator_client, queue)

    confirm_first(other_annotator_client, Queue.objects.get(payload__second_opinion=True))

    face.refresh_from_db()
    assert face.status == "verified" and SecondOpinion.objects.get().state == "agreed"


def test_an_admin_reviewing_a_held_decision_settles_it(
    hold_flagged, annotator, annotator_client, admin_client_api, face_to_review, vips
):
    answer_gold_wrongly(annotator, vips)
    queue, face = face_to_review
    confirm_first(annotator_client, queue)
    item = serve(admin_client_api, Queue.objects.get(payload__second_opinion=True))[0]

    decide(admin_client_api, {"item": item["id"], "action": "relabel", "identity": vips[1].pk})

    face.refresh_from_db()
    assert (face.identity, face.status) == (vips[1], "verified")
    assert SecondOpinion.objects.get().state == "overruled"


def test_the_team_report_counts_held_decisions_and_says_holding_is_on(
    hold_flagged, annotator, annotator_client, admin_client_api, face_to_review, vips
):
    answer_gold_wrongly(annotator, vips)
    queue, _ = face_to_review
    confirm_first(annotator_client, queue)

    report = admin_client_api.get("/api/v1/annotators/quality/").data

    row = next(r for r in report["annotators"] if r["user"] == annotator.pk)
    assert (row["flagged"], row["held_decisions"]) == (True, 1)
    assert report["hold_flagged"] is True
    assert report["second_opinions_queue"] == Queue.objects.get(payload__second_opinion=True).pk


@pytest.fixture
def relabel_waiting(settings, other_annotator_client, face_to_review, vips):
    """Another annotator relabelled a VIP face as another VIP: it waits for a second opinion."""
    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]
    item = serve(other_annotator_client, face_to_review[0])[0]
    decide(other_annotator_client, {"item": item["id"], "action": "relabel", "identity": vips[1].pk})
    return Queue.objects.get(payload__second_opinion=True).items.get()


def test_a_flagged_annotator_is_not_served_second_opinions(annotator, annotator_client, relabel_waiting, vips):
    answer_gold_wrongly(annotator, vips)

    assert serve(annotator_client, relabel_waiting.queue) == []


def test_a_flagged_annotators_answer_to_a_second_opinion_is_refused(annotator, annotator_client, relabel_waiting, vips):
    Item.objects.filter(pk=relabel_waiting.pk).update(  # served before the flag went up
        leased_to=annotator, served_version=relabel_waiting.face.version
    )
    answer_gold_wrongly(annotator, vips)

    response = annotator_client.post(
        "/api/v1/review/decisions/",
        {"decisions": [{"item": relabel_waiting.pk, "action": "relabel", "identity": vips[1].pk}]},
        format="json",
    )

    assert response.status_code == 409 and response.data["code"] == "flagged_second_opinion"
    assert SecondOpinion.objects.get().state == "pending"


def test_a_flagged_annotators_relabel_is_held_even_when_the_model_agrees(
    hold_flagged, settings, annotator, annotator_client, vips
):
    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]
    answer_gold_wrongly(annotator, vips)
    queue = Queue.objects.create(kind=Queue.Kind.LIKELY_WRONG, title="likely wrong")
    hint = {"identity": vips[1].pk, "name": vips[1].name, "probability": 0.99}
    face = FaceFactory(identity=vips[0])
    Item.objects.create(
        queue=queue, face=face, identity=vips[0], score=1.0, payload={"p_wrong": 0.99, "hint": hint, "suggestions": []}
    )

    item = serve(annotator_client, queue)[0]
    decide(annotator_client, {"item": item["id"], "action": "relabel", "identity": vips[1].pk})

    face.refresh_from_db()
    assert face.identity == vips[0] and SecondOpinion.objects.get().kind == "flagged_annotator"


def flagged_relabel_waiting(annotator, annotator_client, vips, p_wrong):
    """A flagged annotator relabelled a face of Ada as Grace, which the run puts at ``p_wrong``: it
    waits for a second opinion."""
    answer_gold_wrongly(annotator, vips)
    queue = Queue.objects.create(kind=Queue.Kind.LIKELY_WRONG, title="likely wrong")
    face = FaceFactory(identity=vips[0])
    Item.objects.create(queue=queue, face=face, identity=vips[0], score=1.0, payload={"p_wrong": p_wrong})
    item = serve(annotator_client, queue)[0]
    decide(annotator_client, {"item": item["id"], "action": "relabel", "identity": vips[1].pk})
    return Queue.objects.get(payload__second_opinion=True), face


@pytest.fixture
def relabels_wait(settings):
    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]
    settings.FACECURATOR_VERY_LIKELY_WRONG = 0.9


def test_a_second_opinion_the_run_backs_against_a_flagged_annotator_settles_it(
    settings, relabels_wait, annotator, annotator_client, other_annotator_client, vips
):
    settings.FACECURATOR_OVERRULE_FLAGGED = True
    queue, face = flagged_relabel_waiting(annotator, annotator_client, vips, p_wrong=0.05)

    confirm_first(other_annotator_client, queue)

    face.refresh_from_db()
    assert (face.identity, face.status) == (vips[0], "verified")
    assert SecondOpinion.objects.get().state == "overruled"
    assert not Queue.objects.filter(payload__admins_only=True).exists()


def test_a_second_opinion_the_run_does_not_back_against_a_flagged_annotator_goes_to_the_admins(
    settings, relabels_wait, annotator, annotator_client, other_annotator_client, vips
):
    settings.FACECURATOR_OVERRULE_FLAGGED = True
    queue, face = flagged_relabel_waiting(annotator, annotator_client, vips, p_wrong=0.4)

    confirm_first(other_annotator_client, queue)

    face.refresh_from_db()
    assert face.status == "unverified" and SecondOpinion.objects.get().state == "disputed"


def test_without_overrule_flagged_a_second_opinion_against_a_flagged_annotator_goes_to_the_admins(
    settings, relabels_wait, annotator, annotator_client, other_annotator_client, vips
):
    settings.FACECURATOR_OVERRULE_FLAGGED = False
    queue, face = flagged_relabel_waiting(annotator, annotator_client, vips, p_wrong=0.05)

    confirm_first(other_annotator_client, queue)

    face.refresh_from_db()
    assert face.status == "unverified" and SecondOpinion.objects.get().state == "disputed"
