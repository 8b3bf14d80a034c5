"""Rows the code assumes unique are unique in the database, duplicates written before are merged,
and an import racing another import of the same crop reports a duplicate instead of failing."""

from __future__ import annotations

import hashlib
import shutil
import threading
import uuid

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from webapp.core.integrity import crop_duplicates_merge, open_item_duplicates_merge
from webapp.exports.models import DatasetVersion, VersionFace
from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import face_relabel
from webapp.media import services
from webapp.media.services import folders
from webapp.review.models import Decision, Item, Queue

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db

SHA = "ab" * 32
CROP_INDEX = (
    "CREATE UNIQUE INDEX unique_imported_crop ON faces_face (content_sha256) "
    "WHERE source = 'crop' AND NOT content_sha256 = ''"
)


def _without_index(name: str) -> None:
    """Drop a unique index inside the test's transaction (rolled back after it), to write the
    duplicates an older database may hold."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {name}")


def _crop(**fields) -> Face:
    return FaceFactory(source="crop", content_sha256=SHA, group_key=f"crop:{SHA}", **fields)


# --- the constraints ------------------------------------------------------------------------------
def test_an_imported_crop_cannot_be_stored_twice():
    _crop()
    with pytest.raises(IntegrityError), transaction.atomic():
        _crop()


def test_faces_detected_in_photos_may_share_crop_bytes():
    FaceFactory(source="photo", content_sha256=SHA)
    FaceFactory(source="photo", content_sha256=SHA)  # two still frames, one crop: allowed
    FaceFactory(source="crop", content_sha256="")
    FaceFactory(source="crop", content_sha256="")
    assert Face.objects.count() == 4


def test_a_face_has_at_most_one_open_item_per_queue():
    face, queue = FaceFactory(), Queue.objects.create(kind="label_errors", title="q")
    Item.objects.create(queue=queue, face=face, score=1.0, state="decided")
    Item.objects.create(queue=queue, face=face, score=1.0)  # a decided one and an open one: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(queue=queue, face=face, score=0.5)


# --- merging what an older database holds -----------------------------------------------------------
def test_the_migration_merge_keeps_the_oldest_crop_and_moves_every_reference_to_it(annotator, capsys):
    _without_index("unique_imported_crop")
    person, other = IdentityFactory(name="Person"), IdentityFactory(name="Other")
    kept, copy = _crop(identity=person), _crop(identity=person)
    near = FaceFactory(duplicate_of=copy)
    face_relabel(face=copy, user=annotator, identity=other)
    queue = Queue.objects.create(kind="label_errors", title="q")
    item = Item.objects.create(queue=queue, face=copy, score=1.0)
    decision = Decision.objects.create(item=item, face=copy, action="confirm", operation=uuid.uuid4())
    version = DatasetVersion.objects.create(name="v1")
    frozen = VersionFace.objects.create(
        version=version,
        face_id=copy.pk,
        label="Other",
        label_key="Other",
        role="vip",
        status="verified",
        split="train",
        source="crop",
        crop="x.jpg",
    )
    both = DatasetVersion.objects.create(name="v2")
    for face in (kept, copy):
        VersionFace.objects.create(
            version=both,
            face_id=face.pk,
            label="P",
            label_key="P",
            role="vip",
            status="verified",
            split="train",
            source="crop",
            crop="x.jpg",
        )

    assert crop_duplicates_merge(apps=apps) == 1

    assert list(Face.objects.filter(content_sha256=SHA).values_list("pk", flat=True)) == [kept.pk]
    assert set(LabelEvent.objects.values_list("face_id", flat=True)) == {kept.pk}
    item.refresh_from_db(), decision.refresh_from_db(), frozen.refresh_from_db(), near.refresh_from_db()
    assert (item.face_id, decision.face_id, frozen.face_id, near.duplicate_of_id) == (kept.pk,) * 4
    assert sorted(both.faces.values_list("face_id", flat=True)) == sorted([kept.pk, copy.pk])  # kept had one already
    assert Face.objects.get(pk=kept.pk).identity == person  # the oldest's label is kept
    report = capsys.readouterr().out
    assert "1 imported crop(s) stored more than once" in report
    assert f"kept face {kept.pk}, deleted face(s) {copy.pk}" in report and "other labels" in report
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as at the end of the merge migration's transaction
        cursor.execute(CROP_INDEX)  # the constraint can now be added


def test_the_migration_merge_of_open_items_keeps_the_oldest_and_moves_decisions(capsys):
    _without_index("one_open_item_per_face_and_queue")
    face, queue = FaceFactory(), Queue.objects.create(kind="label_errors", title="q")
    first, second = (Item.objects.create(queue=queue, face=face, score=s) for s in (1.0, 0.5))
    elsewhere = Item.objects.create(queue=Queue.objects.create(kind="lookalikes", title="r"), face=face, score=1.0)
    decision = Decision.objects.create(item=second, face=face, action="skip", operation=uuid.uuid4())

    assert open_item_duplicates_merge(apps=apps) == 1

    assert set(Item.objects.values_list("pk", flat=True)) == {first.pk, elsewhere.pk}
    decision.refresh_from_db()
    assert decision.item_id == first.pk
    assert f"kept item {first.pk}, deleted item(s) {second.pk}" in capsys.readouterr().out


def test_the_merges_report_nothing_to_do_on_a_clean_database(capsys):
    _crop()
    assert crop_duplicates_merge(apps=apps) == 0 and open_item_duplicates_merge(apps=apps) == 0
    out = capsys.readouterr().out
    assert "0 imported crop(s)" in out and "0 face(s)" in out


# --- the import race ------------------------------------------------------------------------------
def _folder(shared_data, root, names):
    root, person = root / "import", "James Spader"  # beside the media folder, not above it
    (root / person).mkdir(parents=True)
    for name in names:
        shutil.copy(shared_data / "glint24" / person / name, root / person / name)
    return [root / person / name for name in names]


def test_a_crop_stored_by_another_import_after_the_check_is_reported_as_a_duplicate(shared_data, tmp_path, monkeypatch):
    first, second = _folder(shared_data, tmp_path, ["3854.jpg", "3855.jpg"])
    sha = hashlib.sha256(first.read_bytes()).hexdigest()
    real = services.face_pipeline()
    concurrent: list[Face] = []

    class AnotherImportMeanwhile:
        """The real pipeline; while it embeds (after the duplicate check, before the insert),
        another import stores the first crop."""

        def embed_crops(self, crops):
            vectors = real.embed_crops(crops)
            concurrent.append(FaceFactory(source="crop", content_sha256=sha, group_key=f"crop:{sha}"))
            return vectors

    monkeypatch.setattr(folders, "face_pipeline", lambda: AnotherImportMeanwhile())
    result = services.faces_import_folder(root=tmp_path / "import", cropped=True)

    assert (result["imported"], result["duplicate"], result["error"]) == (1, 1, 0)
    by_name = {f["name"]: f for f in result["outcomes"]}
    assert by_name["James Spader/3854.jpg"]["status"] == "duplicate"
    assert by_name["James Spader/3854.jpg"]["face"] == concurrent[0].pk
    assert by_name["James Spader/3855.jpg"]["status"] == "imported"
    assert Face.objects.filter(content_sha256=sha).count() == 1
    assert Face.objects.filter(source_path="James Spader/3855.jpg").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_crop_at_once_store_it_once(shared_data, tmp_path):
    """Real concurrency (PostgreSQL): an import inserts while another's insert of the same crop is
    not committed yet; it waits on the unique index, then reports the duplicate."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent transactions")
    (first,) = _folder(shared_data, tmp_path, ["3854.jpg"])
    sha = hashlib.sha256(first.read_bytes()).hexdigest()
    services.face_pipeline()  # load the models before the clock matters
    holding, release, result = threading.Event(), threading.Event(), {}

    def other_import():
        try:
            with transaction.atomic():
                FaceFactory(source="crop", content_sha256=sha, group_key=f"crop:{sha}")
                holding.set()
                release.wait(60)
        finally:
            connection.close()

    def this_import():
        try:
            result.update(services.faces_import_folder(root=tmp_path / "import", cropped=True))
        finally:
            connection.close()

    other = threading.Thread(target=other_import)
    other.start()
    assert holding.wait(10)
    importer = threading.Thread(target=this_import)
    importer.start()
    waiting = 0
    for _ in range(600):  # until the import waits on the other transaction's row
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            waiting = cursor.fetchone()[0]
        if waiting or not importer.is_alive():
            break
        importer.join(0.1)
    release.set()
    other.join(10), importer.join(60)
    assert waiting, "the import reached its insert while the other one was uncommitted"
    assert (result["imported"], result["duplicate"], result["error"]) == (0, 1, 0), result
    assert Face.objects.filter(content_sha256=sha).count() == 1
