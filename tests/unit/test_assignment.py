"""Who gets a user task and by when: lanes (by group key or label, or the version's lane
mapping), candidate groups and users, assignee, due dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from partnerflow.engine.access.groups import (
    METHOD_GROUPS,
    GroupNames,
    assign,
    parse_due,
    resolve_groups,
    role_for_lane,
)

CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
METHOD = GroupNames()
WITH_OWN = GroupNames([*((k, fr, en) for k, (fr, en) in METHOD_GROUPS.items()),
                       ("kitchen", "Cuisine", "Kitchen staff")])


@dataclass(frozen=True)
class Meta:
    groups: tuple = ()
    assignee: str | None = None
    due_date: str | None = None
    candidate_users: tuple = ()
    lane_group: str | None = None


def make(lane=None, groups=(), assignee=None, due=None, data=None, users=(), names=METHOD,
         mapping=None):
    resolved = resolve_groups(lane=lane, candidate_groups=tuple(groups), names=names, mapping=mapping)
    return assign(Meta(resolved, assignee, due, tuple(users), role_for_lane(lane, names, mapping)),
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


def test_the_delegate_lane_follows_the_delegate_variable_the_diagram_names():
    result = make(lane="Délégué(e) aux échanges", assignee="${delegate}",
                  data={"delegate": "claire.martin"})
    assert result.role == "delegate"
    assert result.assignee == "claire.martin"


def test_no_variable_is_read_that_the_diagram_does_not_name():
    # the diagram carries who is assigned (camunda:assignee); nothing is guessed in Python
    assert make(lane="Délégué(e) aux échanges", data={"delegate": "claire.martin"}).assignee is None


def test_every_task_of_the_method_in_the_delegate_lane_names_its_assignee():
    from pathlib import Path

    from lxml import etree

    bpmn, camunda = "{http://www.omg.org/spec/BPMN/20100524/MODEL}", "{http://camunda.org/schema/1.0/bpmn}"
    folder = Path(__file__).resolve().parents[2] / "bpmn"
    for path in folder.glob("*.bpmn"):
        root = etree.parse(str(path)).getroot()
        for lane in root.iter(f"{bpmn}lane"):
            if not (lane.get("name") or "").startswith("Délégu"):
                continue
            refs = {r.text.strip() for r in lane.iter(f"{bpmn}flowNodeRef")}
            for task in root.iter(f"{bpmn}userTask"):
                if task.get("id") in refs:
                    assert task.get(f"{camunda}assignee") == "${delegate}", (path.name, task.get("id"))


def test_the_delegate_lane_without_a_delegate_variable_stays_open_to_the_role():
    assert make(lane="Délégué(e) aux échanges").assignee is None


def test_the_delegate_variable_does_not_assign_tasks_of_other_lanes():
    assert make(lane="Direction", data={"delegate": "claire.martin"}).assignee is None


def test_candidate_groups_override_the_lane_which_still_names_the_role():
    # the committee's lane, offered to the direction and the committee's members by name
    result = make(lane="Comité de pilotage", groups=("direction",), users=("${committee}",),
                  data={"committee": ["lucas.moreau", "paul.lefevre"]})
    assert result.role == "steering"
    assert result.candidate_groups == ("direction",)
    assert result.candidate_users == ("lucas.moreau", "paul.lefevre")
    # without a lane, the first candidate group is the role
    result = make(groups=("board", "steering"))
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


@pytest.mark.parametrize("lane", ["Management", "management", "Steering committee"])
def test_a_lane_may_use_a_groups_english_label(lane):
    assert make(lane=lane).role in ("direction", "steering")


def test_a_lane_named_after_one_of_the_organisations_groups_gets_it():
    assert make(lane="cuisine", names=WITH_OWN).candidate_groups == ("kitchen",)
    assert make(lane="Kitchen Staff", names=WITH_OWN).candidate_groups == ("kitchen",)
    assert make(lane="Cuisine").candidate_groups == ()  # no such group


def test_the_versions_lane_mapping_gives_a_lane_its_group():
    mapping = {"Manager": "direction", "Employee": "professional"}
    assert make(lane="Manager", mapping=mapping).candidate_groups == ("direction",)
    assert make(lane="employee", mapping=mapping).candidate_groups == ("professional",)
    # the mapping wins over the name, and names only groups that exist
    assert make(lane="Direction", mapping={"Direction": "board"}).role == "board"
    assert make(lane="Manager", mapping={"Manager": "nobody"}).candidate_groups == ()


def test_candidate_groups_are_read_by_key_or_label_and_all_kept():
    result = make(groups=("direction", "Professionnel(le)"))
    assert result.candidate_groups == ("direction", "professional")
    assert result.role == "direction"


def test_candidate_users_are_read_from_names_and_variables():
    result = make(groups=("board",), users=("lea", "${referents}"), data={"referents": ["marc", "lea"]})
    assert result.candidate_users == ("lea", "marc")
    assert make(users=("${referent}",), data={"referent": "a, b"}).candidate_users == ("a", "b")
