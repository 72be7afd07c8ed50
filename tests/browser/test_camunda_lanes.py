"""A diagram drawn in Camunda Modeler by someone else, whose lanes are "Manager" and
"Employee", goes through the browser: the designer uploads it, maps each lane to one of the
organisation's groups at the mapping step, deploys; then each task is offered to that lane's
group and completed from the inbox, the joint review (`camunda:candidateGroups="direction,
professional"`) by either group, and the instance ends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine.store.models import HumanTask, ProcessInstance, ProcessVersion
from tests.browser.conftest import sign_in
from tests.conftest import FIXTURES
from tests.web.support import start

pytestmark = pytest.mark.browser
LEAVE = FIXTURES / "lanes" / "leave_request.bpmn"


def _sign_out(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion**")


def _inbox_titles(page) -> list[str]:
    page.goto("/")
    return page.locator("table.tasks tbody a").all_inner_texts()


def _complete_from_inbox(page, title: str) -> None:
    page.goto("/")
    page.locator("table.tasks a", has_text=title).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == title
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_url("**/")


def test_lanes_manager_and_employee_are_mapped_at_upload_and_the_tasks_done_in_the_inbox(
        page, world):
    pf = world.pf
    sign_in(page, "denis")  # a process designer
    page.goto("/modeleur/")
    page.set_input_files("#files", str(LEAVE))
    page.get_by_role("button", name="Valider et déployer").click()
    page.wait_for_load_state()

    # the mapping step: one row per lane named after no group, nothing deployed yet
    assert page.locator("h1").inner_text() == "Associer les couloirs aux groupes"
    assert "Déploiement refusé" not in page.inner_text("#main")
    rows = page.locator("tbody tr").all_inner_texts()
    assert any("Manager" in r and "Approve the request" in r for r in rows), rows
    assert any("Employee" in r and "File the paper copy" in r for r in rows), rows
    with pf.read() as db:
        assert db.scalar(select(ProcessVersion).where(
            ProcessVersion.process_key == "Process_leave_request")) is None
    page.select_option("select[name='lane:Manager']", "direction")
    page.select_option("select[name='lane:Employee']", "professional")
    page.get_by_role("button", name="Associer et déployer").click()
    page.wait_for_load_state()
    with pf.read() as db:
        version = db.scalar(select(ProcessVersion).where(
            ProcessVersion.process_key == "Process_leave_request"))
    assert version is not None
    assert version.lane_mapping == {"Manager": "direction", "Employee": "professional"}
    _sign_out(page)

    # an instance of it on a partnership (no page starts a process other than the method's)
    [first] = start(pf, world.own, "Process_leave_request")

    # Manager -> direction: claire has it, sophie (professional) does not
    sign_in(page, "sophie")
    assert "Approve the request" not in _inbox_titles(page)
    _sign_out(page)
    sign_in(page, "claire")
    assert "Approve the request" in _inbox_titles(page)
    _complete_from_inbox(page, "Approve the request")
    assert "Prepare the handover" not in _inbox_titles(page)
    _sign_out(page)

    # Employee -> professional: the user task, then the manual task of the same lane
    sign_in(page, "sophie")
    _complete_from_inbox(page, "Prepare the handover")
    assert "File the paper copy" in _inbox_titles(page)
    _complete_from_inbox(page, "File the paper copy")
    # the joint review is offered to both groups; the professional takes it
    assert "Review together" in _inbox_titles(page)
    _sign_out(page)
    sign_in(page, "claire")
    assert "Review together" in _inbox_titles(page)
    _sign_out(page)
    sign_in(page, "sophie")
    _complete_from_inbox(page, "Review together")
    assert "Review together" not in _inbox_titles(page)

    with pf.read() as db:
        task = db.get(HumanTask, first)
        instance = db.get(ProcessInstance, task.instance_id)
        done = db.execute(select(HumanTask.title, HumanTask.completed_by).where(
            HumanTask.instance_id == instance.id).order_by(HumanTask.id)).all()
    assert instance.status == "completed"
    assert [tuple(r) for r in done] == [
        ("Approve the request", "claire"), ("Prepare the handover", "sophie"),
        ("File the paper copy", "sophie"), ("Review together", "sophie")]
