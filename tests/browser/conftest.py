"""A real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against Django's live server.

Celery runs tasks eagerly in tests, so a case is delivered when its submission commits, inside
the live server's thread, against the real simulator over real HTTP.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.pages import ARTIFACTS
from tests.servers import missing_system_program

# Playwright's sync API runs an event loop in this thread; Django refuses database calls from a
# thread with a running loop unless told that this one is safe (it is: the calls are synchronous).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        missing_system_program(
            "/usr/bin/chromium is missing (scripts/ensure-system-packages.sh installs it with apt)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing (pip install -r requirements-dev.txt)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab (own cookies) whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()
