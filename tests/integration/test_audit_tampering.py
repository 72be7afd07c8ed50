"""Tampering with the audit log directly in the database is found, event by event, and the
`partnerflow audit verify` command reports it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from partnerflow.engine import audit
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import AuditEvent, HumanTask
from tests.conftest import FIXTURES, deploy, make_user

EVENTS = AuditEvent.__table__


@pytest.fixture
def chain(fixture_pf):
    """A partnership whose review ran to the end: its chain holds several events."""
    pf = fixture_pf
    deploy(pf, [FIXTURES / "review_loop.bpmn"])
    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Réseau santé", actor="claire")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="claire", data={"rounds": 0})
    for decision in ("again", "done"):
        with pf.read() as session:
            task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid,
                                                                HumanTask.state == "open"))
        with pf.uow() as uow:
            services.complete_task(uow, task_id=task_id, actor="claire",
                                   data={"decision": decision, "comment": "relu"})
    name = audit.chain_for(pid)
    with pf.read() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).where(AuditEvent.chain == name)
                                    .order_by(AuditEvent.seq)))
    assert len(seqs) >= 8 and seqs == list(range(1, len(seqs) + 1))
    return pf, name, len(seqs)


def breaks(pf) -> list[audit.ChainBreak]:
    with pf.read() as session:
        return audit.verify(session)


def tamper(pf, statement) -> None:
    with pf.db.begin() as conn:
        result = conn.execute(statement)
        assert result.rowcount == 1


def at(name: str, seq: int):
    return (EVENTS.c.chain == name) & (EVENTS.c.seq == seq)


def test_an_untouched_database_verifies(chain):
    pf, _, _ = chain
    assert breaks(pf) == []


def test_an_updated_payload_is_named(chain):
    pf, name, _ = chain
    tamper(pf, update(EVENTS).where(at(name, 4)).values(payload={"title": "falsifié"}))
    [found] = breaks(pf)
    assert (found.chain, found.seq) == (name, 4)
    assert "altered" in found.reason


def test_a_deleted_middle_event_is_named(chain):
    pf, name, count = chain
    middle = count // 2
    tamper(pf, delete(EVENTS).where(at(name, middle)))
    [found] = breaks(pf)
    assert (found.chain, found.seq) == (name, middle)
    assert "missing" in found.reason


def test_two_swapped_events_are_named_at_the_first(chain):
    pf, name, _ = chain
    tamper(pf, update(EVENTS).where(at(name, 3)).values(seq=-3))
    tamper(pf, update(EVENTS).where(at(name, 5)).values(seq=3))
    tamper(pf, update(EVENTS).where(at(name, -3)).values(seq=5))
    [found] = breaks(pf)
    assert (found.chain, found.seq) == (name, 3)


def test_a_deleted_last_event_is_named_through_the_chain_head(chain):
    pf, name, count = chain
    tamper(pf, delete(EVENTS).where(at(name, count)))
    [found] = breaks(pf)
    assert (found.chain, found.seq) == (name, count)
    assert "deleted" in found.reason


def test_tampering_with_one_partnership_leaves_the_system_chain_intact(chain):
    pf, name, _ = chain
    tamper(pf, update(EVENTS).where(at(name, 2)).values(actor="mallory"))
    assert [b.chain for b in breaks(pf)] == [name]
    with pf.read() as session:
        assert audit.verify(session, None) and all(
            b.chain != audit.SYSTEM_CHAIN for b in audit.verify(session))


@pytest.fixture
def cli(chain, monkeypatch):
    from partnerflow.web.cli import main

    pf, _, _ = chain
    monkeypatch.setenv("PARTNERFLOW_DATABASE_URL", pf.settings.database_url)
    monkeypatch.setenv("PARTNERFLOW_FORMS_DIR", str(FIXTURES / "forms"))
    monkeypatch.setenv("PARTNERFLOW_BPMN_DIR", str(FIXTURES))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_the_audit_verify_command_says_intact(cli):
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit chain intact" in result.output
    assert "BROKEN" not in result.output


def test_the_audit_verify_command_exits_1_and_prints_broken(chain, cli):
    pf, name, _ = chain
    tamper(pf, update(EVENTS).where(at(name, 4)).values(payload={"title": "falsifié"}))
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN" in result.output
    assert f"chain {name}, event #4" in result.output


def test_the_steps_of_an_instance_and_the_data_before_each_step_are_its_own(chain):
    # what the instance diagram and the task history read back from the audit log: the
    # events of that instance only, and for each task the data it itself started from
    from partnerflow.engine.runtime import auditlog
    from partnerflow.engine.store.models import ProcessInstance

    pf, _, _ = chain
    with pf.uow() as uow:
        other = services.create_partnership(uow, title="Foyer et mairie", actor="claire")
    with pf.uow() as uow:
        other_iid = services.start_instance(uow, partnership_id=other, process_key="review_loop",
                                            actor="claire", data={"rounds": 0})
    with pf.read() as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == other_iid,
                                                            HumanTask.state == "open"))
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="claire",
                               data={"decision": "done", "comment": "autre instance"})
    with pf.read() as session:
        [iid] = session.scalars(select(ProcessInstance.id).where(ProcessInstance.id != other_iid))
        done = session.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                       HumanTask.state == "completed")
                               .order_by(HumanTask.id)).all()
        steps = [s for runs in auditlog.executions(session, iid).values() for s in runs]
        assert sum(s["type"] == "task_completed" for s in steps) == len(done) == 2
        assert all((s["data"] or {}).get("comment") != "autre instance" for s in steps)
        for task in done:
            before = auditlog.data_before(session, task)
            assert before.verified is True and before.data == task.context
        assert [task.context.get("rounds") for task in done] == [0, 1]  # not the same data


def test_the_instance_page_orders_the_called_stages_as_the_method_reaches_them():
    from partnerflow.engine.runtime import auditlog
    from tests.conftest import ROOT

    source = (ROOT / "bpmn" / "partnership_cycle.bpmn").read_text(encoding="utf-8")
    assert auditlog.calls_in_flow_order(source, "partnership_cycle") == [
        "stage_idea", "stage_elaboration", "stage_negotiation", "stage_action_sheets",
        "stage_realisation", "stage_evaluation"]
    assert auditlog.calls_in_flow_order(source, "no_such_process") == []
    assert auditlog.calls_in_flow_order("<not xml", "partnership_cycle") == []
