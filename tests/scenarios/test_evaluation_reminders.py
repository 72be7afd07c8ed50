"""Evaluations appear in the steering group's inbox ahead of their dates, once."""

from __future__ import annotations

from partnerflow.engine.method import reminders
from partnerflow.engine.runtime import queries
from tests.scenarios.method import STEERING, Walk


def _reminders(pf, days=14):
    with pf.uow() as uow:
        return reminders.start_evaluation_reminders(uow, days_ahead=days)


def test_each_evaluation_date_brings_a_preparation_task_ahead_of_time_and_only_once(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L2")
    walk.write_sheets("single_plan", [walk.samples.action_sheet(1, 30, 200)])
    assert _reminders(method) == []  # a month ahead: not yet
    clock.advance(days=20)
    started = _reminders(method)
    assert [(r.kind, r.sheet_number) for r in started] == [("intermédiaire", "1")]
    assert _reminders(method) == []  # once per date
    with method.read() as session:
        titles = [r.title for r in queries.inbox(session, STEERING, clock())]
    assert any(t.startswith("Préparer l'évaluation intermédiaire du ") and "fiche 1" in t
               for t in titles), titles
