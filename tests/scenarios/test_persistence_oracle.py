"""The persistence oracle (tests/oracle.py) sees a skipped write: with each of the rules that
pick the task rows `WorkflowRun.changes()` writes dropped in turn, a walk makes it fail (of
the method, or for "parent_of_removed" of two branches resumed after a failure); with all
of them, the same walk goes through with every step checked, even when the wall clock is
set back between a restore and the step that follows."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from partnerflow.engine.runtime import services
from partnerflow.engine.spiff import WorkflowRun
from partnerflow.engine.spiff import runtime as adapter
from partnerflow.engine.store.models import HumanTask
from tests.conftest import deploy, make_user
from tests.integration.test_connectors import HEAD
from tests.oracle import PersistenceOracle
from tests.scenarios.method import BOARD, DELEGATE, DIRECTION, HOSPITAL, LES_TILLEULS, PARTNER, PROPOSER, Walk
from tests.scenarios.samples import BOARD_CHAIR
from tests.scenarios.test_negotiation_paths import TOWN, TOWN_PARTNER, orgs  # noqa: F401


def _walk(method, clock) -> None:
    """The idea sent back once and answered, reminded by its timer, then accepted; the
    mission letter written."""
    walk = Walk.propose(method, clock)
    walk.complete(DIRECTION, "validate_idea", "more_info")
    walk.complete(PROPOSER, "complete_idea", idea_completion_note="Sans coût pour l'EHPAD.")
    clock.advance(days=3, minutes=1)
    assert walk.fire_timers() == 1
    walk.accept_idea()
    walk.complete(DIRECTION, "write_mission_letter")


@pytest.fixture
def collecting(persistence_oracle) -> PersistenceOracle:
    """The scenarios' oracle (tests/scenarios/conftest.py), recording rather than failing."""
    persistence_oracle.collect = True
    return persistence_oracle


def test_the_walk_goes_through_with_every_step_checked(method, clock, collecting):
    _walk(method, clock)
    assert collecting.checks >= 6 and collecting.mismatches == []


def _parallel_signatures(method, clock) -> None:
    """A convention signed by two partner organisations in parallel with our legal
    representative: the signing step runs once per party (a multi-instance task, STARTED
    while its instances are open)."""
    walk = Walk.propose(method, clock, title="Parcours seniors du territoire")
    with method.uow() as uow:
        services.attach_member(uow, partnership_id=walk.pid, username=TOWN_PARTNER,
                               actor=DIRECTION)
    walk.to_negotiation()
    walk.criteria("L3")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "write_convention",
                  parties=[dict(LES_TILLEULS, **BOARD_CHAIR), dict(HOSPITAL), dict(TOWN)])
    walk.complete(BOARD, "deliberate_board", "approve")
    tasks = {t.context["signing_party_name"]: t for t in walk.inbox(PARTNER)}
    for username, party in ((PARTNER, HOSPITAL), (TOWN_PARTNER, TOWN)):
        walk.complete(username, "sign_convention_partner", task_id=tasks[party["legal_name"]].id)
    walk.complete(BOARD, "sign_convention_legal_representative")


def _dropping(rules, method, clock, oracle, monkeypatch, walk=_walk) -> tuple[int, bool]:
    """The differences the oracle finds on one walk with `rules` dropped, and whether the
    walk stopped on an error (rows so far gone that the engine cannot go on)."""
    before = oracle.differences
    monkeypatch.setattr(WorkflowRun, "row_rules", WorkflowRun.ROW_RULES - set(rules))
    try:
        walk(method, clock)
        stopped = False
    except Exception:  # noqa: BLE001 - the walk stops once rows are lost; the oracle saw it
        stopped = True
    return oracle.differences - before, stopped


class _SetBack:
    """The time module as the adapter sees it, an hour ahead of the moments SpiffWorkflow
    stamps its state changes with: as if the wall clock were set back an hour after every
    restore and every write (a correction of the system clock, a virtual machine moved)."""

    def __getattr__(self, name):
        return getattr(time, name)

    def time(self) -> float:
        return time.time() + 3600


def test_a_wall_clock_set_back_between_restore_and_step_loses_nothing(
        method, clock, collecting, monkeypatch):
    # a rule reading "state changed since the restore" off the wall clock wrote nothing
    # here: a user task completed was restored open, with its data gone
    monkeypatch.setattr(adapter, "time", _SetBack())
    _walk(method, clock)
    assert collecting.checks >= 6 and collecting.mismatches == []


def test_the_oracle_fails_once_the_rows_of_new_tasks_are_skipped(method, clock, collecting,
                                                                 monkeypatch):
    # a new task has no earlier state to differ from: only "new" writes a predicted one,
    # without which the rows restore to a tree whose tasks lack their children
    differences, _ = _dropping({"new"}, method, clock, collecting, monkeypatch)
    assert differences > 0 and any("not restored from the rows" in m or "broken task tree" in m
                                   for m in collecting.mismatches)


def test_the_oracle_fails_once_the_rows_of_live_tasks_are_skipped(method, clock, orgs,  # noqa: F811
                                                                  collecting, monkeypatch):
    # the parallel signing step stays STARTED while each party signs: its row changes (the
    # instances done) with neither its state nor the moment of its last change
    assert _dropping(set(), method, clock, collecting, monkeypatch,
                     _parallel_signatures) == (0, False)
    differences, _ = _dropping({"live"}, method, clock, collecting, monkeypatch,
                               _parallel_signatures)
    assert differences > 0 and any("sign_partner_parties" in m for m in collecting.mismatches)


def test_the_oracle_fails_once_the_rows_of_tasks_whose_state_changed_are_skipped(
        method, clock, collecting, monkeypatch):
    differences, _ = _dropping({"state_changed"}, method, clock, collecting, monkeypatch)
    assert differences > 0 and collecting.mismatches


def _children_differences(oracle, since: int) -> set[str]:
    return {line.split(": children")[0].strip() for m in oracle.mismatches[since:]
            for line in m.splitlines() if ": children " in line}


# The parent of a new task: in every walk of the method its state changed in the same step
# as its child appeared (SpiffWorkflow adds children to a task it runs, completes or
# predicts again from a task whose state changed; measured over every scenario of
# tests/scenarios, no row was written by this rule alone). It is proven on top of dropping
# "state_changed": parents then restore without children they have in memory.
def test_the_oracle_sees_the_parents_of_new_tasks_lose_their_children(
        method, clock, collecting, monkeypatch):
    since = len(collecting.mismatches)
    alone, alone_stopped = _dropping({"state_changed"}, method, clock, collecting, monkeypatch)
    without_state = _children_differences(collecting, since)
    since = len(collecting.mismatches)
    both, _ = _dropping({"state_changed", "parent_of_new"}, method, clock, collecting,
                        monkeypatch)
    assert not alone_stopped and alone > 0
    assert _children_differences(collecting, since) - without_state, (both, alone)


# Two branches joined, a step after the join that fails on an answer of branch `a`: resumed
# from `a` and answered again, `a`'s new join takes over from the join `b` completed, which
# SpiffWorkflow empties of its children (UnstructuredJoin._run_hook, kept by the engine's
# SharedScopeParallelGateway) with neither its state nor the moment of its last change
# touched: only "parent_of_removed" writes that join's row again.
FORK = (HEAD + '''
  <bpmn:process id="fork" name="Deux branches" isExecutable="true">
    <bpmn:laneSet><bpmn:lane id="lane" name="Direction">
      <bpmn:flowNodeRef>a</bpmn:flowNodeRef><bpmn:flowNodeRef>b</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>after</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:parallelGateway id="split" />
    <bpmn:userTask id="a" name="Chiffrer">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="amount" label="Montant" type="long" />
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:userTask id="b" name="Relire" />
    <bpmn:parallelGateway id="join" />
    <bpmn:scriptTask id="check" name="Vérifier" scriptFormat="python">
      <bpmn:script>total = amount + 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="after" name="Conclure" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="a" />
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="b" />
    <bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="join" />
    <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="join" />
    <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="check" />
    <bpmn:sequenceFlow id="f7" sourceRef="check" targetRef="after" />
    <bpmn:sequenceFlow id="f8" sourceRef="after" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>''').encode()


def _resumed_branch(pf, clock) -> None:
    """`a` answered without its amount, `b` completed: the check after the join fails; the
    instance resumed from `a`, answered with the amount, runs to its end."""
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Deux branches", actor="claire")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="fork", actor="claire")

    def complete(element: str, data: dict) -> services.Completion:
        with pf.read() as session:
            task = session.scalars(select(HumanTask).where(
                HumanTask.instance_id == iid, HumanTask.element_id == element,
                HumanTask.state == "open")).one()
        with pf.uow() as uow:
            return services.complete_task(uow, task_id=task.id, actor="claire", data=data)

    complete("a", {})
    assert complete("b", {}).instance_status == "error"
    with pf.read() as session:
        [(uuid, _title)] = [p for p in services.resume_points(session, instance_id=iid)
                            if p[1] == "Chiffrer"]
    with pf.uow() as uow:
        assert services.resume_from_task(uow, instance_id=iid, task_uuid=uuid,
                                         actor="ines") == "running"
    assert complete("a", {"amount": 41}).instance_status == "running"
    assert complete("after", {}).instance_status == "completed"


@pytest.fixture
def forked(pf):
    make_user(pf, "claire", "direction")
    make_user(pf, "ines", "admin")
    deploy(pf, [("fork.bpmn", FORK)])
    return pf


def test_the_oracle_sees_a_join_keep_the_children_it_lost_when_a_branch_is_resumed(
        forked, clock, collecting, monkeypatch):
    assert _dropping(set(), forked, clock, collecting, monkeypatch, _resumed_branch) == (0, False)
    differences, _ = _dropping({"parent_of_removed"}, forked, clock, collecting, monkeypatch,
                               _resumed_branch)
    assert differences > 0
    # the join b completed restores with a child that no longer exists
    assert any(line.strip().startswith("join (") and ": children " in line
               for m in collecting.mismatches for line in m.splitlines()), collecting.mismatches
