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
    Item.objects.create(queue=queue, face=FaceFactory(identity=vips[0]), identity=vips[0], score=1.0,
                        payload={"reason": "likely wrong", "suggestions": []})
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


def test_the_second_opinion_is_served_blind_with_the_current_label(annotator_client, other_annotator_client, queue, vips):
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


def test_a_disagreement_applies_nothing_and_goes_to_the_admins(annotator_client, other_annotator_client,
                                                               admin_client_api, queue, vips):
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
