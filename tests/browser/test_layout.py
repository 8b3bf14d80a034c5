"""Layout and words. On a 1024-px tablet with a 190-character name that has no spaces, every screen
fits the window (no sideways scrolling) and the long name wraps, or is cut short with the full name
on hover; a phone gets a simplified review that fits too. Counts read in the right number."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .data import PASSWORD, REVIEWED, seed_review_data, user_with_role
from .helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = "M" + "x" * 188 + "n"

# Every element showing the name: where a box clips it (overflow hidden: an ellipsis or a line
# clamp), the full name must be in a title (the hover); elsewhere it wraps and is shown whole.
CLIPPED_WITHOUT_TITLE = """(full) => {
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const element = walker.currentNode.parentElement;
    if (!element || !walker.currentNode.textContent.includes(full.slice(0, 40))) continue;
    if (element.closest("select, option, script, style") || !element.getClientRects().length) continue;
    let clipped = false;
    for (let box = element; box && box !== document.body; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (["hidden", "clip"].includes(style.overflowX) || ["hidden", "clip"].includes(style.overflowY)) {
        clipped = box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
        break;
      }
    }
    const titled = element.closest("[title]");
    if (clipped && !(titled && titled.getAttribute("title").includes(full))) bad.push(element.outerHTML.slice(0, 160));
  }
  return bad;
}"""


def fits_the_window(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def long_name_shown_or_on_hover(page) -> list[str]:
    return page.evaluate(CLIPPED_WITHOUT_TITLE, LONG_NAME)


def test_every_screen_fits_a_1024_px_window_with_a_190_character_name(page, shared_data):
    from webapp.identities.models import Identity

    data = seed_review_data(shared_data, unverified=12, verified=4, intruders=2)
    Identity.objects.filter(pk=data["identities"][REVIEWED].pk).update(name=LONG_NAME)
    identity = Identity.objects.get(name=LONG_NAME)
    user_with_role("ann", "annotator")
    page.set_viewport_size({"width": 1024, "height": 768})

    log_in(page, "ann", PASSWORD, then="/review")
    page.locator("[data-testid=review-grid] li").first.wait_for()
    page.get_by_role("img", name=re.compile("verified face of Mxxx")).first.wait_for()
    assert (
        page.locator("h1").inner_text().replace("\n", "").endswith(LONG_NAME[-20:])
        or page.locator("h1").get_attribute("title") == LONG_NAME
    )
    assert fits_the_window(page), "/review"
    assert long_name_shown_or_on_hover(page) == [], "/review"
    for path in ("/dashboard", "/identities", f"/identities/{identity.pk}", "/faces", "/events", "/videos", "/tags"):
        page.goto(path)
        page.locator("h1").first.wait_for()
        page.wait_for_load_state("networkidle")
        assert fits_the_window(page), path
        assert long_name_shown_or_on_hover(page) == [], path
    page.goto("/identities")
    cell = page.get_by_role("link", name=LONG_NAME)
    cell.wait_for()
    box = cell.bounding_box()
    assert box["x"] + box["width"] <= 1024


def test_a_phone_gets_a_simplified_review_that_fits_its_screen(page, shared_data):
    from webapp.identities.models import Identity

    data = seed_review_data(shared_data, unverified=12, verified=4, intruders=0)
    Identity.objects.filter(pk=data["identities"][REVIEWED].pk).update(name=LONG_NAME)
    user_with_role("ann", "annotator")
    page.set_viewport_size({"width": 390, "height": 844})

    log_in(page, "ann", PASSWORD, then="/review")
    cells = page.locator("[data-testid=review-grid] li")
    cells.first.wait_for()
    page.wait_for_load_state("networkidle")
    assert long_name_shown_or_on_hover(page) == []
    assert fits_the_window(page)
    expect(page.get_by_role("complementary", name="Shortcuts")).to_be_hidden()  # no keyboard legend on a phone
    row = [cells.nth(n).bounding_box() for n in range(3)]
    assert len({round(box["y"]) for box in row}) == 1 and row[2]["x"] + row[2]["width"] <= 390  # three faces a row
    confirm = page.get_by_role("button", name=re.compile("^Confirm page"))
    confirm_box = confirm.bounding_box()
    assert confirm_box["x"] + confirm_box["width"] <= 390
    cells.nth(1).click()
    expect(cells.nth(1)).to_have_attribute("data-marked", "true")  # touching a face marks it wrong, as a click does


def test_counts_read_in_the_right_number(page):
    from webapp.identities.models import Identity

    Identity.objects.create(name="Ada Solo", role=Identity.Role.VIP, chunk=1, popularity_rank=1)
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/identities")
    expect(page.get_by_text("1 identity", exact=True)).to_be_visible()
    page.goto("/dashboard")
    step = page.get_by_test_id("next-step")
    expect(step).to_contain_text("Train a first model")
    expect(step).to_contain_text("the labelled faces of the one VIP")
    assert not re.search(r"\b1 (identities|VIPs)|VIPs's", page.locator("main").inner_text())
