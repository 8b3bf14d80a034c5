"""Browser tests: the built frontend served by a live Django server, driven by Playwright in
Debian's headless Chromium (never a downloaded browser).

`make test` builds the frontend first; run alone, the tests build it when frontend/dist is
missing (npm ci && npm run build) and skip when there is no Node or no Chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.webapp.conftest import celery_worker_process  # noqa: F401 - a real Celery worker, for the retrain test

FRONTEND = REPO_ROOT / "frontend"
DIST = FRONTEND / "dist"
CHROMIUM = os.environ.get("FACECURATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def frontend_dist() -> Path:
    """The built frontend; built here when missing (set FACECURATOR_FRONTEND_REBUILD=1 to force)."""
    index = DIST / "index.html"
    if not index.exists() or os.environ.get("FACECURATOR_FRONTEND_REBUILD"):
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("frontend/dist is not built and npm is not installed")
        if not (FRONTEND / "node_modules").exists():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
        subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)
    return DIST


def fresh_broker_connections() -> None:
    """Open a new broker connection pool in this process. celery_worker_process stops by closing
    this process's pool for good (``app.pool.force_close_all()``), after which every job the live
    server queues would fail with "Acquire on closed pool"."""
    from kombu import pools

    from webapp.celery import app

    pools.reset()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@pytest.fixture
def served_frontend(settings, frontend_dist, tmp_path):
    """Point Django at the build (settings read frontend/dist at import, maybe before it existed)
    and keep this test's media in a temporary folder."""
    fresh_broker_connections()
    settings.FRONTEND_DIST = frontend_dist
    settings.STATICFILES_DIRS = [frontend_dist]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FACECURATOR_GOLD_RATE = 0  # gold faces are mixed in at random: off unless a test turns them on
    settings.FACECURATOR_SECOND_OPINION = []  # relabels between VIPs wait for a second annotator by default
    return frontend_dist


@pytest.fixture
def media_in_tmp(served_frontend, settings):
    """The media folder the live server and the worker share (celery_worker_process asks for it)."""
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test code's ORM calls
    # are still plain synchronous calls, so tell Django's async-safety check (Playwright's advice).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server, served_frontend):
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # Chromium reports what the Content-Security-Policy blocked on the console ("Refused to ...").
    tab.on(
        "console", lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None
    )
    tab.errors = errors
    yield tab
    # Leave the app first: it gives its leased review items back on leaving. Let those last requests
    # finish before the database is flushed, or they deadlock with the flush's TRUNCATE.
    tab.goto("about:blank")
    tab.wait_for_timeout(1000)
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
