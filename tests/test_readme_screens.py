"""The README names the admin screens as the UI labels them: every "Admin › X" it writes is a tab of
the admin screen (frontend/src/admin/AdminScreen.tsx), so a reader finds the screen it points at."""

import re

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
ADMIN_SCREEN = REPO_ROOT / "frontend" / "src" / "admin" / "AdminScreen.tsx"


def admin_tabs() -> set[str]:
    return set(re.findall(r"<NavLink to=\"/manage/\w+\">([^<]+)</NavLink>", ADMIN_SCREEN.read_text()))


def test_every_admin_screen_the_readme_names_is_a_tab_of_the_admin_screen():
    tabs = admin_tabs()
    assert {"Training", "Exports", "Jobs"} <= tabs
    named = set(re.findall(r"Admin › (\w+)", README.read_text()))
    assert named and named <= tabs, named - tabs


def test_the_readme_lists_every_admin_tab():
    text = README.read_text()
    listing = re.search(r"for admins Admin › ([^.]+)\.", text.replace("\n", " "))
    assert listing, "README lost its list of admin screens"
    assert [tab for tab in admin_tabs() if tab not in listing[1]] == []
