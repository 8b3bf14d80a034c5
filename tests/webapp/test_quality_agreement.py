"""Agreement where it matters: a relabel between two VIPs waits for a second annotator."""

from __future__ import annotations

import pytest

from webapp.faces.models import Face
from webapp.quality.models import SecondOpinion
from webapp.review.models import Item, Queue

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def second_opinions_on(settings):
    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]


@pytest.fixture
def vips(db):
    return [IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")]


@pytest.fixture
def queue(vips):
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    Item.objects.create(
        queue=queue,
        face=FaceFactory(identity=vips[0]),
        identity=vips[0],
        score=1.0,
        payload={"reason": "likely wrong", "suggestions": []},
    )
    return queue


def serve(client, queue, limit=5):
    response = client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": limit}, format="json")
    assert response.status_code == 200, response.data
    return response.data


def decide(client, *decisions):
    response = client.post("/api/v1/review/decisions/", {"decisions": list(decisions)}, format="json")
    assert response.status_code == 201, response.data
    return response.data


def relabel_held(client, queue, vips):
    item = serve(client, queue)[0]
    decide(client, {"item": item["id"], "action": "relabel", "identity": vips[1].pk})
    return Face.objects.get(pk=item["face"]["id"])


def second_opinion_queue():
    return Queue.objects.get(payload__second_opinion=True)


def test_a_relabel_between_two_vips_waits_for_a_second_annotator(annotator_client, queue, vips):
    face = relabel_held(annotator_client, queue, vips)

    face.refresh_from_db()
    assert (face.identity, face.status) == (vips[0], "unverified")
    assert SecondOpinion.objects.get().state == "pending"


def test_the_first_annotator_is_not_served_the_second_opinion(annotator_client, queue, vips):
    relabel_held(annotator_client, queue, vips)

    assert serve(annotator_client, second_opinion_queue()) == []


def test_the_second_opinion_is_served_blind_with_the_current_label(
    annotator_client, other_annotator_client, queue, vips
):
    face = relabel_held(annotator_client, queue, vips)

    item = serve(other_annotator_client, second_opinion_queue())[0]

    assert item["face"]["id"] == face.pk and item["face"]["identity"] == vips[0].pk and item["identity"] == vips[0].pk


def test_a_second_annotator_agreeing_applies_the_relabel(annotator_client, other_annotator_client, queue, vips):
    face = relabel_held(annotator_client, queue, vips)
    item = serve(other_annotator_client, second_opinion_queue())[0]

    decide(other_annotator_client, {"item": item["id"], "action": "relabel", "identity": vips[1].pk})

    face.refresh_from_db()
    assert (face.identity, face.status) == (vips[1], "verified")
    assert SecondOpinion.objects.get().state == "agreed"


def test_a_disagreement_applies_nothing_and_goes_to_the_admins(
    annotator_client, other_annotator_client, admin_client_api, queue, vips
):
    face = relabel_held(annotator_client, queue, vips)
    item = serve(other_annotator_client, second_opinion_queue())[0]

    decide(other_annotator_client, {"item": item["id"], "action": "confirm"})

    face.refresh_from_db()
    assert (face.identity, face.status) == (vips[0], "unverified")
    opinion = SecondOpinion.objects.get()
    assert opinion.state == "disputed"
    disputes = Queue.objects.get(payload__admins_only=True)
    assert serve(other_annotator_client, disputes) == []
    assert [i["face"]["id"] for i in serve(admin_client_api, disputes)] == [face.pk]


def test_an_admins_relabel_applies_at_once(admin_client_api, queue, vips):
    face = relabel_held(admin_client_api, queue, vips)

    face.refresh_from_db()
    assert face.identity == vips[1] and not SecondOpinion.objects.exists()


def test_a_relabel_from_a_candidate_applies_at_once(annotator_client, vips):
    queue = Queue.objects.create(kind=Queue.Kind.LOOKALIKES, title="lookalikes")
    Item.objects.create(queue=queue, face=FaceFactory(identity=IdentityFactory(role="candidate")), score=1.0)

    face = relabel_held(annotator_client, queue, vips)

    face.refresh_from_db()
    assert face.identity == vips[1] and not SecondOpinion.objects.exists()


def test_second_opinions_can_be_turned_off(settings, annotator_client, queue, vips):
    settings.FACECURATOR_SECOND_OPINION = []

    face = relabel_held(annotator_client, queue, vips)

    face.refresh_from_db()
    assert face.identity == vips[1]


# --- Per action: which decisions wait is FACECURATOR_SECOND_OPINION -----------------------------


def decided_face(client, queue, decision):
    item = serve(client, queue)[0]
    decide(client, {"item": item["id"], **decision})
    return Face.objects.get(pk=item["face"]["id"])


def test_a_vip_face_relabelled_as_someone_not_a_vip_waits_when_relabel_vip_other_is_on(
    settings, annotator_client, queue, vips
):
    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip_other"]
    candidate = IdentityFactory(name="Someone", role="candidate")

    face = decided_face(annotator_client, queue, {"action": "relabel", "identity": candidate.pk})

    face.refresh_from_db()
    assert face.identity == vips[0] and SecondOpinion.objects.get().kind == "relabel_vip_other"


def test_a_vip_face_called_unknown_waits_when_unknown_vip_is_on(settings, annotator_client, queue, vips):
    settings.FACECURATOR_SECOND_OPINION = ["unknown_vip"]

    face = decided_face(annotator_client, queue, {"action": "unknown"})

    face.refresh_from_db()
    assert face.identity == vips[0] and SecondOpinion.objects.get().kind == "unknown_vip"


def test_a_vip_face_called_not_a_face_waits_when_not_a_face_vip_is_on(settings, annotator_client, queue, vips):
    settings.FACECURATOR_SECOND_OPINION = ["not_a_face_vip"]

    face = decided_face(annotator_client, queue, {"action": "not_a_face"})

    face.refresh_from_db()
    assert face.status == "unverified" and SecondOpinion.objects.get().kind == "not_a_face_vip"


def test_an_action_not_listed_applies_at_once(annotator_client, queue, vips):
    face = decided_face(annotator_client, queue, {"action": "unknown"})  # only relabel_vip is on

    face.refresh_from_db()
    assert face.identity is None and not SecondOpinion.objects.exists()


def likely_wrong_queue(vips, p_wrong):
    queue = Queue.objects.create(kind=Queue.Kind.LIKELY_WRONG, title="likely wrong")
    Item.objects.create(
        queue=queue,
        face=FaceFactory(identity=vips[0]),
        identity=vips[0],
        score=p_wrong,
        payload={"reason": "likely wrong", "p_wrong": p_wrong, "suggestions": []},
    )
    return queue


def test_a_confirm_of_a_label_the_run_puts_at_least_90_percent_likely_wrong_waits(settings, annotator_client, vips):
    settings.FACECURATOR_SECOND_OPINION = ["confirm_likely_wrong"]

    face = decided_face(annotator_client, likely_wrong_queue(vips, 0.95), {"action": "confirm"})

    face.refresh_from_db()
    assert face.status == "unverified"
    opinion = SecondOpinion.objects.get()
    assert (opinion.kind, opinion.proposed_identity, opinion.proposed_status) == (
        "confirm_likely_wrong",
        vips[0],
        "verified",
    )


def test_a_confirm_of_a_label_under_the_very_likely_wrong_threshold_applies_at_once(settings, annotator_client, vips):
    settings.FACECURATOR_SECOND_OPINION = ["confirm_likely_wrong"]
    settings.FACECURATOR_VERY_LIKELY_WRONG = 0.9

    face = decided_face(annotator_client, likely_wrong_queue(vips, 0.85), {"action": "confirm"})

    face.refresh_from_db()
    assert face.status == "verified" and not SecondOpinion.objects.exists()


def test_a_confirm_in_another_queue_waits_when_the_runs_likely_wrong_queue_scores_the_face(
    settings, annotator_client, vips
):
    settings.FACECURATOR_SECOND_OPINION = ["confirm_likely_wrong"]
    face = likely_wrong_queue(vips, 0.97).items.get().face
    elsewhere = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    Item.objects.create(queue=elsewhere, face=face, identity=vips[0], score=1.0, payload={"suggestions": []})

    decided_face(annotator_client, elsewhere, {"action": "confirm"})

    face.refresh_from_db()
    assert face.status == "unverified" and SecondOpinion.objects.get().kind == "confirm_likely_wrong"


def test_a_second_confirm_of_a_very_likely_wrong_label_applies_it(
    settings, annotator_client, other_annotator_client, vips
):
    settings.FACECURATOR_SECOND_OPINION = ["confirm_likely_wrong"]
    face = decided_face(annotator_client, likely_wrong_queue(vips, 0.95), {"action": "confirm"})
    item = serve(other_annotator_client, second_opinion_queue())[0]

    decide(other_annotator_client, {"item": item["id"], "action": "confirm"})

    face.refresh_from_db()
    assert face.status == "verified" and SecondOpinion.objects.get().state == "agreed"


def test_an_admin_answering_a_second_opinion_otherwise_settles_it_with_their_answer(
    annotator_client, admin_client_api, queue, vips
):
    face = relabel_held(annotator_client, queue, vips)
    item = serve(admin_client_api, second_opinion_queue())[0]

    decide(admin_client_api, {"item": item["id"], "action": "confirm"})

    face.refresh_from_db()
    assert (face.identity, face.status) == (vips[0], "verified")
    assert SecondOpinion.objects.get().state == "overruled"
    assert not Queue.objects.filter(payload__admins_only=True).exists()


def hinted_queue(vips, hint_identity, probability, p_wrong=0.95):
    """A run's "likely wrong" item on a face of Ada (``p_wrong``) whose scorer says it is ``hint_identity``."""
    queue = Queue.objects.create(kind=Queue.Kind.LIKELY_WRONG, title="likely wrong")
    hint = {"identity": hint_identity.pk if hint_identity else None, "name": "", "probability": probability}
    Item.objects.create(
        queue=queue,
        face=FaceFactory(identity=vips[0]),
        identity=vips[0],
        score=1.0,
        payload={"reason": "likely wrong", "p_wrong": p_wrong, "hint": hint, "suggestions": [hint]},
    )
    return queue


def test_a_relabel_to_the_identity_the_run_already_suggests_applies_at_once(annotator_client, vips):
    face = decided_face(
        annotator_client, hinted_queue(vips, vips[1], 0.95), {"action": "relabel", "identity": vips[1].pk}
    )

    face.refresh_from_db()
    assert (face.identity, face.status) == (vips[1], "verified") and not SecondOpinion.objects.exists()


def test_a_relabel_to_another_identity_than_the_runs_suggestion_waits(annotator_client, vips):
    other = IdentityFactory(name="Hedy", role="vip")

    face = decided_face(
        annotator_client, hinted_queue(vips, other, 0.95), {"action": "relabel", "identity": vips[1].pk}
    )

    face.refresh_from_db()
    assert face.identity == vips[0] and SecondOpinion.objects.get().kind == "relabel_vip"


def test_a_suggestion_under_the_model_agrees_threshold_is_no_second_opinion(settings, annotator_client, vips):
    settings.FACECURATOR_MODEL_AGREES = 0.5

    face = decided_face(
        annotator_client, hinted_queue(vips, vips[1], 0.45), {"action": "relabel", "identity": vips[1].pk}
    )

    face.refresh_from_db()
    assert face.identity == vips[0] and SecondOpinion.objects.get().kind == "relabel_vip"


def test_the_model_agrees_only_when_it_puts_the_old_label_at_very_likely_wrong(settings, annotator_client, vips):
    settings.FACECURATOR_VERY_LIKELY_WRONG = 0.9

    face = decided_face(
        annotator_client,
        hinted_queue(vips, vips[1], 0.8, p_wrong=0.85),
        {"action": "relabel", "identity": vips[1].pk},
    )

    face.refresh_from_db()
    assert face.identity == vips[0] and SecondOpinion.objects.get().kind == "relabel_vip"


def test_an_unknown_the_run_already_suggests_applies_at_once(settings, annotator_client, vips):
    settings.FACECURATOR_SECOND_OPINION = ["unknown_vip"]

    face = decided_face(annotator_client, hinted_queue(vips, None, 0.95), {"action": "unknown"})

    face.refresh_from_db()
    assert (face.identity, face.status) == (None, "verified") and not SecondOpinion.objects.exists()
