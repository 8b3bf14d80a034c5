"""An admin accepts or discards all of one annotator's held decisions at once (optionally those made in a
time range), in one operation that leaves a label event per change and is undone like a page of
decisions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import face_relabel
from webapp.quality.gold import gold_faces_promote
from webapp.quality.models import GoldFace, SecondOpinion
from webapp.review.models import Decision, Item, Queue

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def relabels_between_vips_wait(settings):
    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]


@pytest.fixture
def vips(db):
    return [IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")]


def held_relabels(client, vips, n):
    """``n`` faces of Ada relabelled as Grace by the client's annotator: all held."""
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    for k in range(n):
        Item.objects.create(
            queue=queue, face=FaceFactory(identity=vips[0]), identity=vips[0], score=1 - k / 100, payload={}
        )
    page = client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": n}, format="json").data
    response = client.post(
        "/api/v1/review/decisions/",
        {"decisions": [{"item": i["id"], "action": "relabel", "identity": vips[1].pk} for i in page]},
        format="json",
    )
    assert response.status_code == 201, response.data
    return [Face.objects.get(pk=i["face"]["id"]) for i in page]


def settle(client, annotator, what, **body):
    return client.post(f"/api/v1/annotators/{annotator.pk}/held/{what}/", body, format="json")


def labels(faces):
    return [(f.identity_id, f.status) for f in Face.objects.filter(pk__in=[f.pk for f in faces]).order_by("pk")]


def test_accept_applies_every_held_decision_as_a_label_event_by_the_admin(
    admin_user, admin_client_api, annotator, annotator_client, vips
):
    faces = held_relabels(annotator_client, vips, 3)

    response = settle(admin_client_api, annotator, "accept")

    assert response.status_code == 200, response.data
    assert (response.data["settled"], response.data["label_events"], response.data["changed_faces"]) == (3, 3, [])
    assert labels(faces) == [(vips[1].pk, "verified")] * 3
    events = LabelEvent.objects.filter(operation=response.data["operation"])
    assert {(e.user, e.from_identity_id, e.to_identity_id) for e in events} == {(admin_user, vips[0].pk, vips[1].pk)}
    assert set(SecondOpinion.objects.values_list("state", flat=True)) == {"accepted"}


def test_accept_leaves_other_annotators_held_decisions_waiting(
    admin_client_api, annotator, annotator_client, other_annotator_client, vips
):
    held_relabels(annotator_client, vips, 1)
    others = held_relabels(other_annotator_client, vips, 2)

    settle(admin_client_api, annotator, "accept")

    assert labels(others) == [(vips[0].pk, "unverified")] * 2
    assert SecondOpinion.objects.filter(state="pending").count() == 2


def test_only_held_decisions_made_in_the_time_range_are_settled(admin_client_api, annotator, annotator_client, vips):
    old, new = held_relabels(annotator_client, vips, 2)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Decision.objects.filter(face=old).update(created_at=an_hour_ago - timedelta(hours=1))

    response = settle(admin_client_api, annotator, "accept", since=an_hour_ago.isoformat())

    assert response.data["settled"] == 1
    assert labels([old, new]) == [(vips[0].pk, "unverified"), (vips[1].pk, "verified")]


def test_discard_changes_no_label_and_opens_the_items_again(admin_client_api, annotator, annotator_client, vips):
    faces = held_relabels(annotator_client, vips, 2)

    response = settle(admin_client_api, annotator, "discard")

    assert (response.data["settled"], response.data["label_events"], response.data["reopened_items"]) == (2, 0, 2)
    assert labels(faces) == [(vips[0].pk, "unverified")] * 2
    assert Item.objects.filter(queue__title="errors", state="open").count() == 2
    assert not Item.objects.filter(queue__payload__second_opinion=True, state="open").exists()
    assert set(SecondOpinion.objects.values_list("state", flat=True)) == {"discarded"}


def test_undoing_a_bulk_accept_restores_the_labels_and_the_decisions_wait_again(
    admin_client_api, annotator, annotator_client, vips
):
    faces = held_relabels(annotator_client, vips, 2)
    operation = settle(admin_client_api, annotator, "accept").data["operation"]

    response = admin_client_api.post(f"/api/v1/review/operations/{operation}/undo/")

    assert response.status_code == 200, response.data
    assert response.data["undone_label_events"] == 2
    assert labels(faces) == [(vips[0].pk, "unverified")] * 2
    assert set(SecondOpinion.objects.values_list("state", flat=True)) == {"pending"}
    assert Item.objects.filter(queue__payload__second_opinion=True, state="open").count() == 2


def test_undoing_a_bulk_discard_makes_the_decisions_wait_again(admin_client_api, annotator, annotator_client, vips):
    held_relabels(annotator_client, vips, 2)
    operation = settle(admin_client_api, annotator, "discard").data["operation"]

    admin_client_api.post(f"/api/v1/review/operations/{operation}/undo/")

    assert set(SecondOpinion.objects.values_list("state", flat=True)) == {"pending"}
    assert not Decision.objects.filter(user=annotator, undone=True).exists()
    assert not Item.objects.filter(queue__title="errors", state="open").exists()


def test_a_face_relabelled_since_by_someone_else_is_left_waiting_and_listed(
    admin_user, admin_client_api, annotator, annotator_client, vips
):
    changed, other = held_relabels(annotator_client, vips, 2)
    face_relabel(face=changed, user=admin_user, status="excluded")

    response = settle(admin_client_api, annotator, "accept")

    assert (response.data["settled"], response.data["changed_faces"]) == (1, [changed.pk])
    assert SecondOpinion.objects.get(face=changed).state == "pending"


def test_nothing_waiting_is_refused(admin_client_api, annotator):
    response = settle(admin_client_api, annotator, "accept")

    assert response.status_code == 400 and "No decision" in response.data["detail"]


def test_annotators_may_not_settle_held_decisions(annotator, annotator_client, other_annotator_client, vips):
    held_relabels(other_annotator_client, vips, 1)

    assert settle(annotator_client, annotator, "accept").status_code == 403


def test_a_label_accepted_in_bulk_never_makes_the_face_gold(admin_client_api, annotator, annotator_client, vips):
    (face,) = held_relabels(annotator_client, vips, 1)
    settle(admin_client_api, annotator, "accept")

    gold_faces_promote(face_ids=[face.pk])

    assert not GoldFace.objects.filter(face=face).exists()
