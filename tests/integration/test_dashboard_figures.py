"""The dashboard's figures kept as tasks are completed (engine/method/figures.py): a
completion changes the time per stage and the evaluation dates at once, in its own
transaction; the year shown slides (the worker drops what falls out of it); the figures kept
agree with a recomputation from the task rows."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import func, select

from partnerflow.engine.method import dashboard, figures
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow, Worker
from partnerflow.engine.store import alembic_config, upgrade
from partnerflow.engine.store.models import EvaluationDate, HumanTask, TaskDuration, TaskDurationBucket
from tests.conftest import FIXTURES, deploy, make_user


@pytest.fixture
def rounds(fixture_pf):
    deploy(fixture_pf, [FIXTURES / "sheets_round.bpmn"])
    make_user(fixture_pf, "claire", "direction")
    with fixture_pf.uow() as uow:
        pid = services.create_partnership(uow, title="Ateliers mémoire", actor="claire")
    return fixture_pf, pid


def _round(pf, pid: int, days_open: float, sheets: list[dict]) -> int:
    """One round of action sheets: started now, completed `days_open` days later."""
    with pf.uow() as uow:
        instance = services.start_instance(uow, partnership_id=pid, process_key="stage_action_sheets",
                                           actor="claire", data={})
    with pf.read() as db:
        task_id = db.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance,
                                                       HumanTask.state == "open"))
    pf.clock.advance(days=days_open)
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="claire", data={"action_sheets": sheets})
    return task_id


def _times(pf):
    now = pf.clock()
    with pf.read() as db:
        return [(r.stage, r.tasks, r.median_days, r.slowest_days, r.slowest_task_id)
                for r in dashboard.time_per_stage(db, since=now - figures.DURATION_WINDOW)]


def _dates(pf):
    today = pf.clock().date()
    with pf.read() as db:
        return [(r.due, r.which, r.title) for r in dashboard.evaluations_due(db, today, 90)
                if r.source == "sheet"]


def test_a_completion_changes_the_time_per_stage_and_the_evaluation_dates_at_once(rounds):
    pf, pid = rounds
    assert _times(pf) == [] and _dates(pf) == []
    first = _round(pf, pid, 2, [{"title": "Chorale", "intermediate_evaluation_date": "2026-04-01",
                                 "final_evaluation_date": "2027-01-10"}])
    assert _times(pf) == [("action_sheets", 1, 2.0, 2.0, first)]
    today = pf.clock().date()
    assert _dates(pf) == [(today.replace(month=4, day=1), "intermediate", "Chorale")]
    # a second round, open 4 days: the median of 2 and 4 days, the slowest the second; its
    # sheets replace the first round's dates
    second = _round(pf, pid, 4, [{"title": "Jardin", "intermediate_evaluation_date": "2026-03-20"},
                                 {"title": "Sorties", "final_evaluation_date": "2026-05-02"}])
    assert _times(pf) == [("action_sheets", 2, 3.0, 4.0, second)]
    assert [(d.isoformat(), w, t) for d, w, t in _dates(pf)] == [
        ("2026-03-20", "intermediate", "Jardin"), ("2026-05-02", "final", "Sorties")]
    # a third, as slow as the second: the slowest stays the first of the two
    _round(pf, pid, 4, [])
    assert _times(pf) == [("action_sheets", 3, 4.0, 4.0, second)]
    assert _dates(pf) == []  # the latest round gives no date


def test_the_year_slides_and_the_worker_drops_what_falls_out_of_it(rounds):
    pf, pid = rounds
    first = _round(pf, pid, 1, [])
    pf.clock.advance(days=200)
    _round(pf, pid, 3, [])
    assert [row[:4] for row in _times(pf)] == [("action_sheets", 2, 2.0, 3.0)]
    pf.clock.advance(days=170)  # the first round was completed more than a year ago
    # exact before the worker comes round: the rows it has not dropped are left out
    assert [row[:4] for row in _times(pf)] == [("action_sheets", 1, 3.0, 3.0)]
    Worker(pf, mailer=None).run_round()
    with pf.read() as db:
        assert db.get(TaskDuration, first) is None
        assert db.scalar(select(func.sum(TaskDurationBucket.tasks))) == 1
    assert [row[:4] for row in _times(pf)] == [("action_sheets", 1, 3.0, 3.0)]


def test_the_median_is_read_by_rank_across_buckets_as_the_database_would_sort(rounds):
    """Times spread over many buckets, several in one: the kept figures give the median and
    the slowest a sort of every time open gives, and a rebuild from the task rows keeps the
    same counts."""
    pf, pid = rounds
    spans = [0.0003, 0.01, 0.5, 0.52, 0.53, 1, 2, 2, 2.01, 7, 30, 90]
    for n, days in enumerate(spans):
        _round(pf, pid, days, [])
        expected = sorted(spans[:n + 1])
        middle = expected[n // 2] if n % 2 == 0 else (expected[n // 2] + expected[n // 2 + 1]) / 2
        [(stage, tasks, median, slowest, _)] = _times(pf)
        assert (stage, tasks, median, slowest) == ("action_sheets", n + 1, round(middle, 2),
                                                   round(max(expected), 2))
    with pf.read() as db:
        kept = sorted(db.execute(select(TaskDurationBucket.stage, TaskDurationBucket.bucket,
                                        TaskDurationBucket.tasks)).all())
    with pf.uow() as uow:
        figures.rebuild(uow.session, pf.clock())
        uow.commit()
    with pf.read() as db:
        assert sorted(db.execute(select(TaskDurationBucket.stage, TaskDurationBucket.bucket,
                                        TaskDurationBucket.tasks)).all()) == kept
    assert len(kept) > 5


def test_buckets_are_ten_percent_wide_from_one_minute():
    assert figures.bucket_of(0) == 0 and figures.bucket_of(0.5 / 1440) == 0
    assert figures.bucket_of(1 / 1440) == 1
    assert figures.bucket_of(1.1 / 1440) == 2
    assert figures.bucket_of(3650) == 163
    days = [n / 1440 for n in range(1, 5000, 7)]
    assert [figures.bucket_of(d) for d in days] == sorted(figures.bucket_of(d) for d in days)


def _kept(pf) -> dict:
    """The figures' rows, without their surrogate keys."""
    with pf.read() as db:
        return {
            "durations": sorted(tuple(r) for r in db.execute(select(
                TaskDuration.task_id, TaskDuration.partnership_id, TaskDuration.stage,
                TaskDuration.bucket, TaskDuration.days, TaskDuration.completed_at))),
            "buckets": sorted(tuple(r) for r in db.execute(select(
                TaskDurationBucket.stage, TaskDurationBucket.bucket, TaskDurationBucket.tasks))),
            "dates": sorted(tuple(r) for r in db.execute(select(
                EvaluationDate.partnership_id, EvaluationDate.task_id, EvaluationDate.which,
                EvaluationDate.due, EvaluationDate.title))),
        }


def test_the_migration_fills_the_figures_as_the_completions_keep_them(settings, clock, tmp_path):
    """A database upgraded from before the kept figures gets, from its task rows, the very
    rows the completions would have written (the migration keeps its own copy of the rules)."""
    url = f"sqlite:///{tmp_path / 'figures.db'}"
    upgrade(url)
    pf = Partnerflow(settings.with_(database_url=url, forms_dir=FIXTURES / "forms",
                                    bpmn_dir=FIXTURES), clock=clock)
    try:
        deploy(pf, [FIXTURES / "sheets_round.bpmn"])
        make_user(pf, "claire", "direction")
        with pf.uow() as uow:
            pid = services.create_partnership(uow, title="Ateliers mémoire", actor="claire")
        # the latest round's sheets carry the evaluation dates kept
        for days, sheets in ((0.5, []), (40, []),
                             (2, [{"title": "Chorale", "final_evaluation_date": "2027-01-10"}]),
                             (13.25, [{"title": "Jardin", "intermediate_evaluation_date": "2026-05-02",
                                       "final_evaluation_date": "2026-11-30"}])):
            _round(pf, pid, days, sheets)
        kept = _kept(pf)
    finally:
        pf.dispose()
    assert kept["durations"] and kept["buckets"] and kept["dates"]
    command.downgrade(alembic_config(url), "0020")
    upgrade(url)
    again = Partnerflow(settings.with_(database_url=url), clock=clock)
    try:
        assert _kept(again) == kept
    finally:
        again.dispose()
