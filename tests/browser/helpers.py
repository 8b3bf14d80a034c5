"""Steps the browser tests share: logging in, screenshots for the README."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


def log_in(page, username: str, password: str, then: str = "/review") -> None:
    page.goto(f"/accounts/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{then}*")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
