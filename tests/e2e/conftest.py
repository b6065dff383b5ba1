"""Browser-test fixtures shared by every module under tests/e2e: one live server and one headless
chromium per test process (each xdist worker has its own), started on first use and stopped at the
end of the session. Each test gets the same `server` URL and `browser`; the contexts (windows) a
test opened are closed after it, so tests never see each other's cookies or pages."""
from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run"]


@pytest.fixture(scope="session")
def _live_server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def server(_live_server):
    """The base URL of the live application (shared by the tests of this process)."""
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
