"""The media folder's disk full during an import: each file that did not fit is a clear per-file
error (``storage_full``), and nothing is half-written: no row without its file, no truncated file.

The full disk is a real one: MEDIA_ROOT is a tmpfs of 128 KiB mounted for the test, so the kernel
itself answers ENOSPC in the middle of a write. Mounting needs root (CAP_SYS_ADMIN); where it is
not allowed those tests are skipped and say so. The local storage's own guarantees (never
overwrite, partial files only under hidden names, swept once old) are checked without a mount.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.media.models import Photo

from .factories import IdentityFactory, jpeg_bytes

FULL = "the media storage is full (No space left on device)"


@pytest.fixture
def small_media_disk(settings, tmp_path, request):
    """MEDIA_ROOT on a tmpfs of its own: 128 KiB, or the size a test gives with ``@pytest.mark.parametrize``
    (``indirect``)."""
    size = getattr(request, "param", "128k")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "fc-test-full", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    settings.MEDIA_ROOT = folder
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=False)


def fill_up(disk: Path) -> Path:
    """Take every free byte of the disk with one file; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def files_on(disk: Path) -> dict[str, str]:
    """Every file on the disk, hidden ones included, with its SHA-256."""
    return {
        path.relative_to(disk).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in disk.rglob("*")
        if path.is_file()
    }


@pytest.mark.django_db
def test_photos_uploaded_onto_a_full_disk_are_refused_one_by_one_and_nothing_is_half_written(
    small_media_disk, admin_client_api
):
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


@pytest.mark.parametrize("small_media_disk", ["512k"], indirect=True)
@pytest.mark.django_db
def test_a_photo_whose_faces_no_longer_fit_stays_pending_and_sending_it_again_detects_it(
    small_media_disk, admin_client_api, shared_data
):
    from webapp.media.tasks import process_photos

    photo_file = shared_data / "photos" / "kit_with_rose.jpg"  # two faces
    upload = lambda: SimpleUploadedFile(photo_file.name, photo_file.read_bytes())  # noqa: E731
    first = admin_client_api.post("/api/v1/photos/upload/", {"files": [upload()]}, format="multipart")
    assert first.status_code == 202
    filler = fill_up(small_media_disk)  # the disk fills up before detection writes the face crops

    process_photos.apply(args=[first.data["job"]])
    photo = Photo.objects.get()
    assert photo.status == "pending" and FULL in photo.error
    error = Job.objects.get(pk=first.data["job"]).result["errors"][0]
    assert (error["name"], error["code"]) == (photo_file.name, "storage_full")
    assert not Face.objects.exists()
    assert set(files_on(small_media_disk)) == {photo.image.name, "filler"}

    filler.unlink()  # space again: sending the photo again is the way to finish it
    again = admin_client_api.post("/api/v1/photos/upload/", {"files": [upload()]}, format="multipart")
    assert again.status_code == 202
    assert [(f["status"], f["code"]) for f in again.data["files"]] == [("accepted", "requeued")]
    process_photos.apply(args=[again.data["job"]])
    photo.refresh_from_db()
    assert photo.status == "done" and Face.objects.filter(photo=photo).count() == 2


# --- The local storage underneath: whole files under their names, partial ones swept ------------------


def test_the_local_storage_never_overwrites_and_leaves_no_partial_file(media_in_tmp):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    first = default_storage.save("photos/ab/x.jpg", ContentFile(b"first"))
    second = default_storage.save("photos/ab/x.jpg", ContentFile(b"second"))
    assert first == "photos/ab/x.jpg" and second != first
    assert files_on(media_in_tmp) == {
        first: hashlib.sha256(b"first").hexdigest(),
        second: hashlib.sha256(b"second").hexdigest(),
    }


@pytest.mark.django_db
def test_what_a_process_killed_mid_write_leaves_is_swept_after_the_grace_period(media_in_tmp):
    from webapp.core.sweep import media_sweep

    partial = media_in_tmp / "photos" / "ab" / ".partial-0123456789abcdef"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a photo")
    assert media_sweep(grace_hours=1)["paths"] == []  # a write may still be under way
    assert media_sweep(grace_hours=0)["paths"] == ["photos/ab/.partial-0123456789abcdef"]
    assert not partial.exists()
