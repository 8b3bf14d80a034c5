"""An annotator works the tag review queue with the keyboard: the least certain tag first, Enter
confirms, N rejects, ? shows the tag keys, O opens the video."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .data import PASSWORD, user_with_role
from .helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed_tags(margins: list[float]) -> list:
    """One proposed tag per margin (threshold 0.5), each on its own video with two supporting frames."""
    from tests.webapp.factories import FaceFactory, FrameFactory, IdentityFactory, VideoFactory
    from webapp.core.models import Job
    from webapp.faces.models import Face
    from webapp.tagging.models import TagEvidence, VideoTag
    from webapp.training.models import TrainingRun

    run = TrainingRun.objects.create(job=Job.objects.create(kind="training.run"), vips=[])
    tags = []
    for n, margin in enumerate(margins):
        identity = IdentityFactory(name=f"Person {n}", role="vip")
        video = VideoFactory(original_name=f"clip{n}.mp4")
        tag = VideoTag.objects.create(
            video=video, identity=identity, confidence=0.5 + margin, threshold=0.5, min_frames=2, frame_count=2, run=run
        )
        for rank in range(2):
            frame = FrameFactory(video=video, index=rank * 10)
            face = FaceFactory(
                source=Face.Source.FRAME,
                identity=None,
                video=video,
                frame=frame,
                group_key=video.group_key,
                box=[10, 20, 50, 50],
            )
            TagEvidence.objects.create(tag=tag, frame=frame, face=face, confidence=0.5 + margin, rank=rank)
        tags.append(tag)
    return tags


def current_tag(page) -> int:
    return int(page.locator('[data-testid=tag-row][aria-current="true"]').get_attribute("data-tag"))


def test_annotator_confirms_and_rejects_tags_with_the_keyboard(page):
    from webapp.faces.models import Face
    from webapp.tagging.models import VideoTag

    user_with_role("ann", "annotator")
    sure, unsure, middling = seed_tags([0.4, 0.02, 0.2])

    log_in(page, "ann", PASSWORD, then="/tags")
    rows = page.locator("[data-testid=tag-row]")
    expect(page.locator("[data-testid=tag-row]")).to_have_count(3)  # no string functions: the CSP forbids eval
    assert [int(row.get_attribute("data-tag")) for row in rows.all()] == [unsure.pk, middling.pk, sure.pk]
    assert rows.nth(0).locator("img").count() == 2
    assert current_tag(page) == unsure.pk

    page.keyboard.press("Enter")
    page.get_by_text("Person 1 confirmed in clip1.mp4").wait_for()
    unsure.refresh_from_db()
    assert unsure.status == "confirmed"
    assert set(Face.objects.filter(video=unsure.video).values_list("identity_id", "status")) == {
        (unsure.identity_id, "verified")
    }
    assert current_tag(page) == middling.pk

    page.keyboard.press("n")
    page.get_by_text("Person 2 rejected from clip2.mp4").wait_for()
    assert VideoTag.objects.get(pk=middling.pk).status == "rejected"
    assert rows.count() == 1 and current_tag(page) == sure.pk

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert help_dialog.locator('tr[data-action="tagConfirm"]').count() == 1
    page.keyboard.press("Escape")
    help_dialog.wait_for(state="detached")

    page.keyboard.press("o")
    page.wait_for_url(f"**/videos/{sure.video_id}")
    assert VideoTag.objects.get(pk=sure.pk).status == "proposed"
