"""The media folder's disk full during an import: each file that did not fit is a clear per-file
error (``storage_full``), and nothing is half-written: no row without its file, no truncated file.

The full disk is a real one: MEDIA_ROOT is a tmpfs of 128 KiB mounted for the test, so the kernel
itself answers ENOSPC in the middle of a write. Mounting needs root (CAP_SYS_ADMIN); where it is
not allowed the tests are skipped and say so.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.faces.models import Face
from webapp.media.models import Photo

from .factories import IdentityFactory, jpeg_bytes

FULL = "the media storage is full (No space left on device)"


@pytest.fixture
def small_media_disk(settings, tmp_path):
    """MEDIA_ROOT on a 128 KiB tmpfs of its own."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0755", "fc-test-full", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    settings.MEDIA_ROOT = folder
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=False)


def files_on(disk: Path) -> dict[str, str]:
    """Every file on the disk, hidden ones included, with its SHA-256."""
    return {path.relative_to(disk).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in disk.rglob("*") if path.is_file()}


@pytest.mark.django_db
def test_photos_uploaded_onto_a_full_disk_are_refused_one_by_one_and_nothing_is_half_written(
        small_media_disk, admin_client_api):
    uploads = [SimpleUploadedFile(f"p{n}.jpg", jpeg_bytes(n, 300), content_type="image/jpeg") for n in range(8)]
    response = admin_client_api.post("/api/v1/photos/upload/", {"files": uploads}, format="multipart")

    outcomes = [(f["name"], f["status"], f.get("code", "")) for f in response.data["files"]]
    accepted = [name for name, status, _ in outcomes if status == "accepted"]
    refused = [f for f in response.data["files"] if f["status"] == "error"]
    assert response.status_code == 202 and 0 < len(accepted) < len(uploads), outcomes
    assert all(f["code"] == "storage_full" and FULL in f["error"] for f in refused), refused
    assert len(accepted) + len(refused) == len(uploads)
    photos = list(Photo.objects.order_by("pk"))
    assert [p.original_name for p in photos] == accepted
    # Each row's file is there and whole; no other file, not even a partial one, is left on the disk.
    assert files_on(small_media_disk) == {p.image.name: p.sha256 for p in photos}


@pytest.mark.django_db
def test_a_crop_import_onto_a_full_disk_reports_each_crop_and_writes_no_face(small_media_disk, tmp_path):
    from webapp.media.services import faces_import_folder

    ada = IdentityFactory(name="Ada Lovelace")
    folder = tmp_path / "crops" / ada.name
    folder.mkdir(parents=True)
    for n in range(24):  # 8 KB each: more than the disk holds
        (folder / f"{n:02d}.jpg").write_bytes(jpeg_bytes(100 + n, 112))

    result = faces_import_folder(root=folder.parent, cropped=True)

    assert result["imported"] == 0 and result["error"] == 24, result
    assert {(e["code"], FULL in e["error"]) for e in result["errors"]} == {("storage_full", True)}
    assert sorted(e["name"] for e in result["errors"]) == [f"{ada.name}/{n:02d}.jpg" for n in range(24)]
    assert not Face.objects.exists()
    assert files_on(small_media_disk) == {}  # the crops written before the disk filled were taken back
