"""Notifications (assignment, overdue, reminder, escalation, e-mail retries, digest) and the
background worker (one timer per transaction, clean stop on SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from partnerflow.engine.runtime import notifications, services
from partnerflow.engine.runtime.host import Partnerflow, Worker
from partnerflow.engine.store.models import (
    AuditEvent,
    HumanTask,
    Notification,
    ProcessInstance,
    User,
)
from tests.conftest import FIXTURES, announce, deploy, make_user


class FakeMailer:
    """Records what would be sent; fails the first `failures` sends."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("smtp down")
        self.sent.append((to, subject, body))


def _with_smtp(pf: Partnerflow, clock) -> Partnerflow:
    return Partnerflow(pf.settings.with_(smtp_host="smtp.example.org", digest_hour_utc=6), clock=clock)


def _people(pf, with_email: bool = True) -> None:
    for name, roles in [("claire", ("direction",)), ("hugo", ("direction",)), ("old", ("direction",)),
                        ("sophie", ("professional",)), ("paul", ("partner",)), ("pia", ("partner",))]:
        make_user(pf, name, *roles)
    with pf.uow() as uow:
        for user in uow.session.scalars(select(User)):
            user.email = f"{user.username}@example.org" if with_email else None
            user.active = user.username != "old"
        uow.commit()


def _partnership(pf, title="EHPAD et lycée") -> int:
    with pf.uow() as uow:
        return services.create_partnership(uow, title=title, actor="claire")


def _start(pf, pid, key="review_loop", data=None) -> int:
    with pf.uow() as uow:
        return services.start_instance(uow, partnership_id=pid, process_key=key, actor="claire",
                                       data=data if data is not None else {"rounds": 0})


def _notes(pf, **where) -> list[Notification]:
    announce(pf)  # the worker tells whoever may act on the new tasks
    with pf.read() as session:
        query = select(Notification)
        for key, value in where.items():
            query = query.where(getattr(Notification, key) == value)
        return list(session.scalars(query.order_by(Notification.username, Notification.id)))


@pytest.fixture
def people(fixture_pf):
    _people(fixture_pf)
    deploy(fixture_pf, [FIXTURES / "review_loop.bpmn", FIXTURES / "timer_only.bpmn"])
    return fixture_pf


def test_a_step_writes_no_notification_and_the_worker_announces_each_new_task_once(people):
    pid = _partnership(people)
    iid = _start(people, pid)
    with people.read() as session:
        task = session.scalars(select(HumanTask)).one()
        assert session.scalars(select(Notification)).all() == []
        assert task.announced is False
    version = task.row_version
    workers = [Worker(people, mailer=None) for _ in range(2)]
    assert workers[0].run_round().announced == 1
    assert workers[1].run_round().announced == 0  # nothing left: never told twice
    with people.read() as session:
        assert sorted(n.username for n in session.scalars(select(Notification))) == ["claire", "hugo"]
        task = session.get(HumanTask, task.id)
        # the form the direction opened before the announcement is still valid
        assert task.announced is True and task.row_version == version
    # a task that closes before the worker comes round is marked, and nobody is told of it
    with people.uow() as uow:
        services.complete_task(uow, task_id=task.id, actor="claire", data={"decision": "again"})
    with people.read() as session:
        [second] = session.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                           HumanTask.state == "open")).all()
    with people.uow() as uow:
        services.complete_task(uow, task_id=second.id, actor="claire", data={"decision": "done"})
    assert workers[0].run_round().announced == 1
    with people.read() as session:
        assert session.scalars(select(Notification).where(Notification.task_id == second.id)).all() == []
        assert session.get(HumanTask, second.id).announced is True


def test_a_role_task_notifies_every_active_user_of_the_role_in_app_only_without_smtp(people):
    pid = _partnership(people)
    _start(people, pid)
    notes = _notes(people)
    assert [n.username for n in notes] == ["claire", "hugo"]  # "old" is inactive
    with people.read() as session:
        task = session.scalars(select(HumanTask)).one()
    for note in notes:
        assert (note.kind, note.link, note.task_id, note.partnership_id) == (
            "task_assigned", f"/taches/{task.id}", task.id, pid)
        assert note.email_status == "skipped" and note.read_at is None
        # the subject names the partnership: a list of subjects says where each task is
        assert note.subject == "Nouvelle tâche : Relire le document — EHPAD et lycée"
        assert "« EHPAD et lycée »" in note.body and f"/taches/{task.id}" in note.body


def test_assignee_and_partner_recipients(people):
    own, other = _partnership(people), _partnership(people, "Autre")
    with people.uow() as uow:
        services.attach_member(uow, partnership_id=own, username="paul", actor="claire")
    with people.read() as session:
        offered = HumanTask(role="partner", candidate_groups="partner", partnership_id=own)
        assert [u.username for u in notifications.recipients_for_task(session, offered)] == ["paul"]
        elsewhere = HumanTask(role="partner", candidate_groups="partner", partnership_id=other)
        assert notifications.recipients_for_task(session, elsewhere) == []
        named = HumanTask(role="direction", assignee="sophie", partnership_id=own)
        assert [u.username for u in notifications.recipients_for_task(session, named)] == ["sophie"]
        both = HumanTask(role="direction", candidate_groups="direction,professional", partnership_id=own)
        assert [u.username for u in notifications.recipients_for_task(session, both)] == [
            "claire", "hugo", "sophie"]


def test_emails_are_retried_with_backoff_then_marked_failed(people, clock):
    pf = _with_smtp(people, clock)
    try:
        _start(pf, _partnership(pf))
        assert {n.email_status for n in _notes(pf)} == {"pending"}
        mailer = FakeMailer(failures=10)
        worker = Worker(pf, mailer=mailer)
        waits = []
        for _attempt in range(5):
            worker.run_round()
            [claire] = _notes(pf, username="claire")
            if claire.next_attempt_at is not None:
                wait = claire.next_attempt_at.replace(tzinfo=UTC) - clock.now
                waits.append(wait)
                clock.advance(seconds=wait.total_seconds())
        [claire] = _notes(pf, username="claire")
        assert waits == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
                         timedelta(hours=2)]
        assert (claire.email_status, claire.attempts) == ("failed", 5)
        assert "smtp down" in claire.last_error
        assert mailer.sent == []
    finally:
        pf.dispose()


def test_an_email_is_sent_once_and_a_failure_never_touches_the_workflow(people, clock):
    pf = _with_smtp(people, clock)
    try:
        _start(pf, _partnership(pf))
        mailer = FakeMailer(failures=1)
        worker = Worker(pf, mailer=mailer)
        worker.run_round()
        claire, hugo = _notes(pf)
        assert (claire.email_status, claire.attempts, hugo.email_status) == ("pending", 1, "sent")
        assert [to for to, _s, _b in mailer.sent] == ["hugo@example.org"]
        clock.advance(minutes=1)
        worker.run_round()
        worker.run_round()
        assert sorted(to for to, _s, _b in mailer.sent) == ["claire@example.org", "hugo@example.org"]
        assert {n.email_status for n in _notes(pf)} == {"sent"}
        with pf.read() as session:
            assert session.scalars(select(HumanTask.state)).all() == ["open"]
    finally:
        pf.dispose()


def test_digest_users_get_one_mail_a_day_listing_unread_notifications(people, clock):
    pf = _with_smtp(people, clock)
    try:
        with pf.uow() as uow:
            notifications.set_digest(uow, username="hugo", enabled=True)
        pid = _partnership(pf)
        _start(pf, pid)
        _start(pf, pid)
        hugo = _notes(pf, username="hugo")
        assert [n.email_status for n in hugo] == ["digest", "digest"]
        with pf.uow() as uow:
            notifications.mark_read(uow, username="hugo", notification_id=hugo[0].id)
        mailer = FakeMailer()
        worker = Worker(pf, mailer=mailer)
        worker.run_round()  # 09:00, today's digest moment (06:00) is before the notifications
        assert [to for to, _s, _b in mailer.sent] == ["claire@example.org"] * 2
        clock.set(datetime(2026, 3, 3, 6, 1, tzinfo=UTC))
        worker.run_round()
        worker.run_round()
        digests = [m for m in mailer.sent if m[0] == "hugo@example.org"]
        assert len(digests) == 1
        _to, subject, body = digests[0]
        assert subject == "Partnerflow : 1 notification(s) non lue(s)"
        assert body.count("Nouvelle tâche : Relire le document") == 1
        assert {n.email_status for n in _notes(pf, username="hugo")} == {"sent"}
    finally:
        pf.dispose()


def test_overdue_tasks_are_signalled_once_without_changing_the_task_version(people, clock):
    _start(people, _partnership(people))
    with people.read() as session:
        task = session.scalars(select(HumanTask)).one()
    worker = Worker(people, mailer=FakeMailer())
    assert worker.run_round().overdue == 0
    clock.advance(days=2, minutes=1)
    assert worker.run_round().overdue == 1
    assert worker.run_round().overdue == 0
    overdue = _notes(people, kind="task_overdue")
    assert [n.username for n in overdue] == ["claire", "hugo"]
    assert overdue[0].subject == "Tâche en retard : Relire le document — EHPAD et lycée"
    with people.read() as session:
        row = session.get(HumanTask, task.id)
        assert row.overdue_notified is True and row.row_version == task.row_version
    with people.uow() as uow:  # a form opened before the signal still submits
        services.complete_task(uow, task_id=task.id, actor="claire", data={"decision": "done"},
                               expected_version=task.row_version)


def test_a_failing_notification_never_stops_the_workflow(people, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("recipients unavailable")

    monkeypatch.setattr(notifications, "recipients_for_task", broken)
    instance_id = _start(people, _partnership(people))
    with people.read() as session:
        assert session.scalars(select(HumanTask.instance_id)).all() == [instance_id]
        assert session.scalar(select(func.count()).select_from(Notification)) == 0


def test_timers_fire_one_instance_per_transaction_and_never_twice(people, clock):
    pid = _partnership(people)
    ids = [_start(people, pid, "timer_only", {}) for _ in range(12)]
    with people.uow() as uow:
        services.cancel_instance(uow, instance_id=ids[0], actor="claire", reason="test")
    clock.advance(hours=1, seconds=1)
    workers = [Worker(people, mailer=FakeMailer()) for _ in range(2)]
    threads = [threading.Thread(target=w.run_round) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with people.read() as session:
        fired = dict(session.execute(select(AuditEvent.instance_id, func.count()).where(
            AuditEvent.type == "timer_fired").group_by(AuditEvent.instance_id)).all())
        tasks = dict(session.execute(select(HumanTask.instance_id, func.count()).where(
            HumanTask.element_id == "after_timer").group_by(HumanTask.instance_id)).all())
        pending = session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.next_timer_at.is_not(None), ProcessInstance.status == "running"))
    assert fired == {i: 1 for i in ids[1:]} and tasks == {i: 1 for i in ids[1:]}
    assert pending == 0
    assert sum(w.run_round().timers for w in workers) == 0


def test_the_method_reminds_the_validator_then_escalates_to_the_whole_direction(pf, clock):
    from tests.scenarios.method import DIRECTION, Walk, add_people

    deploy(pf, pf.method_files())
    add_people(pf)
    Walk.propose(pf, clock)
    with pf.read() as session:
        direction = sorted(u.username for u in session.scalars(select(User)) if "direction" in u.role_keys
                           and u.active)
    assert DIRECTION in direction
    worker = Worker(pf, mailer=FakeMailer())
    clock.advance(days=3, minutes=1)
    worker.run_round()
    reminders = _notes(pf, kind="reminder")
    assert sorted(n.username for n in reminders) == direction
    assert reminders[0].subject.startswith("Relance : ")
    clock.advance(days=4)
    worker.run_round()
    escalations = _notes(pf, kind="escalation")
    assert sorted(n.username for n in escalations) == direction
    assert escalations[0].link.startswith("/taches/")


def test_the_worker_command_stops_cleanly_on_sigterm(fixture_pf, database_url, tmp_path):
    env = dict(os.environ, PARTNERFLOW_DATABASE_URL=database_url,
               PARTNERFLOW_FORMS_DIR=str(FIXTURES / "forms"), PARTNERFLOW_BPMN_DIR=str(FIXTURES))
    partnerflow = Path(sys.executable).parent / "partnerflow"
    process = subprocess.Popen([str(partnerflow), "worker", "--interval", "0.2"], env=env,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        first = process.stderr.readline()
        assert json.loads(first)["message"].startswith("worker started"), first
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        rest = [json.loads(line) for line in process.stderr.read().splitlines() if line.strip()]
        assert rest[-1]["message"] == "worker stopped"
        assert {"time", "level", "logger", "message"} <= set(rest[-1])
    finally:
        if process.poll() is None:
            process.kill()


def test_the_worker_verifies_every_chain_on_its_first_round_and_records_it(pf):
    from partnerflow.engine.store.models import AuditChainHead, AuditEvent, AuditVerification

    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        first = services.create_partnership(uow, title="Un", actor="claire")
        services.create_partnership(uow, title="Deux", actor="claire")
    with pf.db.begin() as conn:  # someone edits an event behind the log's back
        conn.execute(AuditEvent.__table__.update().where(
            AuditEvent.chain == f"p{first}").values(type="falsifié"))
    Worker(pf, mailer=None).run_round()
    with pf.read() as db:
        heads = set(db.scalars(select(AuditChainHead.chain)))
        rows = {r.chain: r for r in db.scalars(select(AuditVerification))}
    assert set(rows) == heads
    assert rows[f"p{first}"].intact is False and rows[f"p{first}"].first_break_seq == 1
    assert all(r.intact for chain, r in rows.items() if chain != f"p{first}")
    assert {r.verified_by for r in rows.values()} == {"worker"}
