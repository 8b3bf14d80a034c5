"""`manage.py backup` / `restore`: a wiped instance comes back whole, and nothing half-restores."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from webapp.exports.models import DatasetVersion, ExportFile, VersionFace
from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import face_relabel
from webapp.identities.models import Identity

from .factories import FaceFactory, IdentityFactory
from .test_exports import build, create_version

pytestmark = pytest.mark.django_db


def _state() -> dict:
    """Everything the test expects back: rows as values, and each export file's bytes' checksum."""
    return {
        "faces": list(Face.objects.order_by("pk").values()),
        "events": list(LabelEvent.objects.order_by("pk").values()),
        "identities": list(Identity.objects.order_by("pk").values()),
        "versions": list(DatasetVersion.objects.order_by("pk").values()),
        "version_faces": list(VersionFace.objects.order_by("pk").values()),
        "files": list(ExportFile.objects.order_by("pk").values()),
    }


@pytest.fixture
def instance(admin_client_api, annotator):
    """A small instance: two VIPs' faces, label events, a frozen version built as CSV."""
    people = [IdentityFactory(name=name, role="vip", chunk=1) for name in ("Ada", "Grace")]
    faces = [FaceFactory(identity=people[i % 2], status="verified", group_key=f"crop:{i}") for i in range(6)]
    face_relabel(face=faces[0], user=annotator, identity=people[1], reason="lookalike")
    face_relabel(face=faces[1], user=annotator, status="excluded")
    version = create_version(admin_client_api)
    build(admin_client_api, version, "csv")
    assert ExportFile.objects.exists() and LabelEvent.objects.count() == 2
    return version


def _wipe(media_root: Path) -> None:
    if connection.vendor == "postgresql":  # the test's own transaction has foreign key checks pending
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(media_root)
    assert not Face.objects.exists() and not DatasetVersion.objects.exists()


def test_a_wiped_instance_is_restored_with_every_face_event_version_and_export_file(instance, media_in_tmp, tmp_path):
    before = _state()
    call_command("backup", str(tmp_path / "backup"))
    _wipe(media_in_tmp)

    call_command("restore", str(tmp_path / "backup"))

    assert _state() == before
    for file in ExportFile.objects.all():
        with default_storage.open(file.storage_name, "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == file.sha256
    for face in Face.objects.all():
        with default_storage.open(face.crop.name, "rb") as handle:
            assert handle.read(2) == b"\xff\xd8"  # the crop JPEG is back
    restored = FaceFactory()  # ids continue after the restored ones (sequences were reset)
    assert restored.pk > max(f["id"] for f in before["faces"])


def test_a_backup_lists_its_contents_and_every_media_file_with_its_checksum(instance, media_in_tmp, tmp_path):
    call_command("backup", str(tmp_path / "backup"))
    meta = json.loads((tmp_path / "backup" / "backup.json").read_text())
    assert meta["media"] == "local" and meta["rows"]["faces.face"] == 6 and meta["rows"]["faces.labelevent"] == 2
    export = ExportFile.objects.first()
    assert meta["media_files"][export.storage_name]["sha256"] == export.sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup", "media"]  # no temporary folder left


def test_restore_refuses_a_database_that_holds_data_and_changes_nothing(instance, media_in_tmp, tmp_path):
    call_command("backup", str(tmp_path / "backup"))
    FaceFactory()
    before = _state()
    with pytest.raises(CommandError, match="not empty.*--force"):
        call_command("restore", str(tmp_path / "backup"))
    assert _state() == before


def test_restore_with_force_replaces_what_is_there(instance, media_in_tmp, tmp_path):
    before = _state()
    call_command("backup", str(tmp_path / "backup"))
    FaceFactory(), IdentityFactory(name="Added later")
    (media_in_tmp / "stray.txt").write_text("x")
    call_command("restore", str(tmp_path / "backup"), "--force")
    assert _state() == before and not (media_in_tmp / "stray.txt").exists()


def test_a_damaged_backup_is_refused_before_anything_changes(instance, media_in_tmp, tmp_path):
    call_command("backup", str(tmp_path / "backup"))
    export = ExportFile.objects.first()
    (tmp_path / "backup" / "media" / export.storage_name).write_bytes(b"changed")
    before = _state()
    with pytest.raises(CommandError, match="does not match its checksum"):
        call_command("restore", str(tmp_path / "backup"), "--force")
    assert _state() == before


def test_a_backup_never_overwrites_a_folder(instance, tmp_path):
    (tmp_path / "backup").mkdir()
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", str(tmp_path / "backup"))


def test_with_media_on_s3_the_backup_holds_the_database_and_says_the_bucket_is_not_in_it(s3_media, tmp_path, capsys):
    FaceFactory()
    call_command("backup", str(tmp_path / "backup"))
    meta = json.loads((tmp_path / "backup" / "backup.json").read_text())
    assert meta["media"] == "s3" and meta["media_files"] == {} and not (tmp_path / "backup" / "media").exists()
    assert meta["rows"]["faces.face"] == 1 and "aws s3 sync" in capsys.readouterr().out
