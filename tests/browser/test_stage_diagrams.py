"""The instance page of the shipped method in Chromium: the stage diagrams in the method's order,
and the negotiation (too big to read at its fitted size) opened on what is active, with zoom,
"see everything" and "see what is active"."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS, serve, sign_in
from tests.conftest import deploy
from tests.scenarios.method import DELEGATE, DIRECTION, PARTNER, Walk, add_people
from tests.scenarios.method import PASSWORD as DEMO

pytestmark = pytest.mark.browser


# ---------------------------------------------------------------- the method's stages, readable


@pytest.fixture
def negotiating(pf, clock):
    """The shipped method; a partnership in its negotiation, the second draft to write."""
    deploy(pf, pf.method_files())
    add_people(pf)
    walk = Walk.propose(pf, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.complete(DELEGATE, "write_draft")
    walk.complete(PARTNER, "comment_draft")
    walk.complete(DIRECTION, "validate_draft", "new_version")
    return walk


@pytest.fixture
def live_server(pf, negotiating):  # the shipped method, not the fixtures' world
    yield from serve(pf)


def test_the_stages_come_in_the_method_s_order_and_the_negotiation_opens_readable(
        page, negotiating):
    sign_in(page, DIRECTION, DEMO)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/instances/{negotiating.main_instance_id}/diagramme")
    page.wait_for_function("() => [...document.querySelectorAll('.instance-viewer')]"
                           ".every(v => v.dataset.ready === 'true')", timeout=15000)
    headings = [h.split(" v")[0] for h in page.locator(".diagram-block h2").all_inner_texts()]
    assert headings == ["Cycle de partenariat", "L'idée première", "L'élaboration", "La négociation"]
    block = page.locator(".diagram-block").nth(3)
    viewer = block.locator(".instance-viewer")

    def state():
        """The negotiation viewer's scale, and whether each active element is in view."""
        return page.evaluate("""(el) => {
            const box = el.getBoundingClientRect();
            const active = [...el.querySelectorAll('.djs-element.pf-active')].map(e => {
                const r = e.getBoundingClientRect();
                return r.left >= box.left && r.right <= box.right && r.top >= box.top &&
                       r.bottom <= box.bottom;
            });
            const m = el.querySelector('svg .viewport').getAttribute('transform') || '';
            const scale = parseFloat((m.match(/matrix\\(([^,\\s]+)/) || [0, 1])[1]);
            return {scale, active};
        }""", viewer.element_handle())

    opened = state()
    assert opened["scale"] >= 0.6  # readable, not the whole diagram shrunk to a stamp
    assert opened["active"] and all(opened["active"])  # what waits is in view
    block.locator("button[data-action=fit]").click()
    fitted = state()
    assert fitted["scale"] < opened["scale"]
    block.locator("button[data-action=zoom-in]").click()
    assert state()["scale"] > fitted["scale"]
    block.locator("button[data-action=focus]").click()
    assert all(state()["active"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    block.screenshot(path=str(SCREENSHOTS / "instance_negotiation.png"))
