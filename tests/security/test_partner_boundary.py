"""A user who is a partner of one partnership and also holds another role (auditor, board,
professional, steering group, direction) does not act as a partner on another
partnership: its partner tasks are not theirs to complete, draft, claim, open or download
from. What the other role grants by itself stays granted: the auditor and the direction
read every audit log, its exports and diagrams; the auditor reads every task without its
form; the direction acts on the direction's tasks everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from partnerflow.engine import access
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import HumanTask
from tests.conftest import deploy, make_user
from tests.web.support import PASSWORD, csrf_token, inbox_ids, start, task_row, text_of

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PAIRS = ["auditor", "board", "professional", "steering", "direction"]
AUDIT_READERS = {"auditor", "direction"}


def _mixed(role: str) -> str:
    return f"partenaire.{role}"


@pytest.fixture
def boundary(world):
    """Per role, a user who is also a partner, attached to `own` only; one partner task in
    each partnership."""
    pf = world.pf
    deploy(pf, [FIXTURES / "partner_review.bpmn"])
    for role in PAIRS:
        make_user(pf, _mixed(role), "partner", role, password=PASSWORD)
        with pf.uow() as uow:
            services.attach_member(uow, partnership_id=world.own, username=_mixed(role), actor="ines")
    [world.extra["partner_other"]] = start(pf, world.other, "partner_review")
    [world.extra["partner_own"]] = start(pf, world.own, "partner_review")
    world.extra["instance_other"] = task_row(pf, world.extra["partner_other"]).instance_id
    return world


def _reads(w) -> dict[str, str]:
    task, pid = w.extra["partner_other"], w.other
    return {
        "task page": f"/taches/{task}",
        "task document": f"/taches/{task}/document/{w.doc_other}",
        "task history": f"/taches/{task}/historique",
        "audit page": f"/partenariats/{pid}/audit",
        "json lines export": f"/partenariats/{pid}/audit.jsonl",
        "csv export": f"/partenariats/{pid}/audit.csv",
        "printable report": f"/partenariats/{pid}/rapport",
        "pdf export": f"/partenariats/{pid}/rapport.pdf",
        "instance diagram": f"/instances/{w.extra['instance_other']}/diagramme",
        "instance executions": f"/instances/{w.extra['instance_other']}/executions.json",
    }


def _expected_read(route: str, role: str) -> int:
    if route == "task page":
        # the auditors and the direction read every open task, form closed (the direction
        # reassigns or releases from there)
        return 200 if role in ("auditor", "direction") else 403
    if route == "task document":
        return 403
    return 200 if role in AUDIT_READERS else 403


@pytest.mark.parametrize("role", PAIRS, ids=[f"partner+{r}" for r in PAIRS])
def test_a_partner_with_another_role_stays_within_their_partnership(boundary, as_user, role):
    w = boundary
    username = _mixed(role)
    client = as_user(username)
    partner_other = w.extra["partner_other"]

    for route, path in _reads(w).items():
        response = client.get(path)
        assert response.status_code == _expected_read(route, role), (route, text_of(response)[-400:])
        if response.status_code == 403:
            assert "Accès refusé" in text_of(response)
        if route == "task page" and response.status_code == 200:
            body = text_of(response)
            assert 'name="action"' not in body and "Valider et terminer" not in body

    token = csrf_token(client, "/")
    for action, path, data in [
            ("complete", f"/taches/{partner_other}", {"action": "complete", "decision": "done"}),
            ("draft", f"/taches/{partner_other}", {"action": "draft", "comment": "brouillon"}),
            ("claim", f"/taches/{partner_other}/prendre", {})]:
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, (action, text_of(response)[-400:])
    row = task_row(w.pf, partner_other)
    assert (row.state, row.claimed_by, row.draft, row.completed_by) == ("open", None, None, None)
    assert partner_other not in inbox_ids(w.pf, username)

    # their own partnership's partner task stays theirs
    partner_own = w.extra["partner_own"]
    assert partner_own in inbox_ids(w.pf, username)
    response = client.post(f"/taches/{partner_own}",
                           data={"action": "complete", "decision": "done", "csrf_token": token})
    assert response.status_code == 302
    assert task_row(w.pf, partner_own).completed_by == username
    if role == "direction":  # and the direction's tasks of every partnership stay the direction's
        response = client.post(f"/taches/{w.task_other}",
                               data={"action": "complete", "decision": "done", "csrf_token": token})
        assert response.status_code == 302
        assert task_row(w.pf, w.task_other).completed_by == username


@pytest.mark.parametrize("role", PAIRS, ids=[f"partner+{r}" for r in PAIRS])
def test_the_services_refuse_the_partner_task_of_another_partnership(boundary, role):
    w = boundary
    pf, task_id, username = w.pf, w.extra["partner_other"], _mixed(role)
    with pf.read() as db:
        user = services.get_user(db, username)
        task = task_row(pf, task_id)
        who = access.actor_of(db, user)
        assert not services.may(db, user, "act", task)
        assert not access.may_act(who, task, ignore_claim=True)
        assert not access.may(who, "offered", task) and not access.may(who, "reassign_to", task)
        with pytest.raises(services.Forbidden):
            services.task_for_actor(db, task_id=task_id, actor=username)
        own = task_row(pf, w.extra["partner_own"])
        assert services.may(db, user, "act", own) and access.may(who, "offered", own)
    for use_case in (services.claim_task, services.save_draft):
        kwargs = {"data": {"comment": "x"}} if use_case is services.save_draft else {}
        with pf.uow() as uow, pytest.raises(services.Forbidden):
            use_case(uow, task_id=task_id, actor=username, **kwargs)
    with pf.uow() as uow, pytest.raises(services.Forbidden):
        services.complete_task(uow, task_id=task_id, actor=username, data={"decision": "done"})
    assert task_row(pf, task_id).state == "open"


def test_a_task_offered_to_partner_and_board_is_granted_by_board_alone(boundary):
    """The boundary holds only when partner is the ONLY group a user matches."""
    pf, task_id = boundary.pf, boundary.extra["partner_other"]
    with pf.uow() as uow:
        uow.session.get(HumanTask, task_id).candidate_groups = "partner,board"
        uow.commit()
    task = task_row(pf, task_id)
    board_partner = access.Actor(_mixed("board"), frozenset({"partner", "board"}),
                                 frozenset({boundary.own}))
    steering_partner = access.Actor(_mixed("steering"), frozenset({"partner", "steering"}),
                                    frozenset({boundary.own}))
    assert access.may_act(board_partner, task)
    assert not access.may_act(steering_partner, task)
    assert task.id in inbox_ids(pf, _mixed("board"))
    assert task.id not in inbox_ids(pf, _mixed("steering"))


def test_a_partner_representative_named_on_another_partnerships_task_cannot_act(boundary):
    """A name in camunda:assignee does not carry a partner user across the boundary."""
    pf, task_id = boundary.pf, boundary.extra["partner_other"]
    with pf.uow() as uow:
        uow.session.get(HumanTask, task_id).assignee = "paul"
        uow.commit()
    assert task_id not in inbox_ids(pf, "paul")
    with pf.uow() as uow, pytest.raises(services.Forbidden):
        services.complete_task(uow, task_id=task_id, actor="paul", data={"decision": "done"})
