"""An admin drops photos on the import page: the good ones are accepted and queued for face
detection, a broken one is listed with its error; the admin cancels the queued job."""

from __future__ import annotations

import base64
import re

import pytest

from .data import PASSWORD, user_with_role
from .helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DROP = """([files, zone]) => {
  const transfer = new DataTransfer();
  for (const [name, type, data] of files) {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  document.querySelector(zone).dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


def test_admin_drops_photos_and_sees_per_file_errors(page, shared_data):
    from webapp.core.models import Job
    from webapp.media.models import Photo

    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/manage/import")
    photo = shared_data / "photos" / "obama-480p.jpg"
    files = [
        ["obama-480p.jpg", "image/jpeg", base64.b64encode(photo.read_bytes()).decode()],
        ["broken.jpg", "image/jpeg", base64.b64encode(b"these bytes are not a JPEG").decode()],
        ["notes.txt", "text/plain", base64.b64encode(b"hello").decode()],
    ]
    page.get_by_test_id("dropzone").wait_for()
    page.evaluate(DROP, [files, "[data-testid=dropzone]"])
    page.get_by_text("2 photos, 0 videos, 1 other files (skipped) ready.").wait_for()
    page.get_by_role("button", name="Upload 2 files").click()

    result = page.get_by_test_id("upload-result").filter(has_text="Photos:")
    result.get_by_text(re.compile(r"Photos: 1 accepted, 0 duplicates, 1 errors")).wait_for()
    problems = result.get_by_role("list", name="Files not imported")
    assert "broken.jpg" in problems.inner_text()
    assert "notes.txt" in page.get_by_test_id("upload-result").filter(has_text="Skipped here").inner_text()
    # The accepted photo waits for face detection in a job, whose progress bar is on screen.
    result.get_by_role("progressbar").wait_for()
    assert Photo.objects.get().original_name == "obama-480p.jpg"
    job = Job.objects.get(kind__startswith="media.")
    # No worker runs here: the job stays queued until the admin cancels it from its progress bar.
    result.get_by_role("button", name="Cancel").click()
    result.locator('.job[data-state="cancelled"]').wait_for()
    job.refresh_from_db()
    assert job.state == "cancelled"
