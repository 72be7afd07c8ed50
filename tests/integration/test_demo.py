"""The demo: loading it twice changes nothing, its partnerships stand at the stages it
describes, each open task is in the expected user's inbox, and every audit chain verifies."""

from __future__ import annotations

from sqlalchemy import func, select

from partnerflow.engine import audit
from partnerflow.engine.method.demo import load_demo
from partnerflow.engine.runtime import queries
from partnerflow.engine.store.models import (
    AuditEvent,
    Document,
    HumanTask,
    Partnership,
    ProcessInstance,
    ProcessVersion,
    User,
)

COUNTED = (Partnership, ProcessInstance, HumanTask, User, ProcessVersion, AuditEvent, Document)


def _counts(pf) -> dict[str, int]:
    with pf.read() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def _by_title(pf) -> dict[str, Partnership]:
    with pf.read() as session:
        return {p.title: p for p in queries.partnerships(session)}


def _inbox(pf, username: str) -> list[tuple[str, str]]:
    """(partnership title, element id) of every task in the user's inbox."""
    with pf.read() as session:
        rows = queries.inbox(session, username, pf.clock(), queries.InboxFilter(limit=200))
        ids = [r.id for r in rows]
        tasks = session.scalars(select(HumanTask).where(HumanTask.id.in_(ids))).all()
        titles = {p.id: p.title for p in queries.partnerships(session)}
    return sorted((titles[t.partnership_id], t.element_id) for t in tasks)


def test_loading_the_demo_twice_on_an_empty_database_gives_the_same_counts(pf):
    first = load_demo(pf)
    counts = _counts(pf)
    # the five partnerships and the record that carries the partnership plan's process
    assert counts["Partnership"] == 6 and counts["HumanTask"] >= 35
    second = load_demo(pf)
    assert _counts(pf) == counts
    assert first == second and "6 partnerships" in second
    with pf.read() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.type == "demo_loaded")
            )
            == 1
        )


def test_the_demo_partnerships_stand_at_their_stages_with_tasks_in_the_right_inboxes(pf):
    load_demo(pf)
    partnerships = _by_title(pf)
    school = partnerships["Atelier intergénérationnel avec le lycée Jean Jaurès"]
    hospital = partnerships["Consultations avancées du centre hospitalier à l'EHPAD"]
    town = partnerships["Ateliers mémoire avec la mairie de Bagnolet"]
    declined = partnerships["Navette solidaire avec la mairie de Bagnolet"]
    ended = partnerships["Journée de prévention des chutes avec le centre hospitalier"]
    assert (school.status, school.stage) == ("active", "idea")
    assert (hospital.status, hospital.stage) == ("active", "negotiation")
    assert (town.status, town.stage, town.formalisation_level) == ("active", "realisation", "L3")
    assert declined.status == "archived"
    assert (ended.status, ended.formalisation_level) == ("ended", "L1")

    assert _inbox(pf, "claire.martin") == [(school.title, "validate_idea")]
    assert _inbox(pf, "paul.lefevre") == [(hospital.title, "comment_draft")]
    assert _inbox(pf, "karim.benali") == [(town.title, "plan_period")]
    for nobody in ("sophie.durand", "anne.roux", "lucas.moreau", "nadia.haddad"):
        assert _inbox(pf, nobody) == [], nobody

    with pf.read() as session:
        [comment] = queries.tasks_of_partnership(session, hospital.id)
        assert comment.context["draft_version"] == 2
        [plan] = queries.tasks_of_partnership(session, town.id)
        assert plan.context["period_number"] == 2
        periods = [i for i in queries.instances_of(session, town.id) if i.process_key == "programme_period"]
        assert [i.status for i in periods] == ["completed", "running"]
        assert periods[1].parent_instance_id == periods[0].id
        assert all(i.status == "completed" for i in queries.instances_of(session, ended.id))
        assert queries.tasks_of_partnership(session, declined.id) == []
        assert audit.verify(session) == []
