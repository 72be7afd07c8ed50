"""The map's graph with 500 partner organisations: drawn without a console error, its first
relationships (at most map.GRAPH_SIZE) each with its organisation as a node, the page saying
how many there are; filters redraw it; the dashboard renders its charts without JavaScript."""

from __future__ import annotations

import time

import pytest

from partnerflow.engine.method import map_io, registry
from partnerflow.web.map import GRAPH_SIZE
from tests import map_data
from tests.browser.conftest import SCRATCH, sign_in

pytestmark = pytest.mark.browser
PARTNERS = 500


@pytest.fixture
def big_map(world):
    pf = world.pf
    with pf.uow() as uow:
        registry.create_organisation(uow, actor="claire", data={
            "name": "Association Les Tilleuls (EHPAD et IME)", "is_own": "1"})
    table = map_data.rows(PARTNERS)
    for i, row in enumerate(table[:12]):  # a few conventions due soon, for the dashboard
        row["Renouvellement"] = f"{10 + i}/04/2026"
    with pf.uow() as uow:
        sha = map_io.store_upload(uow, filename="carte.csv", content=map_data.to_csv(table),
                                  actor="claire", max_bytes=pf.settings.max_upload_bytes)
    with pf.uow() as uow:
        result = map_io.confirm(uow, sha256=sha, actor="claire")
    assert result.added == PARTNERS
    return world


def test_the_graph_draws_500_organisations_and_filters_redraw_it(page, big_map):
    sign_in(page, "claire")
    started = time.monotonic()
    page.goto("/carte/graphe")
    page.wait_for_selector("#graph[data-ready=true]", timeout=15000)
    elapsed = time.monotonic() - started
    assert page.evaluate("window.partnerflowGraph.nodes().length") == GRAPH_SIZE + 1
    assert page.evaluate("window.partnerflowGraph.edges().length") == GRAPH_SIZE
    assert elapsed < 8, f"the graph took {elapsed:.1f}s"
    assert (f"{GRAPH_SIZE + 1} organisations, les {GRAPH_SIZE} premières relations sur {PARTNERS}"
            in page.locator("#graph-status").inner_text())
    SCRATCH.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCRATCH / "map.png"), full_page=True)
    # a filter redraws the graph with the partners of that kind only (every third row)
    page.select_option("select[name=kind]", "cooperation")  # marks the graph not ready at once
    page.wait_for_selector("#graph[data-ready=true]")
    cooperations = min(len(range(1, PARTNERS, 3)), GRAPH_SIZE)
    assert page.evaluate("window.partnerflowGraph.edges().length") == cooperations
    assert page.evaluate("window.partnerflowGraph.nodes().length") == cooperations + 1
    assert "kind=cooperation" in page.url
    # clicking a relationship opens its edit page (no partnership attached)
    edge_url = page.evaluate("window.partnerflowGraph.edges()[0].data('url')")
    assert edge_url.startswith("/carte/relations/")
    with page.expect_navigation(url="**" + edge_url):
        # deferred, so that the evaluation returns before the page goes away
        page.evaluate("setTimeout(function () { window.partnerflowGraph.edges()[0].emit('tap'); }, 0)")


def test_the_dashboard_draws_its_charts_on_the_server(page, big_map):
    sign_in(page, "claire")
    page.goto("/tableau-de-bord")
    # charts whose bars are links are groups of links (an image cannot hold focusable links)
    assert page.locator("svg.chart[role=group]").count() >= 1
    assert page.locator("table.expiring tbody tr").count() == 12
    page.set_viewport_size({"width": 1280, "height": 1100})
    page.screenshot(path=str(SCRATCH / "dashboard.png"), full_page=True)
    page.locator("#chart-stages a").first.click()
    page.wait_for_url("**/partenariats/?stage=idea&status=active")
