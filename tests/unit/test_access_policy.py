"""The access policy's rules for reading tasks, their histories, versions and threads, for
claiming and releasing, attaching contacts, sending messages and starting processes, and the
policy's day, one by one, on plain objects (no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from partnerflow.engine import access
from partnerflow.engine.access import Actor, PartnershipRef, Thread

OWN, OTHER = 1, 2


@dataclass
class Task:
    partnership_id: int = OWN
    role: str | None = "direction"
    candidate_groups: str | None = None
    candidate_users: str | None = None
    assignee: str | None = None
    claimed_by: str | None = None
    delegated_to: str | None = None
    state: str = "open"
    completed_by: str | None = None


def who(name: str, *roles: str, partnerships=(), standing_in_for=()) -> Actor:
    return Actor(name, frozenset(roles), frozenset(partnerships), tuple(standing_in_for))


CLAIRE = who("claire", "direction")
HUGO = who("hugo", "direction")
SOPHIE = who("sophie", "professional")
KARIM = who("karim", "delegate", "professional", partnerships=[OWN])
PAUL = who("paul", "partner", partnerships=[OWN])
NADIA = who("nadia", "partner", partnerships=[OTHER])
ALICE = who("alice", "auditor")
DENIS = who("denis", "designer")
INES = who("ines", "admin")
WORKER = who("robot", "worker")


# ---------------------------------------------------------------- the policy's day


def _session_at(moment: datetime) -> Session:
    session = Session()
    session.info[access.CLOCK] = lambda: moment
    return session


def test_the_policys_day_is_the_paris_calendar_day_of_the_engines_clock():
    # 20:00 in New York on 1 March is 02:00 in Paris on 2 March
    new_york = timezone(timedelta(hours=-5))
    assert access.today(_session_at(datetime(2026, 3, 1, 20, 0, tzinfo=new_york))) == date(2026, 3, 2)
    # 23:30 UTC on 1 March: already 2 March in Paris (UTC+1 in winter)
    assert access.today(_session_at(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))) == date(2026, 3, 2)
    assert access.today(_session_at(datetime(2026, 3, 1, 22, 30, tzinfo=UTC))) == date(2026, 3, 1)


# ---------------------------------------------------------------- reading tasks and histories


def test_a_closed_task_is_read_by_its_readers_and_whoever_completed_it():
    done = Task(state="completed", completed_by="sophie", role="professional")
    for person in (ALICE, CLAIRE, INES, SOPHIE):
        assert access.may(person, "read_task", done), person.username
    for person in (KARIM, PAUL, DENIS, access.NOBODY):
        assert not access.may(person, "read_task", done), person.username
    # nobody completed it (closed by the flow): its readers only
    closed = Task(state="cancelled", role="professional")
    assert access.may(ALICE, "read_task", closed)
    assert not access.may(SOPHIE, "read_task", closed)
    assert not access.may(access.NOBODY, "read_task", closed)


def test_a_tasks_history_is_read_by_who_reads_the_task_or_the_partnerships_audit_log():
    professional = Task(role="professional")
    # sophie acts on it without reading audit logs
    assert access.may(SOPHIE, "read_history", professional)
    assert not access.may(SOPHIE, "read_audit", OWN)
    # paul reads his partnership's audit log, not the task itself
    assert not access.may(PAUL, "read_task", professional)
    assert access.may(PAUL, "read_history", professional)
    assert access.may(ALICE, "read_history", professional)
    assert access.may(HUGO, "read_history", professional)  # the direction reads every log
    for person in (NADIA, DENIS, who("anne", "board")):
        assert not access.may(person, "read_history", professional), person.username


def test_a_version_is_read_by_its_readers_and_the_partners_of_its_instances():
    for person in (ALICE, CLAIRE, INES, DENIS):
        assert access.may(person, "read_version", ()), person.username
    assert access.may(PAUL, "read_version", [OWN, OTHER])
    assert not access.may(PAUL, "read_version", [OTHER])
    assert not access.may(NADIA, "read_version", [OWN])
    assert not access.may(PAUL, "read_version", ())
    # a staff member attached to the partnership is no partner: no version through it
    assert not access.may(KARIM, "read_version", [OWN])
    assert not access.may(SOPHIE, "read_version", [OWN])


def test_a_partnerships_thread_is_read_by_its_readers_and_a_tasks_also_by_its_readers():
    for person in (CLAIRE, SOPHIE, ALICE, PAUL):
        assert access.may(person, "read_thread", Thread(OWN)), person.username
    assert not access.may(NADIA, "read_thread", Thread(OWN))
    assert not access.may(DENIS, "read_thread", Thread(OWN))
    # a designer offered a task by name reads its thread, not the partnership's
    named = Task(role=None, candidate_users="denis")
    assert access.may(DENIS, "read_thread", Thread(OWN, named))
    assert not access.may(DENIS, "read_thread", Thread(OWN, Task()))
    assert not access.may(NADIA, "read_thread", Thread(OWN, named))


# ---------------------------------------------------------------- a deputy


def test_a_deputy_stands_in_for_a_named_staff_colleague_other_than_themselves_only():
    # a colleague without a name (no account behind it) gives nothing to act on
    nameless = who("sophie", "professional", standing_in_for=[who("", "direction")])
    assert not access.may(nameless, "act", Task())
    assert access.acting_for(nameless, Task()) is None
    assert not access.may(nameless, "offered", Task())
    named = who("sophie", "professional", standing_in_for=[CLAIRE])
    assert access.may(named, "act", Task()) and access.acting_for(named, Task()) == "claire"


def test_an_actor_without_a_name_acts_on_nothing_and_one_is_here_unless_said_away():
    for nameless in (access.NOBODY, Actor("", frozenset({"direction"}), frozenset())):
        assert not access.may(nameless, "act", Task())
        assert not access.may(nameless, "complete", Task())
        assert not access.may(nameless, "offered", Task())
    # an actor built without saying so is not away: they may be asked for an opinion
    here = Actor("sophie", frozenset({"professional"}), frozenset())
    assert not here.absent
    assert access.may(here, "be_asked_opinion", access.OpinionRequest(Task(claimed_by="claire"),
                                                                      CLAIRE))


# ---------------------------------------------------------------- claiming and releasing


def test_why_a_task_cannot_be_claimed():
    assert access.claim_refusal(CLAIRE, Task(state="completed")) == "la tâche n’est plus ouverte"
    assert access.claim_refusal(SOPHIE, Task()) == "elle ne vous est pas proposée"
    assert access.claim_refusal(CLAIRE, Task(claimed_by="hugo")) == \
        "elle est déjà réservée par une autre personne"
    assert access.claim_refusal(CLAIRE, Task(claimed_by="claire")) == "vous l’avez déjà prise"
    assert access.claim_refusal(CLAIRE, Task(assignee="claire")) == "elle vous est déjà affectée"
    # hugo's deputy may act on a task assigned to hugo, but not take it as theirs
    deputy = who("sophie", "professional", standing_in_for=[HUGO])
    assert access.claim_refusal(deputy, Task(assignee="hugo")) == "elle est affectée nommément"
    assert access.claim_refusal(CLAIRE, Task(assignee="hugo")) == "elle ne vous est pas proposée"
    assert access.claim_refusal(CLAIRE, Task()) is None


def test_why_a_task_cannot_be_released():
    assert access.release_refusal(CLAIRE, Task(state="completed", claimed_by="claire")) == \
        "la tâche n’est plus ouverte"
    assert access.release_refusal(CLAIRE, Task(claimed_by="claire", delegated_to="sophie")) == \
        "elle attend un avis"
    assert access.release_refusal(CLAIRE, Task()) == "elle n’est réservée par personne"
    assert access.release_refusal(CLAIRE, Task(assignee="hugo")) == \
        "elle est affectée nommément, seule la direction la réaffecte"
    mine = Task(role="professional", claimed_by="sophie")
    assert access.release_refusal(SOPHIE, mine) is None
    assert access.release_refusal(KARIM, mine) == "elle est réservée par une autre personne"
    assert access.release_refusal(CLAIRE, mine) is None  # the direction releases any task


def test_the_day_to_chase_a_task_up_is_set_by_its_holder_only():
    assert access.may(CLAIRE, "set_follow_up", Task(claimed_by="claire"))
    assert access.may(SOPHIE, "set_follow_up", Task(role="professional", assignee="sophie"))
    # offered to her, not hers yet: she may act on it, not chase it up
    assert access.may(CLAIRE, "act", Task())
    assert not access.may(CLAIRE, "set_follow_up", Task())
    assert not access.may(HUGO, "set_follow_up", Task(claimed_by="claire"))
    assert not access.may(CLAIRE, "set_follow_up", Task(claimed_by="claire", state="completed"))
    # held by name but no longer hers to act on (a partner outside the partnership)
    assert not access.may(NADIA, "set_follow_up", Task(role="partner", assignee="nadia"))


def test_a_partner_finds_tasks_by_the_words_shared_with_the_partner_only():
    assert access.searchable_audiences(PAUL) == ("shared",)
    assert access.searchable_audiences(NADIA) == ("shared",)
    for person in (CLAIRE, SOPHIE, ALICE, KARIM):
        assert set(access.searchable_audiences(person)) == {"internal", "shared"}, person.username
    # a partner who also holds a staff group is staff
    assert set(access.searchable_audiences(who("lea", "partner", "professional"))) == \
        {"internal", "shared"}


# ---------------------------------------------------------------- contacts, messages, processes


def test_who_attaches_a_partner_contact():
    with_karim = PartnershipRef(OWN, "karim")
    assert access.may(CLAIRE, "attach_contact", PartnershipRef(OWN))
    assert access.may(INES, "attach_contact", PartnershipRef(OWN))
    assert access.may(KARIM, "attach_contact", with_karim)
    assert not access.may(KARIM, "attach_contact", PartnershipRef(OWN, "lea"))
    assert not access.may(KARIM, "attach_contact", PartnershipRef(OWN))
    # named the partnership's delegate without being in the delegate group
    assert not access.may(SOPHIE, "attach_contact", PartnershipRef(OWN, "sophie"))
    assert not access.may(access.NOBODY, "attach_contact", PartnershipRef(OWN, ""))
    assert not access.may(PAUL, "attach_contact", PartnershipRef(OWN, "paul"))


def test_who_sends_a_message_to_a_partnerships_processes_and_who_starts_one():
    assert access.may(CLAIRE, "correlate_message", OWN)
    assert access.may(SOPHIE, "correlate_message", OTHER)
    assert access.may(WORKER, "correlate_message", OWN)  # an external worker's account
    for person in (ALICE, PAUL, DENIS, access.NOBODY):
        assert not access.may(person, "correlate_message", OWN), person.username
    assert access.may(CLAIRE, "start_instance", OWN)
    for person in (ALICE, PAUL, DENIS, WORKER):
        assert not access.may(person, "start_instance", OWN), person.username


def test_the_actions_granted_by_a_group_and_those_of_the_staff():
    assert access.may(INES, "administer") and not access.may(CLAIRE, "administer")
    assert access.may(ALICE, "read_map") and not access.may(ALICE, "propose")
    assert access.may(SOPHIE, "propose") and not access.may(PAUL, "read_map")
    with pytest.raises(KeyError):
        access.may(CLAIRE, "fly")
