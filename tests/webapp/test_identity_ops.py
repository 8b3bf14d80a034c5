"""Identity merge and split: one transaction each, recorded, undoable, admin only, history untouched."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from webapp.core.models import Job
from webapp.faces.models import Face, LabelEvent
from webapp.identities import selectors
from webapp.identities.models import Identity, IdentityOperation, IdentitySuggestion

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


def labels(faces) -> dict[int, tuple[int | None, str]]:
    """Every face's current (identity, status), read fresh from the database."""
    return dict(
        (pk, (identity, status))
        for pk, identity, status in Face.objects.filter(pk__in=[f.pk for f in faces]).values_list(
            "pk", "identity_id", "status"
        )
    )


def identity_state(*identities) -> list[tuple]:
    rows = Identity.objects.filter(pk__in=[i.pk for i in identities]).order_by("pk")
    return [(i.pk, i.name, list(i.aliases), i.role, i.popularity_rank, i.chunk, i.merged_into_id) for i in rows]


@pytest.fixture
def pair():
    """A (3 faces, mixed statuses, an alias, a VIP of chunk 2) and B (2 faces, a candidate)."""
    a = IdentityFactory(name="Tom Hanks (LFW)", aliases=["Thomas Hanks"], role="vip", chunk=2, popularity_rank=7)
    b = IdentityFactory(name="Tom Hanks", aliases=["tom hanks (lfw)"], role="candidate", popularity_rank=30)
    faces_a = [FaceFactory(identity=a, status=status) for status in ("verified", "unverified", "excluded")]
    faces_b = [FaceFactory(identity=b, status="verified") for _ in range(2)]
    return a, b, faces_a, faces_b


# --- merge --------------------------------------------------------------------------------------
def test_merge_moves_every_face_with_one_label_event_each_under_one_operation(admin_client_api, admin_user, pair):
    a, b, faces_a, faces_b = pair
    response = admin_client_api.post(f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk, "reason": "same actor"})
    assert response.status_code == 201, response.data
    record = IdentityOperation.objects.get()
    assert response.data["id"] == record.pk and response.data["kind"] == "merge"
    assert response.data["face_count"] == 3 and response.data["source"]["merged_into"] == b.pk
    events = LabelEvent.objects.filter(operation=record.operation)
    assert sorted(e.face_id for e in events) == sorted(f.pk for f in faces_a)
    assert all((e.from_identity_id, e.to_identity_id, e.user) == (a.pk, b.pk, admin_user) for e in events)
    assert all("same actor" in e.reason for e in events)
    # statuses are kept: the merged faces show the same person
    assert labels(faces_a) == {f.pk: (b.pk, f.status) for f in faces_a}
    assert labels(faces_b) == {f.pk: (b.pk, "verified") for f in faces_b}


def test_merge_makes_names_aliases_and_leaves_a_tombstone_that_redirects(admin_client_api, annotator_client, pair):
    a, b, *_ = pair
    admin_client_api.post(f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk})
    b.refresh_from_db()
    # A's name was already there in another case: not repeated; A's alias added
    assert b.aliases == ["tom hanks (lfw)", "Thomas Hanks"]
    # B inherits what made A count: VIP of A's chunk, A's better rank
    assert (b.role, b.chunk, b.popularity_rank) == ("vip", 2, 7)
    tombstone = annotator_client.get(f"/api/v1/identities/{a.pk}/")
    assert tombstone.status_code == 200
    assert tombstone.data["merged_into"] == b.pk and tombstone.data["merged_into_name"] == "Tom Hanks"
    assert tombstone.data["redirect_to"] == f"/api/v1/identities/{b.pk}/"
    listed = [row["id"] for row in annotator_client.get("/api/v1/identities/").data["results"]]
    assert a.pk not in listed and b.pk in listed
    assert [row["id"] for row in annotator_client.get("/api/v1/identities/?merged=true").data["results"]] == [a.pk]
    assert a.pk in [
        row["id"] for row in annotator_client.get("/api/v1/identities/?include_merged=true").data["results"]
    ]
    assert list(selectors.identities_active().order_by("pk")) == [b]
    assert selectors.identity_resolve(identity=Identity.objects.get(pk=a.pk)) == b


def test_merge_then_undo_restores_every_face_label_and_both_identities(admin_client_api, pair):
    a, b, faces_a, faces_b = pair
    older = IdentityFactory(name="T. Hanks", merged_into=a)  # an earlier merge into A
    before_faces, before_ids = labels(faces_a + faces_b), identity_state(a, b, older)
    record = admin_client_api.post(f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk}).data
    older.refresh_from_db()
    assert older.merged_into_id == b.pk  # redirects stay one hop
    response = admin_client_api.post(f"/api/v1/identities/operations/{record['id']}/undo/")
    assert response.status_code == 200, response.data
    assert response.data["undone_at"] and response.data["undone_by"] == "alice-admin"
    assert labels(faces_a + faces_b) == before_faces
    assert identity_state(a, b, older) == before_ids
    # undo wrote new events pointing at the merge's: three each way, none rewritten
    assert LabelEvent.objects.filter(undoes__operation=record["operation"]).count() == 3
    assert LabelEvent.objects.count() == 6
    again = admin_client_api.post(f"/api/v1/identities/operations/{record['id']}/undo/")
    assert again.status_code == 409 and "already undone" in again.data["detail"]


def test_undo_keeps_a_field_somebody_edited_after_the_merge(admin_client_api, pair):
    a, b, *_ = pair
    record = admin_client_api.post(f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk}).data
    admin_client_api.patch(
        f"/api/v1/identities/{b.pk}/", {"popularity_rank": 3, "aliases": ["tom hanks (lfw)", "Thomas Hanks", "Hanks"]}
    )
    admin_client_api.post(f"/api/v1/identities/operations/{record['id']}/undo/")
    b.refresh_from_db()
    assert b.popularity_rank == 3 and b.aliases == ["tom hanks (lfw)", "Hanks"] and b.role == "candidate"


# --- split --------------------------------------------------------------------------------------
def test_split_into_a_new_identity_then_undo_restores_labels_and_retires_the_new_identity(admin_client_api, pair):
    a, _, faces_a, _ = pair
    chosen = [faces_a[0].pk, faces_a[2].pk]
    before = labels(faces_a)
    response = admin_client_api.post(
        f"/api/v1/identities/{a.pk}/split/", {"faces": chosen, "new_name": "Blythe Danner", "status": "unverified"}
    )
    assert response.status_code == 201, response.data
    new = Identity.objects.get(name="Blythe Danner")
    assert response.data["target"]["id"] == new.pk and response.data["target_created"] is True
    assert (new.role, new.merged_into_id) == ("candidate", None)
    assert labels(faces_a) == {
        faces_a[0].pk: (new.pk, "unverified"),
        faces_a[1].pk: before[faces_a[1].pk],
        faces_a[2].pk: (new.pk, "unverified"),
    }
    assert LabelEvent.objects.filter(operation=response.data["operation"]).count() == 2

    undo = admin_client_api.post(f"/api/v1/identities/operations/{response.data['id']}/undo/")
    assert undo.status_code == 200, undo.data
    assert labels(faces_a) == before
    new.refresh_from_db()
    # kept (the split's label events reference it) as an empty tombstone pointing back at A
    assert new.merged_into_id == a.pk and not new.faces.exists()
    assert new not in selectors.identities_active()

    # splitting again under the same name revives it
    again = admin_client_api.post(f"/api/v1/identities/{a.pk}/split/", {"faces": chosen, "new_name": "Blythe Danner"})
    assert again.status_code == 201 and again.data["target"]["id"] == new.pk
    new.refresh_from_db()
    assert new.merged_into_id is None and new.faces.count() == 2


def test_split_into_an_existing_identity_keeps_statuses_and_undo_puts_them_back(admin_client_api, pair):
    a, b, faces_a, faces_b = pair
    before = labels(faces_a + faces_b)
    response = admin_client_api.post(f"/api/v1/identities/{a.pk}/split/", {"faces": [faces_a[0].pk], "into": b.pk})
    assert response.status_code == 201 and response.data["target_created"] is False
    assert labels([faces_a[0]]) == {faces_a[0].pk: (b.pk, "verified")}
    admin_client_api.post(f"/api/v1/identities/operations/{response.data['id']}/undo/")
    assert labels(faces_a + faces_b) == before
    b.refresh_from_db()
    assert b.merged_into_id is None  # an existing identity is never retired by an undo


# --- undo refusals ------------------------------------------------------------------------------
def test_undo_is_refused_when_a_moved_face_changed_since(admin_client_api, annotator_client, pair):
    a, b, faces_a, _ = pair
    record = admin_client_api.post(f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk}).data
    annotator_client.post(f"/api/v1/faces/{faces_a[1].pk}/label/", {"status": "verified"})
    after = labels(faces_a)
    response = admin_client_api.post(f"/api/v1/identities/operations/{record['id']}/undo/")
    assert response.status_code == 409 and "changed after" in response.data["detail"]
    assert labels(faces_a) == after
    assert Identity.objects.get(pk=a.pk).merged_into_id == b.pk
    assert IdentityOperation.objects.get().undone_at is None


def test_undo_is_refused_while_a_later_operation_on_the_same_identity_stands(admin_client_api, pair):
    a, b, faces_a, faces_b = pair
    c = IdentityFactory(name="Someone else")
    first = admin_client_api.post(f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk}).data
    second = admin_client_api.post(f"/api/v1/identities/{b.pk}/split/", {"faces": [faces_b[0].pk], "into": c.pk}).data
    response = admin_client_api.post(f"/api/v1/identities/operations/{first['id']}/undo/")
    assert response.status_code == 409 and response.data["operation"] == second["id"]
    assert admin_client_api.post(f"/api/v1/identities/operations/{second['id']}/undo/").status_code == 200
    assert admin_client_api.post(f"/api/v1/identities/operations/{first['id']}/undo/").status_code == 200


# --- history ------------------------------------------------------------------------------------
def test_merge_and_undo_never_rewrite_earlier_history_or_run_snapshots(admin_client_api, annotator_client, pair):
    from webapp.training.models import RunSample, TrainingRun

    a, b, faces_a, _ = pair
    annotator_client.post(f"/api/v1/faces/{faces_a[1].pk}/label/", {"status": "verified"})
    earlier = list(LabelEvent.objects.values())
    run = TrainingRun.objects.create(
        job=Job.objects.create(kind="training.run"), vips=[{"index": 0, "identity": a.pk, "name": a.name, "chunk": 2}]
    )
    RunSample.objects.create(run=run, face=faces_a[0], identity_id=a.pk, label=0, split="train", version=0)
    snapshot = list(RunSample.objects.values()), TrainingRun.objects.values("vips").get()

    record = admin_client_api.post(f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk}).data
    admin_client_api.post(f"/api/v1/identities/operations/{record['id']}/undo/")

    assert list(LabelEvent.objects.filter(pk__in=[e["id"] for e in earlier]).values()) == earlier
    assert (list(RunSample.objects.values()), TrainingRun.objects.values("vips").get()) == snapshot
    assert Identity.objects.filter(pk=a.pk).exists()  # identities are never deleted


# --- permissions and bad input ------------------------------------------------------------------
def test_an_annotator_is_refused_every_operation(annotator_client, pair):
    a, b, faces_a, faces_b = pair
    operation = IdentityOperation.objects.create(
        kind="merge", source=a, target=b, operation="00000000-0000-0000-0000-000000000001"
    )
    suggestion = IdentitySuggestion.objects.create(kind="merge", identity=a, other=b, score=0.9)
    before = labels(faces_a + faces_b), identity_state(a, b)
    calls = [
        (f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk}),
        (f"/api/v1/identities/{a.pk}/split/", {"faces": [faces_a[0].pk], "new_name": "X"}),
        (f"/api/v1/identities/operations/{operation.pk}/undo/", {}),
        ("/api/v1/identities/suggestions/compute/", {}),
        (f"/api/v1/identities/suggestions/{suggestion.pk}/dismiss/", {}),
    ]
    for path, body in calls:
        response = annotator_client.post(path, body)
        assert response.status_code == 403, (path, response.status_code)
    assert (labels(faces_a + faces_b), identity_state(a, b)) == before
    assert not Job.objects.exists() and IdentitySuggestion.objects.get().status == "open"
    assert IdentityOperation.objects.get().undone_at is None and not Identity.objects.filter(name="X").exists()
    # reading is allowed
    assert annotator_client.get("/api/v1/identities/suggestions/").status_code == 200
    assert annotator_client.get("/api/v1/identities/operations/").status_code == 200


@pytest.mark.parametrize(
    "case, expected, words",
    [
        ("merge_into_itself", 400, "itself"),
        ("merge_into_tombstone", 409, "identity_merged"),
        ("merge_into_unknown", 404, "No identity with id 999999"),
        ("merge_unknown", 404, "No identity with id 999999"),
        ("merge_a_tombstone", 409, "identity_merged"),
        ("merge_without_into", 400, "into"),
        ("split_foreign_faces", 400, "are not faces of identity"),
        ("split_unknown_faces", 400, "No face with id 999999"),
        ("split_no_faces", 400, "faces"),
        ("split_into_and_new_name", 400, "not both"),
        ("split_into_itself", 400, "identity they are in"),
        ("split_into_tombstone", 409, "identity_merged"),
        ("split_into_unknown", 404, "No identity with id 999999"),
        ("split_name_taken", 409, "already exists"),
        ("split_a_tombstone", 409, "identity_merged"),
        ("split_duplicate_faces", 400, "twice"),
        ("undo_unknown", 404, "No identity operation"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(admin_client_api, pair, case, expected, words):
    a, b, faces_a, faces_b = pair
    tomb = IdentityFactory(name="Old name", merged_into=b)
    stranger = FaceFactory(identity=IdentityFactory(name="Stranger"))
    faces = faces_a + faces_b + [stranger]
    before = labels(faces), identity_state(a, b, tomb), Identity.objects.count(), LabelEvent.objects.count()
    merge, split = f"/api/v1/identities/{a.pk}/merge/", f"/api/v1/identities/{a.pk}/split/"
    request = {
        "merge_into_itself": (merge, {"into": a.pk}),
        "merge_into_tombstone": (merge, {"into": tomb.pk}),
        "merge_into_unknown": (merge, {"into": 999999}),
        "merge_unknown": ("/api/v1/identities/999999/merge/", {"into": b.pk}),
        "merge_a_tombstone": (f"/api/v1/identities/{tomb.pk}/merge/", {"into": a.pk}),
        "merge_without_into": (merge, {}),
        "split_foreign_faces": (split, {"faces": [faces_a[0].pk, stranger.pk], "new_name": "New"}),
        "split_unknown_faces": (split, {"faces": [faces_a[0].pk, 999999], "new_name": "New"}),
        "split_no_faces": (split, {"faces": [], "new_name": "New"}),
        "split_into_and_new_name": (split, {"faces": [faces_a[0].pk], "new_name": "New", "into": b.pk}),
        "split_into_itself": (split, {"faces": [faces_a[0].pk], "into": a.pk}),
        "split_into_tombstone": (split, {"faces": [faces_a[0].pk], "into": tomb.pk}),
        "split_into_unknown": (split, {"faces": [faces_a[0].pk], "into": 999999}),
        "split_name_taken": (split, {"faces": [faces_a[0].pk], "new_name": "Tom Hanks"}),
        "split_a_tombstone": (f"/api/v1/identities/{tomb.pk}/split/", {"faces": [faces_a[0].pk], "new_name": "New"}),
        "split_duplicate_faces": (split, {"faces": [faces_a[0].pk, faces_a[0].pk], "new_name": "New"}),
        "undo_unknown": ("/api/v1/identities/operations/999999/undo/", {}),
    }[case]
    response = admin_client_api.post(*request)
    assert response.status_code == expected, response.data
    assert words in str(response.data), response.data
    assert (labels(faces), identity_state(a, b, tomb), Identity.objects.count(), LabelEvent.objects.count()) == before
    assert not IdentityOperation.objects.exists()


# --- suggestions: accept and dismiss ------------------------------------------------------------
def test_accepting_a_suggestion_by_merging_marks_it_and_undo_reopens_it(admin_client_api, pair):
    a, b, *_ = pair
    suggestion = IdentitySuggestion.objects.create(kind="merge", identity=a, other=b, score=0.9)
    record = admin_client_api.post(
        f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk, "suggestion": suggestion.pk}
    ).data
    suggestion.refresh_from_db()
    assert suggestion.status == "accepted" and record["suggestion"] == suggestion.pk
    admin_client_api.post(f"/api/v1/identities/operations/{record['id']}/undo/")
    suggestion.refresh_from_db()
    assert suggestion.status == "open" and suggestion.decided_by is None


def test_a_dismissed_suggestion_leaves_the_open_list(admin_client_api, pair):
    a, b, *_ = pair
    suggestion = IdentitySuggestion.objects.create(kind="merge", identity=a, other=b, score=0.9)
    response = admin_client_api.post(f"/api/v1/identities/suggestions/{suggestion.pk}/dismiss/")
    assert response.status_code == 200 and response.data["status"] == "dismissed"
    assert admin_client_api.get("/api/v1/identities/suggestions/").data["count"] == 0
    assert admin_client_api.get("/api/v1/identities/suggestions/?status=dismissed").data["count"] == 1
    assert admin_client_api.post(f"/api/v1/identities/suggestions/{suggestion.pk}/dismiss/").status_code == 409


def test_listing_suggestions_takes_a_fixed_number_of_queries(admin_client_api, django_assert_num_queries):
    for i in range(6):
        a, b = IdentityFactory(), IdentityFactory()
        faces = [FaceFactory(identity=a), FaceFactory(identity=b)]
        IdentitySuggestion.objects.create(
            kind="merge",
            identity=a,
            other=b,
            score=i / 10,
            evidence={
                "sides": [
                    {"identity": a.pk, "faces": 1, "cohesion": 1.0, "examples": [faces[0].pk]},
                    {"identity": b.pk, "faces": 1, "cohesion": 1.0, "examples": [faces[1].pk]},
                ]
            },
        )
    with django_assert_num_queries(4):  # user and role check, count, page, example crops
        response = admin_client_api.get("/api/v1/identities/suggestions/?kind=merge")
    assert [row["score"] for row in response.data["results"]] == [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    assert all(side["examples"][0]["crop_url"] for row in response.data["results"] for side in row["sides"])


def test_the_operations_are_described_in_the_openapi_schema(admin_client_api):
    schema = admin_client_api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in [
        "/api/v1/identities/{id}/merge/",
        "/api/v1/identities/{id}/split/",
        "/api/v1/identities/operations/{operation_id}/undo/",
        "/api/v1/identities/suggestions/",
        "/api/v1/identities/suggestions/compute/",
        "/api/v1/identities/suggestions/{suggestion_id}/dismiss/",
    ]:
        assert path in paths, path
    merge = paths["/api/v1/identities/{id}/merge/"]["post"]
    assert merge["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/MergeRequestRequest")
    assert "201" in merge["responses"]
    assert "SplitRequestRequest" in str(paths["/api/v1/identities/{id}/split/"]["post"]["requestBody"])


# --- commands -----------------------------------------------------------------------------------
def test_the_commands_merge_split_and_undo(pair, admin_user, capsys):
    a, b, faces_a, faces_b = pair
    before = labels(faces_a + faces_b)
    call_command("merge_identities", str(a.pk), "Tom Hanks", "--user", "alice-admin", "--reason", "cli")
    merge = IdentityOperation.objects.get(kind="merge")
    assert merge.user == admin_user and Identity.objects.get(pk=a.pk).merged_into_id == b.pk
    call_command("split_identity", "Tom Hanks", "--faces", f"{faces_b[0].pk},{faces_b[1].pk}", "--new-name", "Other")
    split = IdentityOperation.objects.get(kind="split")
    assert split.target.name == "Other"
    with pytest.raises(CommandError, match="undo it first"):
        call_command("undo_identity_operation", str(merge.pk))
    call_command("undo_identity_operation", str(split.pk))
    call_command("undo_identity_operation", str(merge.pk))
    assert labels(faces_a + faces_b) == before
    out = capsys.readouterr().out
    assert f"merged identity {a.pk}" in out and "undid" in out
    with pytest.raises(CommandError, match="itself"):
        call_command("merge_identities", "Tom Hanks", "Tom Hanks")


def test_a_merged_identity_cannot_be_edited(admin_client_api):
    from .factories import IdentityFactory

    target = IdentityFactory(name="Keeper")
    merged = IdentityFactory(name="Old name", merged_into=target)
    response = admin_client_api.patch(f"/api/v1/identities/{merged.pk}/", {"notes": "x"}, format="json")
    assert response.status_code == 409 and response.data["code"] == "identity_merged"
    assert response.data["merged_into"] == target.pk and "was merged into" in response.data["detail"]
    merged.refresh_from_db()
    assert merged.notes == "" and not merged.events.exists()


def test_importing_under_a_merged_name_labels_the_person_it_was_merged_into(db):
    from webapp.identities.services import identities_get_or_create

    from .factories import IdentityFactory

    target = IdentityFactory(name="Tom Hanks")
    IdentityFactory(name="Tom_Hanks", merged_into=target)
    assert identities_get_or_create(names=["Tom_Hanks"])["Tom_Hanks"] == target


def test_merge_and_split_move_the_updated_at_of_the_faces_they_move(admin_client_api, pair):
    from datetime import UTC, datetime

    a, b, faces_a, faces_b = pair
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    Face.objects.update(updated_at=long_ago)
    admin_client_api.post(f"/api/v1/identities/{a.pk}/merge/", {"into": b.pk}, format="json")
    stamps = dict(Face.objects.values_list("pk", "updated_at"))
    assert all(stamps[f.pk] > long_ago for f in faces_a) and all(stamps[f.pk] == long_ago for f in faces_b)
    Face.objects.update(updated_at=long_ago)
    admin_client_api.post(
        f"/api/v1/identities/{b.pk}/split/", {"faces": [faces_b[0].pk], "new_name": "Other"}, format="json"
    )
    stamps = dict(Face.objects.values_list("pk", "updated_at"))
    assert stamps[faces_b[0].pk] > long_ago and stamps[faces_b[1].pk] == long_ago


# --- edits: recorded, locked against merges ------------------------------------------------------
def test_an_identity_edit_is_recorded_with_who_when_from_and_to(admin_client_api, admin_user, annotator_client):
    person = IdentityFactory(name="Jon Hamm", role="candidate", popularity_rank=40, notes="")
    response = admin_client_api.patch(
        f"/api/v1/identities/{person.pk}/", {"name": "Jonathan Hamm", "role": "vip", "notes": ""}, format="json"
    )
    assert response.status_code == 200 and response.data["name"] == "Jonathan Hamm"
    assert response.data["face_count"] == 0  # the answer is the identity as listed, counts included
    history = annotator_client.get(f"/api/v1/identities/{person.pk}/history/")
    assert history.status_code == 200 and history.data["count"] == 1
    (event,) = history.data["results"]
    assert event["user"] == admin_user.username and event["created_at"]
    assert event["changes"] == {
        "name": {"from": "Jon Hamm", "to": "Jonathan Hamm"},
        "role": {"from": "candidate", "to": "vip"},
    }  # notes did not change


def test_an_edit_that_changes_nothing_records_nothing(admin_client_api):
    person = IdentityFactory(name="Same")
    admin_client_api.patch(f"/api/v1/identities/{person.pk}/", {"name": " Same "}, format="json")
    assert not person.events.exists()


def test_history_of_an_unknown_identity_is_404(annotator_client):
    assert annotator_client.get("/api/v1/identities/999999/history/").status_code == 404


def test_an_edit_after_a_merge_finds_the_tombstone_and_is_refused_without_a_record(admin_user):
    from webapp.curation.services import identity_merge
    from webapp.identities.services import IdentityMerged, identity_update

    a, b = IdentityFactory(name="A"), IdentityFactory(name="B")
    identity_merge(source_id=a.pk, into_id=b.pk, user=admin_user)
    with pytest.raises(IdentityMerged):
        identity_update(identity_id=a.pk, user=admin_user, name="A renamed")  # a stale client still shows A
    assert Identity.objects.get(pk=a.pk).name == "A" and not a.events.exists()


@pytest.mark.django_db(transaction=True)
def test_an_edit_racing_a_merge_waits_for_it_and_then_fails_cleanly_on_the_tombstone(admin_user):
    import threading

    from django.db import connection, transaction

    from webapp.curation.services import identity_merge
    from webapp.identities.services import IdentityMerged, identity_update

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises whole-database writes)")
    a, b = IdentityFactory(name="A"), IdentityFactory(name="B")
    merged, release, outcome = threading.Event(), threading.Event(), {}

    def merge():
        try:
            with transaction.atomic():
                identity_merge(source_id=a.pk, into_id=b.pk, user=admin_user)
                merged.set()
                release.wait(10)  # holds A's row lock until the edit is waiting on it
        finally:
            connection.close()

    def edit():
        try:
            identity_update(identity_id=a.pk, user=admin_user, name="A renamed")
            outcome["edit"] = "applied"
        except IdentityMerged as exc:
            outcome["edit"] = exc.code
        finally:
            connection.close()

    merger = threading.Thread(target=merge)
    merger.start()
    assert merged.wait(10)
    editor = threading.Thread(target=edit)
    editor.start()
    editor.join(1.0)
    assert editor.is_alive(), "the edit waits for the merge's lock on the identity"
    release.set()
    merger.join(10)
    editor.join(10)
    assert outcome == {"edit": "identity_merged"}
    assert Identity.objects.get(pk=a.pk).name == "A" and not a.events.exists()
