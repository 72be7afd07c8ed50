"""Who gets a user task and by when: lanes, candidate groups, assignee, due dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from partnerflow.engine.assignment import assign, parse_due

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make(lane=None, groups=(), assignee=None, due=None, data=None):
    return assign(lane=lane, candidate_groups=tuple(groups), assignee=assignee, due_date=due,
                  data=data or {}, created=CREATED)


@pytest.mark.parametrize("text, expected", [
    ("P5D", CREATED + timedelta(days=5)),
    ("P2W", CREATED + timedelta(days=14)),
    ("PT36H", CREATED + timedelta(hours=36)),
    ("P1DT2H30M", CREATED + timedelta(days=1, hours=2, minutes=30)),
])
def test_an_iso_duration_counts_from_the_task_creation(text, expected):
    assert parse_due(text, CREATED) == expected


def test_an_iso_date_means_the_end_of_that_day_in_utc():
    assert parse_due("2026-12-31", CREATED) == datetime(2026, 12, 31, 23, 59, tzinfo=UTC)


def test_an_iso_date_time_is_kept_and_made_utc_when_naive():
    assert parse_due("2026-04-01T10:30:00", CREATED) == datetime(2026, 4, 1, 10, 30,
                                                                 tzinfo=UTC)
    paris = parse_due("2026-04-01T10:30:00+02:00", CREATED)
    assert paris == datetime(2026, 4, 1, 8, 30, tzinfo=UTC)


def test_date_objects_from_task_data_are_accepted():
    assert parse_due(date(2026, 5, 1), CREATED) == datetime(2026, 5, 1, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", None, "P", "next week", "31/12/2026"])
def test_what_is_not_a_due_date_gives_no_due_date(text):
    assert parse_due(text, CREATED) is None


def test_a_due_date_variable_is_read_from_the_task_data():
    result = make(lane="Direction", due="${deadline}", data={"deadline": "P10D"})
    assert result.due_at == CREATED + timedelta(days=10)
    result = make(lane="Direction", due="${ deadline }", data={"deadline": "2026-06-30"})
    assert result.due_at == datetime(2026, 6, 30, 23, 59, tzinfo=UTC)


def test_a_missing_due_date_variable_gives_no_due_date():
    assert make(lane="Direction", due="${deadline}").due_at is None


@pytest.mark.parametrize("lane, role", [
    ("Direction", "direction"),
    ("DIRECTION", "direction"),
    ("Délégué(e) aux échanges", "delegate"),
    ("delegue aux echanges", "delegate"),
    ("Professionnel(le)", "professional"),
    ("Conseil d'administration", "board"),
    ("Comité de pilotage", "steering"),
    ("Partenaire", "partner"),
])
def test_a_lane_name_gives_the_role_ignoring_case_and_accents(lane, role):
    result = make(lane=lane)
    assert result.role == role
    assert result.candidate_groups == (role,)


def test_an_unknown_lane_gives_no_role_and_no_group():
    result = make(lane="Cuisine")
    assert result.role is None and result.candidate_groups == ()


def test_the_delegate_lane_follows_the_delegate_variable():
    result = make(lane="Délégué(e) aux échanges", data={"delegate": "claire.martin"})
    assert result.role == "delegate"
    assert result.assignee == "claire.martin"


def test_the_delegate_lane_without_a_delegate_variable_stays_open_to_the_role():
    assert make(lane="Délégué(e) aux échanges").assignee is None


def test_the_delegate_variable_does_not_assign_tasks_of_other_lanes():
    assert make(lane="Direction", data={"delegate": "claire.martin"}).assignee is None


def test_candidate_groups_override_the_lane():
    result = make(lane="Direction", groups=("board", "steering"))
    assert result.role == "board"
    assert result.candidate_groups == ("board", "steering")


def test_an_explicit_assignee_wins_over_the_delegate_variable():
    result = make(lane="Délégué(e) aux échanges", assignee="paul",
                  data={"delegate": "claire.martin"})
    assert result.assignee == "paul"


def test_an_assignee_variable_is_read_from_the_task_data():
    assert make(lane="Direction", assignee="${referent}",
                data={"referent": "lea"}).assignee == "lea"
    assert make(lane="Direction", assignee="${referent}").assignee is None
