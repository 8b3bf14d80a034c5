"""Steps the browser tests share: logging in, screenshots for the README.

Tests never write into the repository: screenshots go to a temporary folder unless
FACECURATOR_SCREENSHOTS names another (`make screenshots` points it at docs/screenshots/).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def screenshots_dir() -> Path:
    configured = os.environ.get("FACECURATOR_SCREENSHOTS")
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / f"facecurator-screenshots-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(page, username: str, password: str, then: str = "/review") -> None:
    page.goto(f"/accounts/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{then}*")


def screenshot(page, name: str) -> Path:
    """Save the page as ``<name>.png`` (the tests that call this carry the ``screenshots`` marker,
    so `make screenshots` reruns exactly them)."""
    path = screenshots_dir() / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# An <img>'s width once it has loaded (0 for an image that fails to decode). Visible is not loaded:
# naturalWidth read at once is 0 while the file is still on its way.
LOADED_WIDTH = "img => img.decode().then(() => img.naturalWidth, () => 0)"
