"""Every label change is recorded (who, when, from, to) and can be undone."""

from datetime import UTC, datetime

import pytest

from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import face_relabel
from webapp.identities.models import Identity

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


def test_relabelling_a_face_records_who_changed_what(annotator, annotator_client):
    face = FaceFactory()
    before = face.identity
    target = IdentityFactory(name="Target")
    response = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"identity": target.pk, "reason": "lookalike"})
    event = LabelEvent.objects.get()
    assert (event.user, event.from_identity, event.to_identity, event.reason) == (
        annotator,
        before,
        target,
        "lookalike",
    )
    assert response.data["face"]["identity_name"] == "Target"
    assert response.data["face"]["version"] == 1


def test_marking_a_face_unknown_sets_no_identity(annotator_client):
    face = FaceFactory()
    annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"identity": None}, format="json")
    face.refresh_from_db()
    assert face.identity is None and LabelEvent.objects.get().to_identity is None


def test_undo_restores_the_previous_label_with_a_new_event(annotator_client):
    face = FaceFactory(status="unverified")
    original = face.identity
    change = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "not_a_face"})
    undo = annotator_client.post(f"/api/v1/label-events/{change.data['event']['id']}/undo/")
    face.refresh_from_db()
    assert undo.status_code == 200
    assert (face.identity, face.status) == (original, "unverified")
    assert LabelEvent.objects.count() == 2
    assert undo.data["undoes"] == change.data["event"]["id"]


def test_undoing_twice_is_refused(annotator_client):
    face = FaceFactory()
    change = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "verified"})
    event_id = change.data["event"]["id"]
    annotator_client.post(f"/api/v1/label-events/{event_id}/undo/")
    response = annotator_client.post(f"/api/v1/label-events/{event_id}/undo/")
    assert response.status_code == 409 and "already undone" in response.data["detail"]


def test_undo_after_a_later_change_is_refused_so_nothing_is_overwritten(annotator_client, other_annotator_client):
    face = FaceFactory()
    first = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "verified"})
    other_annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "excluded"})
    response = annotator_client.post(f"/api/v1/label-events/{first.data['event']['id']}/undo/")
    assert response.status_code == 409
    face.refresh_from_db()
    assert face.status == "excluded"


def test_annotators_cannot_undo_someone_elses_decision(annotator_client, other_annotator_client):
    face = FaceFactory()
    change = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "verified"})
    assert other_annotator_client.post(f"/api/v1/label-events/{change.data['event']['id']}/undo/").status_code == 403


def test_a_stale_decision_is_refused_with_409_and_changes_nothing(annotator_client):
    face = FaceFactory()
    annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "verified", "expected_version": 0})
    response = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "excluded", "expected_version": 0})
    assert response.status_code == 409
    assert "changed since" in response.data["detail"]
    face.refresh_from_db()
    assert face.status == "verified" and LabelEvent.objects.count() == 1


def test_a_decision_that_changes_nothing_writes_no_event(annotator_client):
    face = FaceFactory(status="verified")
    response = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "verified"})
    assert response.status_code == 200 and response.data["event"] is None
    assert not LabelEvent.objects.exists()


@pytest.mark.parametrize(
    "body, message",
    [({"identity": 999999}, "does not exist"), ({"status": "famous"}, "not a valid choice"), ({}, "Send an identity")],
)
def test_bad_label_requests_get_a_clear_400(annotator_client, body, message):
    face = FaceFactory()
    response = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", body, format="json")
    assert response.status_code == 400 and message in str(response.data)
    assert Face.objects.get(pk=face.pk).version == 0


def test_labelling_a_face_that_does_not_exist_is_404(annotator_client):
    assert annotator_client.post("/api/v1/faces/123456/label/", {"status": "verified"}).status_code == 404


def test_labelling_with_a_merged_identity_is_refused(annotator_client):
    target = IdentityFactory()
    merged = IdentityFactory(merged_into=target)
    face = FaceFactory()
    response = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"identity": merged.pk})
    assert response.status_code == 409 and response.data["code"] == "identity_merged"
    assert response.data["merged_into"] == target.pk and "was merged into" in response.data["detail"]


def test_undo_onto_an_identity_merged_since_is_refused_with_409_and_names_the_survivor(
    annotator_client, admin_client_api
):
    first, second, survivor = IdentityFactory(name="First"), IdentityFactory(name="Second"), IdentityFactory()
    face = FaceFactory(identity=first)
    change = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"identity": second.pk})
    merged = admin_client_api.post(f"/api/v1/identities/{first.pk}/merge/", {"into": survivor.pk}, format="json")
    assert merged.status_code == 201
    response = annotator_client.post(f"/api/v1/label-events/{change.data['event']['id']}/undo/")
    assert response.status_code == 409 and response.data["code"] == "identity_merged"
    assert response.data["merged_into"] == survivor.pk and response.data["identity"] == first.pk
    face.refresh_from_db()
    assert face.identity == second and LabelEvent.objects.filter(undoes__isnull=False).count() == 0


def test_a_batch_undo_restores_every_face_of_the_operation(annotator):
    from webapp.faces.services import LabelChange, faces_relabel, operation_undo

    faces = FaceFactory.create_batch(3, status="unverified")
    events = faces_relabel(changes=[LabelChange(f.pk, status="verified") for f in faces], user=annotator)
    operation_undo(operation=events[0].operation, user=annotator)
    assert set(Face.objects.values_list("status", flat=True)) == {"unverified"}


def test_the_audit_log_lists_without_a_query_per_event(annotator_client, django_assert_max_num_queries):
    for face in FaceFactory.create_batch(5):
        annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "verified"})
    with django_assert_max_num_queries(6):
        response = annotator_client.get("/api/v1/label-events/")
    assert response.data["count"] == 5


# --- updated_at follows every label change (bulk writes skip auto_now) ------------------------------
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _aged(*faces):
    Face.objects.filter(pk__in=[f.pk for f in faces]).update(updated_at=LONG_AGO)


def _updated_at(face) -> datetime:
    return Face.objects.values_list("updated_at", flat=True).get(pk=face.pk)


def test_a_relabel_moves_the_face_updated_at(annotator_client):
    face = FaceFactory()
    _aged(face)
    annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "verified"})
    assert _updated_at(face) > LONG_AGO


def test_an_undo_moves_the_face_updated_at(annotator_client):
    face = FaceFactory()
    change = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"status": "verified"})
    _aged(face)
    annotator_client.post(f"/api/v1/label-events/{change.data['event']['id']}/undo/")
    assert _updated_at(face) > LONG_AGO


def test_reassigning_splits_moves_updated_at_of_the_faces_that_moved_only():
    from webapp.faces.services import faces_reassign_splits

    faces = FaceFactory.create_batch(12)
    _aged(*faces)
    before = dict(Face.objects.values_list("pk", "split"))
    faces_reassign_splits(seed=12345, proportions=(0.34, 0.33, 0.33))
    after = dict(Face.objects.values_list("pk", "split"))
    moved = {pk for pk in after if after[pk] != before[pk]}
    assert moved, "the new seed moves some groups"
    for face in faces:
        assert (_updated_at(face) > LONG_AGO) == (face.pk in moved)


def test_label_events_list_their_face_crops_in_a_fixed_number_of_queries(
    annotator_client, annotator, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from webapp.faces.services import face_relabel

    face_relabel(face=FaceFactory(), status=Face.Status.VERIFIED, user=annotator)
    with CaptureQueriesContext(connection) as one:
        assert len(annotator_client.get("/api/v1/label-events/").data["results"]) == 1
    for face in FaceFactory.create_batch(4):
        face_relabel(face=face, status=Face.Status.VERIFIED, user=annotator)
    with django_assert_num_queries(len(one)):
        rows = annotator_client.get("/api/v1/label-events/").data["results"]
    assert len(rows) == 5 and all(row["face_crop_url"].startswith("/media/faces/") for row in rows)


def test_a_relabel_with_an_identity_loaded_before_it_was_merged_finds_the_tombstone(annotator, admin_user):
    from webapp.curation.services import identity_merge
    from webapp.identities.services import IdentityMerged

    target, survivor = IdentityFactory(name="Target"), IdentityFactory(name="Survivor")
    face = FaceFactory()
    seen_by_the_annotator = Identity.objects.get(pk=target.pk)  # loaded, then merged by an admin
    identity_merge(source_id=target.pk, into_id=survivor.pk, user=admin_user)
    with pytest.raises(IdentityMerged):
        face_relabel(face=face, user=annotator, identity=seen_by_the_annotator)
    assert Face.objects.get(pk=face.pk).identity_id != target.pk and not LabelEvent.objects.filter(face=face).exists()


def test_todays_decision_count_drops_when_a_decision_is_undone(annotator_client, annotator):
    from webapp.faces.services import face_relabel, label_event_undo

    first, second = FaceFactory.create_batch(2)
    face_relabel(face=first, status=Face.Status.VERIFIED, user=annotator)
    event = face_relabel(face=second, status=Face.Status.VERIFIED, user=annotator)
    assert annotator_client.get("/api/v1/me/").data["decisions_today"] == 2
    label_event_undo(event=event, user=annotator)
    assert annotator_client.get("/api/v1/me/").data["decisions_today"] == 1
