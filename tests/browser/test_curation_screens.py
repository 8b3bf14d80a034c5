"""The screens a team uses around review: exports (admins) and finding any face. Jobs run in-process
(the test calls the task the live server queued), so no worker is needed."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import expect

from .data import PASSWORD, REVIEWED, seed_curation_data, seed_review_data, user_with_role
from .helpers import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def create_version_in_ui(page, name: str):
    """Fill the new-version form, submit, and freeze the version the way a worker would."""
    from webapp.exports import tasks
    from webapp.exports.models import DatasetVersion

    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create version").click()
    page.get_by_text(re.compile(r"Version \d+ created")).wait_for()
    version = DatasetVersion.objects.get(name=name)
    card = page.locator(f'article[data-version="{version.pk}"]')
    expect(card.locator(".badge")).to_have_text("freezing")
    tasks.freeze_version(version.job_id)
    expect(card).to_have_attribute("data-state", "ready")  # the screen polls until it is frozen
    version.refresh_from_db()
    return version, card


@pytest.mark.screenshots
def test_an_admin_creates_builds_downloads_and_compares_dataset_versions(page, shared_data):
    from webapp.exports import tasks
    from webapp.exports.models import ExportBuild
    from webapp.faces.services import face_relabel

    data = seed_review_data(shared_data, unverified=4, verified=5, intruders=0)
    admin = user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/manage/exports")

    first, card = create_version_in_ui(page, "first")
    assert first.face_count == 4 * 5  # verified faces of the four VIPs
    expect(card).to_contain_text("20 faces in 4 classes")

    card.get_by_label("Format").select_option("jsonl")
    card.get_by_role("button", name="Build").click()
    card.locator('tr[data-build="jsonl"]').wait_for()
    tasks.build_export(ExportBuild.objects.get(version=first, format="jsonl").job_id)
    manifest = card.locator('tr[data-build="jsonl"][data-file="manifest.jsonl"]')
    link = manifest.get_by_role("link", name="manifest.jsonl")
    expect(link).to_be_visible()
    listed_sha = manifest.locator("code.checksum").inner_text()
    downloaded = page.request.get(link.get_attribute("href"))
    assert downloaded.ok and hashlib.sha256(downloaded.body()).hexdigest() == listed_sha
    assert (
        manifest.locator('td[title$=" bytes"]').get_attribute("title") == f"{len(downloaded.body())} bytes"
    )  # its size

    # One face moves to another VIP; a second version shows it per identity.
    moved = data["faces"]["verified"][0]
    face_relabel(face=moved, identity=data["identities"]["Tom Hanks"], user=admin)
    second, _ = create_version_in_ui(page, "second")
    page.get_by_label("From").select_option(str(first.pk))
    page.get_by_label("to", exact=True).select_option(str(second.pk))
    page.get_by_role("button", name="Compare").click()
    comparison = page.get_by_test_id("comparison")
    expect(comparison).to_contain_text("0 added, 0 removed, 1 relabelled")
    expect(comparison.locator(f'tr[data-label="{REVIEWED}"] td').nth(4)).to_have_text("1")
    expect(comparison.locator('tr[data-label="Tom Hanks"] td').nth(3)).to_have_text("1")
    screenshot(page, "exports")


def test_an_annotator_cannot_open_the_exports_screen(page, shared_data):
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then="/manage/exports")
    expect(page.get_by_text("Only admins may use this page.")).to_be_visible()


def active_model_scores(faces, confidences):
    """An accepted run that scored ``faces`` with ``confidences`` (what a trained head would store)."""
    from webapp.core.models import Job
    from webapp.training.models import ActiveModel, RunSample, TrainingRun

    run = TrainingRun.objects.create(job=Job.objects.create(kind="training.run", state="succeeded"))
    RunSample.objects.bulk_create(
        [
            RunSample(
                run=run,
                face=face,
                identity_id=face.identity_id,
                label=0,
                split=face.split,
                version=face.version,
                confidence=confidence,
            )
            for face, confidence in zip(faces, confidences, strict=True)
        ]
    )
    ActiveModel.objects.create(run=run)


def expect_only(page, face_id: int) -> None:
    results = page.get_by_test_id("face-results").locator("li")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-face", str(face_id))


def result_ids(page) -> list[int]:
    return [
        int(face)
        for face in page.get_by_test_id("face-results")
        .locator("li")
        .evaluate_all("cells => cells.map(c => c.dataset.face)")
    ]


@pytest.mark.screenshots
def test_an_annotator_filters_faces_finds_more_like_one_and_sends_them_to_review(page, shared_data):
    from webapp.faces import index
    from webapp.faces.models import Face
    from webapp.faces.services import face_relabel
    from webapp.review.models import Item, Queue

    data = seed_curation_data(shared_data, per_identity=15, unknown=6)
    index.index_rebuild()
    keanu = next(vip for vip in data["vips"] if vip.name == "Keanu Reeves")
    keanus = list(Face.objects.filter(identity=keanu).order_by("id"))
    active_model_scores(keanus[:3], [0.35, 0.62, 0.91])
    annotator = user_with_role("ann", "annotator")
    face_relabel(face=keanus[4], status="verified", user=annotator)
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    Item.objects.create(queue=queue, face=keanus[5], identity=keanu, score=1)

    log_in(page, "ann", PASSWORD, then="/faces")
    count = page.get_by_test_id("faces-count")
    expect(count).to_have_text(f"{Face.objects.count()} faces")
    page.get_by_label("Identity").select_option(label="Keanu Reeves")
    expect(count).to_have_text("15 faces")
    page.get_by_label("Split").select_option("train")
    expect(count).to_have_text(f"{Face.objects.filter(identity=keanu, split='train').count()} faces")
    page.get_by_label("Split").select_option("")
    page.get_by_label("Status").select_option("verified")
    expect(count).to_have_text(f"{Face.objects.filter(identity=keanu, status='verified').count()} faces")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Source").select_option("photo")
    expect(count).to_have_text("0 faces")  # the demo's faces are imported crops
    page.get_by_label("Source").select_option("")
    page.get_by_label("Confidence from").fill("0.5")
    page.get_by_label("to", exact=True).fill("0.8")
    page.get_by_label("to", exact=True).press("Enter")
    expect_only(page, keanus[1].pk)
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Labelled by").fill("ann")
    page.get_by_label("Labelled by").press("Enter")
    expect_only(page, keanus[4].pk)
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Queued as").select_option("label_errors")
    expect_only(page, keanus[5].pk)

    # More like this: the similarity index's neighbours, best first.
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Identity").select_option(label="Keanu Reeves")
    expect(count).to_have_text("15 faces")
    page.locator(f'li[data-face="{keanus[0].pk}"]').get_by_role("button", name="More like this").click()
    page.get_by_text(f"Faces most like face {keanus[0].pk}").wait_for()
    expected = [face.pk for face, _ in index.faces_similar(face=keanus[0], k=60)]
    expect(page.get_by_test_id("face-results").locator("li").first).to_have_attribute("data-face", str(expected[0]))
    assert result_ids(page) == expected
    screenshot(page, "faces")

    # Two of them to review: a queue of their own, opened on the review screen.
    for face_id in expected[:2]:
        page.get_by_label(f"choose face {face_id}").check()
    page.get_by_role("button", name="Send 2 to review").click()
    page.wait_for_url(re.compile(r"/review\?queue=\d+"))
    sent = Queue.objects.get(kind="sent")
    assert [item.face_id for item in sent.items.order_by("-score")] == expected[:2]
    page.locator("[data-testid=review-grid] li").first.wait_for()
    assert sorted(
        int(f)
        for f in page.locator("[data-testid=review-grid] li").evaluate_all("cells => cells.map(c => c.dataset.face)")
    ) == sorted(expected[:2])


def test_faces_are_chosen_as_a_range_with_shift_click_and_shift_arrows(page, shared_data):
    seed_review_data(shared_data, unverified=6, verified=4, intruders=0)
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then="/faces")
    page.get_by_test_id("face-results").locator("li").nth(11).wait_for()
    shown = result_ids(page)
    box = lambda n: page.get_by_label(f"choose face {shown[n]}")  # noqa: E731 - the n-th face's checkbox

    box(0).click()
    box(3).click(modifiers=["Shift"])  # from the last face chosen to this one
    expect(page.get_by_role("button", name="Send 4 to review")).to_be_visible()
    assert [box(n).is_checked() for n in range(5)] == [True, True, True, True, False]

    # The arrows move between the faces; with Shift they choose the faces passed over.
    box(5).focus()
    page.keyboard.press("ArrowRight")
    expect(box(6)).to_be_focused()
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    expect(box(8)).to_be_focused()
    expect(page.get_by_role("button", name="Send 7 to review")).to_be_visible()
    assert [box(n).is_checked() for n in range(4, 10)] == [False, False, True, True, True, False]
