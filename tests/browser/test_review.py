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
    order = [
        int(face)
        for face in page.locator("[data-testid=review-grid] li").evaluate_all("cells => cells.map(c => c.dataset.face)")
    ]
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
    expect(page.locator('[data-testid=review-grid] [aria-current="true"]')).not_to_have_attribute(
        "data-face", str(first)
    )
    assert page.get_by_label("Reviewing").evaluate("select => select.value") == f"i{tom.pk}"


def grid_order(page) -> list[int]:
    return [
        int(face)
        for face in page.locator("[data-testid=review-grid] li").evaluate_all("cells => cells.map(c => c.dataset.face)")
    ]


def tab_to_the_grid(page) -> None:
    """Tab from the top of the page until the review grid has focus (face cells are reachable by keyboard)."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "review-grid":
            return
    raise AssertionError("Tab never reached the review grid")


def test_shift_arrows_and_shift_click_select_a_range_that_the_review_keys_decide_and_z_undoes(page, shared_data):
    from webapp.faces.models import Face, LabelEvent

    data = seed_review_data(shared_data, unverified=10, verified=2, intruders=0)
    obama, tom = data["identities"][REVIEWED], data["identities"]["Tom Hanks"]
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then="/review")
    grid = page.get_by_test_id("review-grid")
    grid.locator("li").nth(9).wait_for()
    expect(page.locator("h1")).to_have_text(re.compile(f"{REVIEWED}$"))
    order = grid_order(page)

    # The grid is reached with Tab; Shift+arrows select a range, which Space marks wrong in one go.
    tab_to_the_grid(page)
    expect(grid).to_have_attribute("aria-activedescendant", f"face-cell-{order[0]}")
    press(page, "Shift+ArrowRight", "Shift+ArrowRight")
    selected = grid.locator('li[aria-selected="true"]')
    expect(selected).to_have_count(3)
    expect(page.get_by_test_id("review-status")).to_contain_text("3 selected")
    press(page, "Space")
    assert [
        int(f) for f in grid.locator('li[data-marked="true"]').evaluate_all("cells => cells.map(c => c.dataset.face)")
    ] == order[:3]
    expect(selected).to_have_count(0)
    press(page, "z")  # the range's marks come off together
    expect(grid.locator('li[data-marked="true"]')).to_have_count(0)

    # Shift+click selects from the cursor to the clicked face; u decides the whole range, z takes it all back.
    press(page, "ArrowRight", "ArrowRight", "ArrowRight")
    assert cursor_face(page) == order[3]
    grid.locator(f'li[data-face="{order[6]}"]').click(modifiers=["Shift"])
    expect(selected).to_have_count(4)
    press(page, "u")
    expect(grid.locator('li[data-verdict="unknown"]')).to_have_count(4)
    ranged = order[3:7]
    assert set(Face.objects.filter(pk__in=ranged).values_list("identity_id", "status")) == {(None, "verified")}
    expect(page.get_by_test_id("decisions-today")).to_have_text("Today: 4 decisions")
    press(page, "z")
    expect(grid.locator('li[data-verdict="unknown"]')).to_have_count(0)
    assert set(Face.objects.filter(pk__in=ranged).values_list("identity_id", "status")) == {(obama.pk, "unverified")}
    expect(page.get_by_test_id("decisions-today")).to_have_text("Today: 0 decisions")

    # r on a range relabels every face of it as the one identity chosen.
    assert cursor_face(page) == order[3]
    press(page, "Shift+ArrowRight")
    press(page, "r")
    dialog = page.get_by_role("dialog", name="Relabel 2 faces")
    page.keyboard.type("Tom")
    dialog.get_by_role("option", name="Tom Hanks").wait_for()
    press(page, "Enter")
    expect(grid.locator('li[data-verdict="relabel"]')).to_have_count(2)
    expect(grid.locator('li[data-verdict="relabel"] .verdict').first).to_have_attribute(
        "title", "→ Tom Hanks"
    )  # in full on hover
    assert set(Face.objects.filter(pk__in=order[3:5]).values_list("identity_id", "status")) == {(tom.pk, "verified")}
    assert (
        LabelEvent.objects.filter(user__username="ann", face_id__in=order[3:5], reason="review: relabelled").count()
        == 2
    )


def focus_is_inside(page, dialog) -> bool:
    return dialog.evaluate("box => box.contains(document.activeElement)")


def test_every_dialog_keeps_tab_inside_closes_on_escape_and_gives_focus_back_to_its_opener(page, shared_data):
    seed_review_data(shared_data, unverified=4, verified=2, intruders=0)
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then="/review")
    grid = page.get_by_test_id("review-grid")
    grid.locator("li").first.wait_for()

    # The shortcut help, opened from its button.
    opener = page.get_by_role("button", name="Shortcuts")
    opener.click()
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog.get_by_role("button", name="Close")).to_be_focused()
    for key in ("Tab", "Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"):
        page.keyboard.press(key)
        assert focus_is_inside(page, help_dialog), key
    page.keyboard.press("Escape")
    expect(help_dialog).to_have_count(0)
    expect(opener).to_be_focused()

    # The relabel dialog, opened with r on the grid: the search field, then Cancel, and round again.
    grid.focus()
    page.keyboard.press("r")
    relabel = page.get_by_role("dialog", name=re.compile("Relabel"))
    search = relabel.get_by_role("combobox")
    expect(search).to_be_focused()
    page.keyboard.press("Tab")
    expect(relabel.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(search).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(relabel.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(relabel).to_have_count(0)
    expect(grid).to_be_focused()
    assert grid.locator('li[data-verdict="relabel"]').count() == 0


def test_a_mixed_page_groups_faces_by_claimed_identity_beside_its_verified_faces_with_readable_names(page, shared_data):
    from webapp.review.models import Item, Queue

    data = seed_review_data(shared_data, unverified=3, verified=3, intruders=0)
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="Likely label errors")
    claimed: dict[str, list[int]] = {}
    unverified = data["faces"]["unverified"]
    # Two faces of each of the four people, their scores interleaved: small groups, one mixed page.
    for rank, name in enumerate((REVIEWED, "Tom Hanks", "Miley Cyrus", "Lindsay Lohan")):
        identity = data["identities"][name]
        faces = [face for face in unverified if face.identity_id == identity.pk][:2]
        claimed[name] = [face.pk for face in faces]
        for n, face in enumerate(faces):
            Item.objects.create(queue=queue, face=face, identity=identity, score=0.9 - 0.01 * rank - 0.1 * n)
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then=f"/review?queue={queue.pk}")

    groups = page.get_by_test_id("claim-group")
    expect(groups).to_have_count(4)
    names = []
    for index in range(4):
        group = groups.nth(index)
        heading = group.get_by_role("heading")
        name = heading.inner_text()
        names.append(name)
        assert heading.get_attribute("title") == name
        assert (
            float(heading.evaluate("h => getComputedStyle(h).fontSize").removesuffix("px")) >= 14
        )  # readable, not 10 px
        faces = [int(f) for f in group.locator("li[data-face]").evaluate_all("cells => cells.map(c => c.dataset.face)")]
        assert sorted(faces) == sorted(claimed[name]), name
        references = group.get_by_role("img", name=f"verified face of {name}")
        expect(references).to_have_count(3)
    assert names == [REVIEWED, "Tom Hanks", "Miley Cyrus", "Lindsay Lohan"]  # the likeliest mistake's group first

    # Down from the first group goes into the second, at the same column.
    first = int(page.locator('[data-testid=review-grid] [aria-current="true"]').get_attribute("data-face"))
    assert first == claimed[REVIEWED][0]
    page.keyboard.press("ArrowDown")
    expect(page.locator('[data-testid=review-grid] [aria-current="true"]')).to_have_attribute(
        "data-face", str(claimed["Tom Hanks"][0])
    )
