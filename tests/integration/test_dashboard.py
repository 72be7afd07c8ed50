"""The dashboard's figures against a dataset built by hand: every expected number is exact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from partnerflow.engine.method import dashboard, figures
from partnerflow.engine.store.models import (
    HumanTask,
    Organisation,
    Partnership,
    ProcessInstance,
    ProcessVersion,
    Relationship,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the test clock
TODAY = NOW.date()


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Seed:
    def __init__(self, session):
        self.session = session
        self.version = ProcessVersion(process_key="seed", kind="bpmn", name="Seed", version=1,
                                      filename="seed.bpmn", source="", source_hash="0" * 64,
                                      content_hash="0" * 64, dependencies={}, deployed_at=NOW)
        session.add(self.version)
        session.flush()
        self.n = 0
        self.instances: dict[int, int] = {}

    def partnership(self, stage: str, status: str = "active", title: str | None = None) -> int:
        self.n += 1
        p = Partnership(title=title or f"P{self.n} {stage}", kind="partnership", stage=stage,
                        status=status, created_at=NOW)
        self.session.add(p)
        self.session.flush()
        instance = ProcessInstance(partnership_id=p.id, version_id=self.version.id, process_key="seed",
                                   status="running", workflow_state={}, started_at=NOW,
                                   waiting_messages=[])
        self.session.add(instance)
        self.session.flush()
        self.instances[p.id] = instance.id
        return p.id

    def task(self, partnership_id: int, *, stage: str | None = None, role: str = "direction",
             state: str = "open", due: datetime | None = None, created: datetime = NOW,
             completed: datetime | None = None, form_key: str | None = None,
             result: dict | None = None, title: str = "Tâche") -> None:
        self.n += 1
        instance_id = self.instances[partnership_id]
        self.session.add(HumanTask(
            instance_id=instance_id, partnership_id=partnership_id, task_uuid=f"t{self.n}",
            process_key="seed", element_id=f"e{self.n}", title=title, stage=stage, role=role,
            form_key=form_key, due_at=due, sort_due=due or datetime(9999, 12, 31, tzinfo=UTC),
            created_at=created, state=state, completed_at=completed, result=result, context={}))


@pytest.fixture
def seeded(pf):
    with pf.uow() as uow:
        s = Seed(uow.session)
        # partnerships: 2 idea, 1 elaboration, 3 negotiation, 1 evaluation are active
        idea = [s.partnership("idea") for _ in range(2)]
        s.partnership("idea", status="archived")
        elaboration = s.partnership("elaboration")
        negotiation = [s.partnership("negotiation") for _ in range(3)]
        evaluation = s.partnership("evaluation", title="Ateliers mémoire")
        sheets = s.partnership("realisation", status="ended")
        s.partnership("realisation", status="ended")
        # overdue open tasks: direction 3, delegate 1, steering 2
        for due in ("2026-03-01", "2026-02-01", "2026-03-02T08:59:00"):
            s.task(idea[0], stage="idea", due=day(due))
        s.task(elaboration, stage="elaboration", role="delegate", due=day("2026-02-27"))
        s.task(evaluation, stage="evaluation", role="steering", due=day("2026-02-28"))
        # not overdue: due later, no due date, completed late, cancelled late
        s.task(idea[1], stage="idea", due=day("2026-03-03"))
        s.task(idea[1], stage="idea", role="professional")
        s.task(negotiation[0], stage="negotiation", state="cancelled", due=day("2026-01-01"),
               completed=day("2026-01-05"))
        # completed tasks: idea 1 d, 2 d, 6 d; elaboration 0.5 d, 1.5 d; negotiation 10 d
        base = day("2026-02-01")
        for hours, stage, pid in ((24, "idea", idea[0]), (48, "idea", idea[1]), (144, "idea", idea[1]),
                                  (12, "elaboration", elaboration), (36, "elaboration", elaboration),
                                  (240, "negotiation", negotiation[2])):
            s.task(pid, stage=stage, state="completed", created=base,
                   completed=base + timedelta(hours=hours))
        s.task(idea[0], stage="idea", state="completed", due=day("2026-01-02"),
               created=day("2025-01-01"), completed=day("2025-02-01"))  # more than a year ago
        # evaluations: two open evaluation tasks, and the action sheets of the latest round
        s.task(evaluation, stage="evaluation", role="steering", form_key="intermediate_evaluation",
               due=day("2026-03-10"), title="Évaluation intermédiaire")
        s.task(negotiation[1], stage="evaluation", role="steering", form_key="final_evaluation",
               due=day("2026-02-20"), title="Évaluation finale")
        old_round = {"action_sheets": [{"title": "Ancienne", "intermediate_evaluation_date": "2026-03-03"}]}
        s.task(evaluation, stage="action_sheets", state="completed", form_key="action_sheets",
               created=day("2025-06-01"), completed=day("2025-06-02"), result=old_round)
        latest = {"action_sheets": [
            {"title": "Jardin partagé", "intermediate_evaluation_date": "2026-04-15",
             "final_evaluation_date": "2026-09-30"},
            {"title": "Chorale", "intermediate_evaluation_date": "2026-03-05"}]}
        s.task(evaluation, stage="action_sheets", state="completed", form_key="action_sheets",
               created=day("2025-12-01"), completed=day("2025-12-03"), result=latest)
        s.task(sheets, stage="action_sheets", state="completed", form_key="action_sheets",
               created=day("2025-12-01"), completed=day("2025-12-03"),
               result={"action_sheets": [{"title": "Fini", "intermediate_evaluation_date": "2026-03-04"}]})
        # the map: 2 conventions due within 90 days (31 May is the 90th day)
        own = Organisation(name="Les Tilleuls", kind="association", is_own=True, archived=False)
        partners = [Organisation(name=n, kind="ehpad", is_own=False, archived=False)
                    for n in ("EHPAD Les Lilas", "Mairie de Pantin", "Collège Jean Jaurès",
                              "IME Saint-Vincent", "Centre hospitalier de Bondy")]
        uow.session.add_all([own, *partners])
        uow.session.flush()
        for partner, kind, end, renewal, archived in (
                (partners[0], "cooperation", None, "2026-03-20", False),
                (partners[1], "partnership", "2026-05-31", "2027-01-01", False),
                (partners[2], "partnership", "2026-06-01", None, False),
                (partners[3], "network", None, "2026-02-01", False),
                (partners[4], "partnership", "2026-04-01", None, True)):
            uow.session.add(Relationship(organisation_id=own.id, partner_id=partner.id, kind=kind,
                                         convention_end=end and day(end),
                                         renewal_date=renewal and day(renewal), archived=archived))
        figures.rebuild(uow.session, NOW)  # the rows above were written without completions
        uow.commit()
    return pf


def test_partnerships_per_stage(seeded):
    with seeded.read() as db:
        rows = dashboard.partnerships_per_stage(db)
    assert [(r.key, r.count) for r in rows] == [("idea", 2), ("elaboration", 1), ("negotiation", 3),
                                                ("action_sheets", 0), ("realisation", 0),
                                                ("evaluation", 1)]


def test_overdue_tasks_per_role(seeded):
    with seeded.read() as db:
        rows = dashboard.overdue_per_role(db, NOW)
    assert [(r.key, r.count) for r in rows] == [("direction", 3), ("delegate", 1), ("steering", 2)]


def test_time_spent_per_stage(seeded):
    with seeded.read() as db:
        rows = dashboard.time_per_stage(db, since=NOW - timedelta(days=365))
    # the older action-sheet round (June 2025) is within the year; the January 2025 idea is not
    assert [(r.stage, r.tasks, r.median_days, r.slowest_days) for r in rows] == [
        ("idea", 3, 2.0, 6.0), ("elaboration", 2, 1.0, 1.5), ("negotiation", 1, 10.0, 10.0),
        ("action_sheets", 3, 2.0, 2.0)]


def test_conventions_expiring_within_90_days(seeded):
    with seeded.read() as db:
        rows = dashboard.conventions_expiring(db, TODAY, 90)
    assert [(r.partner, r.convention_end, r.renewal_date) for r in rows] == [
        ("EHPAD Les Lilas", None, date(2026, 3, 20)),
        ("Mairie de Pantin", date(2026, 5, 31), date(2027, 1, 1))]


def test_evaluations_due(seeded):
    with seeded.read() as db:
        rows = dashboard.evaluations_due(db, TODAY, 90)
    assert [(r.due, r.source, r.which, r.title, r.overdue) for r in rows] == [
        (date(2026, 2, 20), "task", "final", "Évaluation finale", True),
        (date(2026, 3, 5), "sheet", "intermediate", "Chorale", False),
        (date(2026, 3, 10), "task", "intermediate", "Évaluation intermédiaire", False),
        (date(2026, 4, 15), "sheet", "intermediate", "Jardin partagé", False)]
