"""Videos and jobs as an admin meets them: the tags column, tagging every untagged video, the
model's top guess for faces below the threshold, undoing a tag decision; a job's own page.
Jobs run in-process (the test calls the task the live server queued)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from tests.webapp.test_training_fixtures import train_now

from .data import PASSWORD, seed_curation_data, user_with_role
from .helpers import LOADED_WIDTH, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def video_of(shared_data, person_faces, stranger_faces, *, name: str):
    """A processed video whose frames each show one face of ``person_faces`` (its embedding copied: the
    model sees a vector it was trained on) and one of ``stranger_faces`` with a random embedding (nobody
    the model knows)."""
    from tests.webapp.factories import FaceFactory, FrameFactory, VideoFactory
    from webapp.faces.models import Face

    frame_jpeg = next((shared_data / "glint24" / "Keanu Reeves").glob("*.jpg")).read_bytes()
    video = VideoFactory(original_name=name, status="done", width=112, height=112)
    rng = np.random.default_rng(7)
    for n, (person, stranger) in enumerate(zip(person_faces, stranger_faces, strict=True)):
        frame = FrameFactory(video=video, index=n * 10, image=ContentFile(frame_jpeg, name="frame.jpg"))
        person_vector = np.frombuffer(bytes(person.embedding), dtype=np.float32)
        stranger_vector = rng.standard_normal(person_vector.shape).astype(np.float32)
        for k, (source, vector) in enumerate(
            ((person, person_vector), (stranger, stranger_vector / np.linalg.norm(stranger_vector)))
        ):
            FaceFactory(
                source=Face.Source.FRAME,
                identity=None,
                video=video,
                frame=frame,
                group_key=f"video:{video.pk}",
                vector=vector,
                box=[5 + 50 * k, 10, 45, 45],
                crop=ContentFile(source.crop.read(), name="face.jpg"),
            )
    return video


def test_an_admin_tags_untagged_videos_reads_the_top_guess_and_undoes_a_confirmation(page, shared_data):
    from webapp.faces.models import Face
    from webapp.tagging.models import VideoTag
    from webapp.tagging.tasks import tag_videos
    from webapp.training.services import operating_point_set

    data = seed_curation_data(shared_data)
    train_now(accept=True, epochs=30)
    operating_point_set(threshold=0.5)
    keanu = next(vip for vip in data["vips"] if vip.name == "Keanu Reeves")
    keanus = list(Face.objects.filter(identity=keanu).order_by("id")[:4])
    strangers = list(Face.objects.filter(identity__isnull=True).order_by("id")[:4])
    video = video_of(shared_data, keanus, strangers, name="press-conference.mp4")
    user_with_role("boss", "admin")

    log_in(page, "boss", PASSWORD, then="/videos")
    row = page.locator(f'tr[data-video="{video.pk}"]')
    expect(row).to_contain_text("not tagged yet")
    page.get_by_role("button", name="Tag all untagged (1)").click()
    page.get_by_role("progressbar", name="Tagging untagged videos progress").wait_for()
    from webapp.core.models import Job

    tag_videos(Job.objects.get(kind="tagging.tag_videos").pk)
    expect(row.get_by_role("link", name="Keanu Reeves")).to_be_visible()  # the list reloads when the job ends
    expect(page.get_by_role("button", name="Tag all untagged (0)")).to_be_disabled()
    tag = VideoTag.objects.get(video=video)  # only Keanu: the strangers stay unknown

    row.get_by_role("link", name="press-conference.mp4").click()
    # Strangers fall below the threshold: unknown, with the model's top guess and its confidence.
    page.locator(".frame .box.rejected").first.wait_for()
    assert re.search(r"unknown · top guess .+ \d+%", page.locator(".frame .box.rejected").first.inner_text())

    tags = page.get_by_test_id("video-tags")
    tags.get_by_role("button", name="Confirm", exact=True).click()
    expect(tags.get_by_role("button", name="Undo confirmation")).to_be_visible()
    assert Face.objects.filter(video=video, identity=keanu, status="verified").count() == 4
    tags.get_by_role("button", name="Undo confirmation").click()
    expect(tags.get_by_role("button", name="Confirm", exact=True)).to_be_visible()
    tag.refresh_from_db()
    assert tag.status == "proposed"
    assert not Face.objects.filter(video=video, identity=keanu).exists()


def test_an_admin_filters_jobs_opens_one_to_its_per_file_errors_and_sees_faces_in_label_events(page, shared_data):
    from webapp.core.models import Job
    from webapp.faces.services import face_relabel

    from .data import seed_review_data

    admin = user_with_role("boss", "admin")
    imported = Job.objects.create(
        kind="media.import_faces",
        state="succeeded",
        progress=1.0,
        created_by=admin,
        params={"root": "/srv/faces", "cropped": True},
        result={
            "files": 3,
            "imported": 1,
            "duplicate": 0,
            "error": 2,
            "faces_created": 1,
            "errors": [
                {"name": "notes.txt", "status": "error", "code": "unsupported", "error": "Not an image or video."},
                {"name": "blank.jpg", "status": "error", "code": "no_face", "error": "No face found."},
            ],
            "outcomes": [{"name": "tom.jpg", "status": "imported", "faces": 1}],
        },
    )
    failed = Job.objects.create(kind="training.run", state="failed", error="CUDA out of memory", created_by=admin)
    Job.objects.create(kind="faces.rebuild_index", state="succeeded", created_by=admin)

    log_in(page, "boss", PASSWORD, then="/manage/jobs")
    rows = page.get_by_test_id("jobs").locator("tbody tr[data-job]")
    expect(rows).to_have_count(3)
    page.get_by_label("Kind").select_option("media.import_faces")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-job", str(imported.pk))
    page.get_by_label("Kind").select_option("")
    page.get_by_label("State").select_option("failed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("CUDA out of memory")
    assert rows.first.get_attribute("data-job") == str(failed.pk)

    page.get_by_label("State").select_option("")
    page.get_by_role("link", name=f"#{imported.pk}").click()
    job_page = page.get_by_test_id("job-page")
    expect(job_page.get_by_test_id("job-params")).to_contain_text('"root": "/srv/faces"')
    expect(job_page.get_by_test_id("job-result")).to_contain_text("faces created")
    errors = job_page.get_by_test_id("job-file-errors").locator("tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.first).to_contain_text("notes.txt")
    expect(errors.first).to_contain_text("Not an image or video.")
    expect(job_page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")

    # Label events show the face each one is about.
    data = seed_review_data(shared_data, unverified=1, verified=1, intruders=0)
    face = data["faces"]["unverified"][0]
    face_relabel(face=face, status="verified", user=admin)
    page.goto("/events")
    thumb = page.locator("[data-testid=label-events] tbody tr").first.get_by_role("img", name=f"face {face.pk}")
    expect(thumb).to_be_visible()
    assert thumb.get_attribute("src") == face.crop.url
    assert thumb.evaluate(LOADED_WIDTH) > 0
