"""The instance diagram in Chromium: markers on completed, active and taken elements."""

from __future__ import annotations

import pytest

from partnerflow.engine.runtime import auditlog
from tests.browser.conftest import sign_in
from tests.web.support import complete

pytestmark = pytest.mark.browser


def test_the_instance_diagram_marks_what_ran_and_what_waits(page, world):
    complete(world.pf, world.task_own, "claire", {"decision": "again"})
    with world.pf.read() as session:
        instance_id = next(e.instance_id for e in auditlog.timeline(session, world.own)
                           if e.type == "instance_started")
    sign_in(page, "alice")
    page.goto(f"/instances/{instance_id}/diagramme")
    page.wait_for_selector(".instance-viewer[data-ready=true]", timeout=10000)
    markers = page.evaluate("""() => {
        const canvas = document.querySelector('.instance-viewer');
        const marked = (cls) => [...canvas.querySelectorAll('.' + cls)].map(e => e.dataset.elementId).sort();
        return {completed: marked('pf-completed'), active: marked('pf-active')};
    }""")
    assert "review" in markers["active"]
    assert {"count_round", "decide", "start"} <= set(markers["completed"])
    assert "flow_again" in markers["completed"]  # the loop back was taken
    page.locator("[data-element-id=count_round]").first.click()
    page.wait_for_selector("#executions:not([hidden])")
    assert "Script exécuté" in page.inner_text("#executions-list")  # what ran, in words

