"""The demo agrees with its own decision table: each demo partnership's formalisation level is
the one bpmn/formalisation_level.dmn gives on the criteria the demo answered for it, and what
its negotiation concluded is on the map."""

from __future__ import annotations

from sqlalchemy import select

from partnerflow.engine.method import registry
from partnerflow.engine.method.demo import load_demo
from partnerflow.engine.runtime import queries, services
from partnerflow.engine.store.models import HumanTask, Organisation, Partnership, Relationship, Signature
from tests.conftest import FIXTURES, ROOT, deploy

MEMORY = "Ateliers mémoire avec la mairie de Bagnolet"
CONSULTATIONS = "Consultations avancées du centre hospitalier à l'EHPAD"
FALLS = "Journée de prévention des chutes avec le centre hospitalier"


def _criteria(session, partnership_id: int) -> dict | None:
    """The criteria the level was last decided on (at the start, or asked again)."""
    return session.scalar(select(HumanTask.result).where(
        HumanTask.partnership_id == partnership_id, HumanTask.form_key == "formalisation_inputs",
        HumanTask.state == "completed").order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())
        .limit(1))


def _table_level(pf, criteria: dict) -> str:
    """Run the shipped decision table on these criteria (tests/fixtures/formalisation_decision.bpmn
    starts with the criteria form and writes the level on its own partnership)."""
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Table de formalisation", actor="claire.martin")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="formalisation_decision",
                                actor="claire.martin", data=criteria)
    with pf.read() as session:
        return session.get(Partnership, pid).formalisation_level


def test_each_demo_partnership_stands_at_the_level_its_own_criteria_give(pf):
    load_demo(pf)
    deploy(pf, [FIXTURES / "formalisation_decision.bpmn", ROOT / "bpmn" / "formalisation_level.dmn"])
    with pf.read() as session:
        decided = {p.title: (p.formalisation_level, _criteria(session, p.id))
                   for p in queries.partnerships(session)}
    compared = {}
    for title, (level, criteria) in decided.items():
        if criteria is None:
            assert level is None, title  # no negotiation yet, no level
            continue
        compared[title] = _table_level(pf, criteria)
        assert compared[title] == level, (title, criteria)
    assert compared == {CONSULTATIONS: "L2", MEMORY: "L3", FALLS: "L1"}
    # the activity room lent for about fifteen months: premises (L2) over a year (L3)
    memory = decided[MEMORY][1]
    assert (memory["premises_or_equipment_lent"], memory["duration_months"]) == (True, 15)


def test_the_demo_map_shows_what_its_negotiations_concluded(pf):
    load_demo(pf)
    with pf.read() as session:
        by_title = {p.title: p for p in queries.partnerships(session)}
        town = session.scalar(select(Organisation.id).where(Organisation.name == "Mairie de Bagnolet"))
        own = session.scalar(select(Organisation.id).where(Organisation.is_own.is_(True)))

        memory = by_title[MEMORY]
        [rel] = session.scalars(select(Relationship).where(Relationship.partnership_id == memory.id)).all()
        convention = session.scalar(select(HumanTask.result).where(
            HumanTask.partnership_id == memory.id, HumanTask.element_id == "write_convention"))
        assert (rel.organisation_id, rel.partner_id, rel.kind, rel.formalisation_level, rel.archived) == (
            own, town, "partnership", "L3", False)
        assert (registry.as_day(rel.convention_start).isoformat(),
                registry.as_day(rel.convention_end).isoformat()) == (
            convention["start_date"], convention["end_date"])
        assert rel.renewal_date is not None and rel.convention_document
        signed = session.scalars(select(Signature).where(Signature.partnership_id == memory.id)
                                 .order_by(Signature.id)).all()
        assert [(s.username, s.document_sha256) for s in signed] == [
            ("nadia.haddad", rel.convention_document), ("anne.roux", rel.convention_document)]

        # the one-day event: its letter was on the map until its follow-up closed it
        [letter] = session.scalars(select(Relationship).where(
            Relationship.partnership_id == by_title[FALLS].id)).all()
        assert (letter.formalisation_level, letter.archived) == ("L1", True)
        # still in negotiation: nothing on the map yet
        assert session.scalars(select(Relationship).where(
            Relationship.partnership_id == by_title[CONSULTATIONS].id)).all() == []
