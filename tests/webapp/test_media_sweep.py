"""The orphaned-media sweep removes stored files no row refers to, once older than the grace period."""

import io
import os
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from webapp.core.models import Job
from webapp.core.sweep import media_sweep
from webapp.core.tasks import sweep_media

from .factories import FaceFactory, PhotoFactory

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


def _stored(name: str, data: bytes, *, age_s: float) -> str:
    name = default_storage.save(name, ContentFile(data))
    then = time.time() - age_s
    os.utime(default_storage.path(name), (then, then))
    return name


@pytest.fixture
def media_files():
    photo = PhotoFactory()
    face = FaceFactory()
    for name in (photo.image.name, face.crop.name):
        then = time.time() - 3 * DAY
        os.utime(default_storage.path(name), (then, then))
    return {
        "kept": [photo.image.name, face.crop.name],
        "orphan": _stored("faces/photo/orphan-1.jpg", b"o" * 100, age_s=2 * DAY),
        "orphan_video": _stored("frames/99/000001.jpg", b"v" * 50, age_s=2 * DAY),
        "recent": _stored("faces/photo/being-written.jpg", b"r" * 10, age_s=60),
        "import": _stored("imports/glint24/Ada/1.jpg", b"i" * 10, age_s=9 * DAY),
    }


def test_old_files_no_row_refers_to_are_removed_and_reported(media_files):
    report = media_sweep(grace_hours=24)
    assert sorted(report["paths"]) == sorted([media_files["orphan"], media_files["orphan_video"]])
    assert report["removed"] == 2 and report["bytes"] == 150 and report["kept_recent"] == 1
    for name in media_files["kept"] + [media_files["recent"], media_files["import"]]:
        assert default_storage.exists(name), name
    assert not default_storage.exists(media_files["orphan"]) and not default_storage.exists(media_files["orphan_video"])


def test_a_dry_run_lists_the_orphans_and_removes_nothing(media_files):
    out = io.StringIO()
    call_command("sweep_media", "--dry-run", "--grace-hours", "24", stdout=out)
    text = out.getvalue()
    assert f"would remove {media_files['orphan']}" in text
    assert "would remove 2 orphaned files, 150 bytes" in text
    assert default_storage.exists(media_files["orphan"])


def test_the_grace_period_is_a_setting_and_an_option(media_files, settings):
    settings.FACECURATOR_SWEEP_GRACE_HOURS = 72
    assert media_sweep()["removed"] == 0
    out = io.StringIO()
    call_command("sweep_media", "--grace-hours", "0.01", stdout=out)
    assert "removed 3 orphaned files, 160 bytes" in out.getvalue()


def test_the_periodic_sweep_records_its_report_on_a_job(media_files):
    sweep_media.apply()
    job = Job.objects.get(kind="maintenance.sweep_media")
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.result["removed"] == 2 and sorted(job.result["paths"]) == sorted(
        [media_files["orphan"], media_files["orphan_video"]]
    )


def test_the_sweep_lists_and_removes_through_the_storage_api_on_s3(s3_media):
    face = FaceFactory()
    orphan = default_storage.save("faces/photo/orphan-s3.jpg", ContentFile(b"s" * 42))
    kept_import = default_storage.save("imports/Ada/1.jpg", ContentFile(b"i"))
    assert media_sweep(grace_hours=1)["removed"] == 0  # written just now: within the grace period
    report = media_sweep(grace_hours=0)
    assert report["paths"] == [orphan] and report["bytes"] == 42
    assert s3_media.keys() == sorted([face.crop.name, kept_import])


def _partial_left_by_a_crash(folder: str, *, age_s: float) -> str:
    """A ``.partial-<random>`` file as MediaFileSystemStorage writes before linking a file into place."""
    from webapp.core.storage import MediaFileSystemStorage

    path = MediaFileSystemStorage._write_partial(ContentFile(b"p" * 7), default_storage.path(folder))
    then = time.time() - age_s
    os.utime(path, (then, then))
    return f"{folder}/{os.path.basename(path)}"


def test_stale_partial_files_are_removed_from_every_folder_imports_and_the_index_included(media_files):
    for folder in ("imports/glint24/Ada", "index/v3", "exports"):
        os.makedirs(default_storage.path(folder), exist_ok=True)
    stale = [_partial_left_by_a_crash(folder, age_s=2 * DAY) for folder in ("imports/glint24/Ada", "index/v3")]
    fresh = _partial_left_by_a_crash("index/v3", age_s=60)
    index_file = _stored("index/v3/faces.faiss", b"x" * 5, age_s=9 * DAY)
    lookalike = _stored("imports/glint24/Ada/.partial-notes.txt", b"n", age_s=9 * DAY)

    report = media_sweep(grace_hours=24)

    assert set(stale) <= set(report["paths"]) and report["removed"] == 2 + 2
    assert report["bytes"] == 150 + 14 and report["kept_recent"] == 1 + 1
    assert not any(default_storage.exists(name) for name in stale)
    for name in (fresh, index_file, lookalike, media_files["import"]):
        assert default_storage.exists(name), name
