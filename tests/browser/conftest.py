"""Browser tests: Python Playwright driving Debian's chromium against a fresh app per test,
served on 127.0.0.1; any request leaving the live server, console error or page error fails."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from partnerflow.web import create_app
from tests.web.support import PASSWORD, build_world, fast_passwords

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Screenshots go to a scratch folder; PARTNERFLOW_SCREENSHOTS=docs/screenshots refreshes
# the ones the documentation shows (a test run leaves the work tree as it found it).
SCREENSHOTS = Path(os.environ.get("PARTNERFLOW_SCREENSHOTS")
                   or Path(tempfile.gettempdir()) / "partnerflow-screenshots")
# what a test looks at without it being one the documentation shows (those come from the demo,
# tests/browser/test_every_page.py)
SCRATCH = Path(tempfile.gettempdir()) / "partnerflow-screenshots"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real chromium through Playwright")


def pytest_collection_modifyitems(config, items):
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is not installed"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed"
    if reason:
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_passwords(monkeypatch)


@pytest.fixture
def world(fixture_pf):
    return build_world(fixture_pf)


def serve(pf):
    """Serve the real app on 127.0.0.1:<free port> in a background thread (a generator)."""
    app = create_app(partnerflow=pf, TESTING=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def live_server(fixture_pf, world):
    yield from serve(fixture_pf)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser, live_server):
    """`new_page(width, height)`: a fresh context; off-site requests are aborted and recorded,
    console errors and page errors are collected; all must be empty at the end."""
    contexts, external, errors = [], [], []
    allowed: set[int] = set()  # statuses a test expects a page to answer (a 422 form)

    def on_console(message):
        if message.type != "error":
            return
        status = re.search(r"status of (\d{3})", message.text)
        if status and int(status.group(1)) in allowed and message.location.get("url", "").startswith(
                live_server):
            return
        errors.append(message.text)

    def guard(route):
        url = route.request.url
        if url.startswith(live_server + "/") or url.startswith("data:"):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    def make(width: int = 1280, height: int = 800):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR",
                                      base_url=live_server)
        context.set_default_timeout(5000)
        context.route("**/*", guard)
        contexts.append(context)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.status not in allowed
                and r.request.resource_type != "document" else None)
        page.allow_status = allowed.add
        return page

    yield make
    for context in contexts:
        context.close()
    assert external == [], f"the page tried to reach the network: {external}"
    assert errors == [], f"console or page errors: {errors}"


@pytest.fixture
def page(new_page):
    return new_page()


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/connexion")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/")
