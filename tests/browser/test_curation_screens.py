"""The screens a team uses around review: exports (admins) and finding any face. Jobs run in-process
(the test calls the task the live server queued), so no worker is needed."""
from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import expect

from .data import PASSWORD, REVIEWED, seed_review_data, user_with_role
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
