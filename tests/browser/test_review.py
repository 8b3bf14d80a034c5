"""An annotator reviews a page of faces with the keyboard only, relabels one, undoes a decision,
and finds every decision in the label events."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .data import PASSWORD, REVIEWED, seed_review_data, user_with_role
from .helpers import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def press(page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def cursor_face(page) -> int:
    return int(page.locator('[data-testid=review-grid] [aria-current="true"]').get_attribute("data-face"))


def move_to(page, face_id: int) -> None:
    """Walk the cursor to ``face_id`` with the arrow keys (keyboard only, as an annotator would)."""
    order = [int(face) for face in page.locator("[data-testid=review-grid] li").evaluate_all("cells => cells.map(c => c.dataset.face)")]
    steps = order.index(face_id) - order.index(cursor_face(page))
    for _ in range(abs(steps)):
        page.keyboard.press("ArrowRight" if steps > 0 else "ArrowLeft")
    assert cursor_face(page) == face_id


@pytest.mark.screenshots
def test_annotator_reviews_a_page_with_the_keyboard_relabels_undoes_and_sees_the_label_events(page, shared_data):
    from webapp.faces.models import Face, LabelEvent

    user_with_role("ann", "annotator")
    data = seed_review_data(shared_data, unverified=30, intruders=3)
    lindsay = data["identities"]["Lindsay Lohan"]
    first, second, third = data["faces"]["intruders"]
    obama = data["identities"][REVIEWED]

    log_in(page, "ann", PASSWORD, then="/review")
    grid = page.locator("[data-testid=review-grid]")
    cells = grid.locator("li")
    page.locator("[data-testid=review-grid] li").nth(32).wait_for()  # no string functions: the CSP forbids eval
    assert cells.count() == 33  # 30 faces of the person + 3 intruders, one page
    assert page.locator("h1").inner_text().endswith(REVIEWED)
    assert page.locator(".references img").count() == 8

    # Two intruders marked wrong with x and Space; the third relabelled with r + type-ahead.
    move_to(page, first.pk)
    press(page, "x")
    move_to(page, second.pk)
    press(page, "Space")
    assert grid.locator('li[data-marked="true"]').count() == 2
    move_to(page, third.pk)
    press(page, "r")
    dialog = page.get_by_role("dialog", name=re.compile("Relabel"))
    page.keyboard.type("Lind")
    dialog.get_by_role("option", name="Lindsay Lohan").wait_for()
    press(page, "Enter")
    page.locator(f'li[data-face="{third.pk}"][data-verdict="relabel"]').wait_for()
    assert Face.objects.get(pk=third.pk).identity_id == lindsay.pk

    # u on a face of the person, then z: the decision is undone on the server.
    target = data["faces"]["unverified"][0].pk
    move_to(page, target)
    press(page, "u")
    page.locator(f'li[data-face="{target}"][data-verdict="unknown"]').wait_for()
    assert Face.objects.get(pk=target).identity_id is None
    today = page.get_by_test_id("decisions-today")
    expect(today).to_have_text("Today: 2 decisions")  # the relabel and u
    press(page, "z")
    page.locator(f'li[data-face="{target}"][data-verdict=""]').wait_for()
    expect(today).to_have_text("Today: 1 decision")  # the undo takes u's decision back off
    restored = Face.objects.get(pk=target)
    assert (restored.identity_id, restored.status) == (obama.pk, "unverified")

    press(page, "?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert help_dialog.locator("tr[data-action=toggleWrong]").inner_text().startswith("Space")
    press(page, "Escape")
    assert help_dialog.count() == 0
    screenshot(page, "review")

    # Enter confirms the page: the rest are the person, the marked ones are not.
    press(page, "Enter")
    page.get_by_text(re.compile(r"Page confirmed: 30 confirmed, 2 marked wrong")).wait_for()
    obama_faces = Face.objects.filter(identity=obama)
    assert obama_faces.filter(status="verified").count() == 8 + 30
    assert obama_faces.filter(status="unverified").count() == 0
    for intruder in (first, second):
        face = Face.objects.get(pk=intruder.pk)
        assert (face.identity_id, face.status) == (None, "unverified")
    page.get_by_text(re.compile(r"Today: \d+ decisions")).wait_for()
    assert LabelEvent.objects.filter(user__username="ann").count() == 30 + 2 + 1 + 2  # page, relabel, u + its undo

    # The next identity's faces come next; the label events screen lists what was done.
    expect(page.locator("h1")).not_to_have_text(re.compile(r"Barack Obama$"))
    page.get_by_role("link", name="Label events").click()
    table = page.locator("[data-testid=label-events]")
    table.locator("tbody tr").first.wait_for()
    text = table.inner_text()
    assert "Lindsay Lohan" in text and "review: relabelled" in text
    assert re.search(r"undo of \d+", text) and "undone" in text
    assert table.locator("tbody tr").count() == 35


def test_keys_on_a_focused_button_act_as_the_browser_would_and_the_queue_select_gives_focus_back(page, shared_data):
    from webapp.faces.models import LabelEvent

    data = seed_review_data(shared_data, unverified=4, verified=2, intruders=0)
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then="/review")
    page.locator("[data-testid=review-grid] li").first.wait_for()

    # Enter on the focused "Shortcuts" button presses it (help opens); it does not confirm the page.
    page.get_by_role("button", name="Shortcuts").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_have_count(0)
    page.keyboard.press("Space")  # still on the button: pressing it again, not marking a face
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    assert page.locator('[data-testid=review-grid] li[data-marked="true"]').count() == 0
    assert not LabelEvent.objects.exists()

    # Choosing what to review hands focus back to the grid: arrows move between faces, not queues.
    tom = data["identities"]["Tom Hanks"]
    page.get_by_label("Reviewing").select_option(f"i{tom.pk}")
    expect(page.locator("h1")).to_have_text(re.compile("Tom Hanks$"))
    assert page.evaluate("document.activeElement.dataset.testid") == "review-grid"
    first = int(page.locator('[data-testid=review-grid] [aria-current="true"]').get_attribute("data-face"))
    page.keyboard.press("ArrowRight")
    expect(page.locator('[data-testid=review-grid] [aria-current="true"]')).not_to_have_attribute("data-face", str(first))
    assert page.get_by_label("Reviewing").evaluate("select => select.value") == f"i{tom.pk}"
