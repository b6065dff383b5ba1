"""Shared browser-test fixtures: one live server and one headless chromium per test process (each
xdist worker has its own; a test's contexts are closed after it, so tests never share cookies), log-in and
screenshot helpers, and the two viewports every page is checked at (desktop 1440×900, phone 390×844).
Screenshots land in test-artifacts/ (named by database) for people to look at."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run"]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "Demo@2026"


@pytest.fixture(scope="session")
def _live_server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def server(_live_server):
    """The base URL of the live application (one per test process, shared by its tests)."""
    return _live_server


@pytest.fixture(scope="session")
def _chromium():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium is required in CI (/usr/bin/chromium)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright
    playwright = sync_playwright().start()
    try:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
    finally:
        playwright.stop()


@pytest.fixture
def browser(_chromium):
    """The process's chromium; whatever contexts the test opens are closed when it ends."""
    yield _chromium
    for context in list(_chromium.contexts):
        context.close()


def new_page(browser, viewport=None, *, console_errors: bool = False):
    """A fresh context: uncaught page errors collected (and console errors, CSP violations among
    them, when asked); confirm() dialogs before irreversible submits accepted."""
    phone = (viewport or DESKTOP)["width"] < 768
    context = browser.new_context(viewport=viewport or {"width": 1440, "height": 1000}, locale="zh-CN",
                                  is_mobile=phone, has_touch=phone)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if console_errors:
        page.on("console", lambda m: errors.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.on("dialog", lambda d: d.accept())
    return page, errors


def login(browser, base, username, viewport=None, *, landing: str | None = "/inbox", console_errors=False):
    page, errors = new_page(browser, viewport, console_errors=console_errors)
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    if landing:
        page.wait_for_url(f"{base}{landing}")
    else:
        page.wait_for_load_state("networkidle")
    return page, errors


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{os.environ.get('TEST_DB', 'sqlite')}-{name}.png"), full_page=True)


def open_first_task(page, base):
    page.goto(f"{base}/inbox")
    page.locator("[data-testid=inbox-table] a:has-text('办理')").first.click()
    page.wait_for_selector("[data-testid=submit-task]")


def overflow(page) -> int:
    """How far the page scrolls sideways (0: it fits the window). Measured against the device width:
    a phone browser widens its layout viewport (innerWidth) to content that does not fit."""
    return page.evaluate("document.documentElement.scrollWidth") - page.viewport_size["width"]
