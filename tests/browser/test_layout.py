"""Layout on a 1024-px tablet with a 190-character name that has no spaces: every screen fits the
window (no sideways scrolling), and the long name wraps or ellipsises with the full name on hover."""
from __future__ import annotations

import pytest

from .data import PASSWORD, REVIEWED, seed_review_data, user_with_role
from .helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits_the_window(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_every_screen_fits_a_1024_px_window_with_a_190_character_name(page, shared_data):
    from webapp.identities.models import Identity

    data = seed_review_data(shared_data, unverified=12, verified=4, intruders=2)
    long_name = "M" + "x" * 188 + "n"
    Identity.objects.filter(pk=data["identities"][REVIEWED].pk).update(name=long_name)
    identity = Identity.objects.get(name=long_name)
    user_with_role("ann", "annotator")
    page.set_viewport_size({"width": 1024, "height": 768})

    log_in(page, "ann", PASSWORD, then="/review")
    page.locator("[data-testid=review-grid] li").first.wait_for()
    assert page.locator("h1").inner_text().replace("\n", "").endswith(long_name[-20:]) or \
        page.locator("h1").get_attribute("title") == long_name
    assert fits_the_window(page), "/review"
    for path in ("/dashboard", "/identities", f"/identities/{identity.pk}", "/faces", "/events", "/videos", "/tags"):
        page.goto(path)
        page.locator("h1").first.wait_for()
        page.wait_for_load_state("networkidle")
        assert fits_the_window(page), path
    page.goto("/identities")
    cell = page.get_by_role("link", name=long_name)
    cell.wait_for()
    box = cell.bounding_box()
    assert box["x"] + box["width"] <= 1024
