"""Every page of the demo, for each role, in one browser: no page scrolls sideways on a 390 px
phone nor at 1 366 px, axe-core finds no violation in French or in English, the skip link
takes the keyboard to the first task, and the accessibility statement is one click away.

Each distinct page (a Flask endpoint) is visited once per role, reached by following the
links a user of that role sees from the inbox; downloads (PDF, CSV, documents) are left out.
axe-core comes from the npm devDependency in web/assets (node_modules/axe-core), injected
into every page by the test, never served by the application."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.serving import make_server

from partnerflow.engine.config import Settings
from partnerflow.engine.method.demo import DEMO_PASSWORD, load_demo
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store import upgrade
from partnerflow.web import create_app
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import ROOT, TEST_SECRET_KEY

pytestmark = pytest.mark.browser
AXE = ROOT / "web" / "assets" / "node_modules" / "axe-core" / "axe.min.js"
# one account per role of the demo: direction, the delegate, a partner, the board, the
# steering committee, the designer-administrator, the auditor
ROLES = ["claire.martin", "karim.benali", "paul.lefevre", "anne.roux", "lucas.moreau",
         "ines.garcia", "marc.petit"]
# endpoints that answer a file, or change something on GET-less pages
SKIPPED = re.compile(r"document|export|pdf|csv|jsonl|certificate|signed_convention|static|download"
                     r"|health|ready|metrics|xml|source|\.json$")

FILES = re.compile(r"\.(pdf|csv|jsonl|json|xlsx|ods|bpmn|dmn|png|svg|txt|html?)$")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    """The demo (`partnerflow demo`) on its own SQLite file, served once for the module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    upgrade(url)
    pf = Partnerflow(Settings(database_url=url, secret_key=TEST_SECRET_KEY, step_time_limit_s=5.0))
    load_demo(pf)
    app = create_app(partnerflow=pf, TESTING=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    pf.dispose()


class Visit:
    """One signed-in context with the network and console guards of tests/browser/conftest.py."""

    def __init__(self, browser, base: str, username: str, width: int):
        self.base, self.username, self.problems = base, username, []
        self.context = browser.new_context(viewport={"width": width, "height": 900},
                                           locale="fr-FR", base_url=base)
        self.context.set_default_timeout(8000)
        self.context.route("**/*", self._guard)
        self.context.add_init_script(path=str(AXE))
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.problems.append(f"{self.page.url}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.goto("/connexion")
        self.page.fill("#username", username)
        self.page.fill("#password", DEMO_PASSWORD)
        self.page.click("button[type=submit].primary")
        self.page.wait_for_url("**/")

    def _guard(self, route):
        url = route.request.url
        if url.startswith(self.base + "/") or url.startswith("data:"):
            route.continue_()
        else:
            self.problems.append(f"left the site: {url}")
            route.abort()

    def language(self, lang: str) -> None:
        self.page.goto("/")
        with self.page.expect_navigation():
            self.page.click(f"form.lang button[value={lang}]")

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], "\n".join(self.problems)


def _endpoint(app, path: str) -> str | None:
    adapter = app.url_map.bind("127.0.0.1")
    try:
        endpoint, _ = adapter.match(urlsplit(path).path, method="GET")
    except (HTTPException, RequestRedirect):
        return None
    return None if SKIPPED.search(endpoint) or FILES.search(urlsplit(path).path) else endpoint


def pages_of(app, visit: Visit, checked: set[str], violations: dict, limit: int = 60) -> dict[str, str]:
    """One path per endpoint a user reaches by following links from the inbox, in the order
    met; each page is checked as it is met (no error status, no sideways scroll), and axe-core
    runs on the endpoints no earlier role had `checked`."""
    found: dict[str, str] = {}
    queue = ["/"]
    while queue and len(found) < limit:
        path = queue.pop(0)
        endpoint = _endpoint(app, path)
        if endpoint is None or endpoint in found:
            continue
        response = visit.page.goto(path)
        assert response.status < 400, f"{path}: {response.status}"
        found[endpoint] = path
        assert_fits(visit.page, path)
        if endpoint not in checked:
            checked.add(endpoint)
            axe(visit, path, violations)
        hrefs = visit.page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        queue += [h.split("#")[0] for h in hrefs if h.startswith("/") and not h.startswith("//")]
    return found


def assert_fits(page, path: str) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{path} is {width[0]} px wide in a {width[1]} px window"


def axe_violations(page) -> list[str]:
    return page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' '))
        .join(' | ')}`)""")


# Swagger UI draws the API's documentation: its faults are a declared exception of the
# accessibility statement (the OpenAPI description gives the same content)
AXE_EXCEPTIONS = ("/api/docs",)


def axe(visit: Visit, path: str, violations: dict) -> None:
    if path.startswith(AXE_EXCEPTIONS):
        assert "Swagger UI" in ACCESSIBILITY_STATEMENT.read_text(encoding="utf-8")
        return
    found = axe_violations(visit.page)
    if found:
        violations[f"{visit.username} {visit.page.evaluate('document.documentElement.lang')} {path}"] = found


ACCESSIBILITY_STATEMENT = Path(__file__).resolve().parents[2] / "web" / "templates" / "accessibility.html"


def test_no_page_scrolls_sideways_and_axe_finds_nothing_for_any_role_in_either_language(
        browser, demo_site):
    """Each role follows its links on a 390 px phone: no page is wider than the screen, and
    axe-core checks each distinct page the first time a role reaches it. Then each role's
    context widens to 1 366 px (where the administration once reached 1 593 px), switches to
    English, and the pages it was first to reach are checked again, width and axe-core."""
    app, base = demo_site
    checked: set[str] = set()
    violations: dict[str, list[str]] = {}
    visits, first_reached = [], {}
    for username in ROLES:
        visit = Visit(browser, base, username, 390)
        visits.append(visit)
        for endpoint, path in pages_of(app, visit, checked, violations).items():
            first_reached.setdefault(endpoint, (username, path))
    # the pages once reported too wide: the inbox, a partnership, a task form, the dashboard...
    assert {"inbox.index", "partnerships.show", "tasks.show", "dashboard.index",
            "admin.users", "audit.timeline"} <= set(first_reached), first_reached
    for visit in visits:
        visit.page.set_viewport_size({"width": 1366, "height": 900})
        visit.language("en")
        for path in (path for who, path in first_reached.values() if who == visit.username):
            visit.page.goto(path)
            assert visit.page.evaluate("document.documentElement.lang") == "en", path
            assert_fits(visit.page, path)
            axe(visit, path, violations)
        visit.close()
    assert violations == {}, "\n".join(f"{where}: {found}" for where, found in violations.items())


def test_the_skip_link_reaches_the_first_task_in_a_few_tab_presses(browser, demo_site):
    app, base = demo_site
    visit = Visit(browser, base, "claire.martin", 1366)
    page = visit.page
    page.goto("/")
    first_task = page.locator("table.tasks a[href^='/taches/']").first.get_attribute("href")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.locator("a.skip").inner_text() == "Aller à la liste des tâches"
    assert page.locator("a.skip").is_visible()
    page.keyboard.press("Enter")
    presses = 1
    while page.evaluate("document.activeElement.getAttribute('href')") != first_task:
        page.keyboard.press("Tab")
        presses += 1
        assert presses <= 4, "the first task is still out of reach"
    # the statement is linked from every page's footer, and names its RGAA level
    page.click("footer a[href='/accessibilite']")
    assert "partiellement conforme" in page.locator("main").inner_text()
    visit.close()


def test_the_accessibility_statement_follows_the_rgaa_outline(browser, demo_site):
    app, base = demo_site
    visit = Visit(browser, base, "marc.petit", 390)
    visit.page.goto("/accessibilite")
    headings = visit.page.locator("main h2").all_inner_texts()
    assert headings[:3] == ["État de conformité", "Résultats des tests", "Contenus non accessibles"]
    assert "Retour d’information et contact" in headings and "Voies de recours" in headings
    assert_fits(visit.page, "/accessibilite")
    assert axe_violations(visit.page) == []
    visit.close()


def test_the_documentation_screenshots_come_from_the_demo(browser, demo_site):
    """docs/screenshots/ (PARTNERFLOW_SCREENSHOTS=docs/screenshots): the direction's inbox,
    dashboard and map, and the delegate's task form, each one screen high, kept small."""
    app, base = demo_site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {"claire.martin": [("/", "inbox.png"), ("/tableau-de-bord", "dashboard.png"),
                               ("/carte/graphe", "map.png")],
             "karim.benali": [(None, "task_form.png")]}
    for username, pages in shots.items():
        visit = Visit(browser, base, username, 1280)
        for path, name in pages:
            if path is None:  # the delegate's first open task
                visit.page.goto("/")
                path = visit.page.locator("table.tasks a[href^='/taches/']").first.get_attribute("href")
            visit.page.goto(path)
            visit.page.wait_for_load_state("networkidle")
            visit.page.screenshot(path=str(SCREENSHOTS / name), full_page=False)
            assert 10_000 < (SCREENSHOTS / name).stat().st_size < 400_000, name
        visit.close()
