"""The map's registry: organisations and relationships, archived never deleted, French
field errors, permissions, and the convention renewal reminders."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from partnerflow.engine import access
from partnerflow.engine.errors import Forbidden, InvalidInput
from partnerflow.engine.method import registry, reminders
from partnerflow.engine.runtime import queries, services
from partnerflow.engine.store.models import (
    AuditEvent,
    HumanTask,
    Organisation,
    Partnership,
    ProcessInstance,
    Relationship,
)
from tests.conftest import ROOT, deploy, make_user


@pytest.fixture
def people(pf):
    make_user(pf, "claire", "direction")
    make_user(pf, "ines", "admin")
    make_user(pf, "sophie", "professional")
    make_user(pf, "alice", "auditor")
    return pf


def org(pf, actor="claire", **data) -> int:
    with pf.uow() as uow:
        return registry.create_organisation(uow, actor=actor, data=data)


def rel(pf, actor="claire", **data) -> int:
    with pf.uow() as uow:
        return registry.create_relationship(uow, actor=actor, data=data)


def events(pf, type_: str) -> list[dict]:
    with pf.read() as db:
        return list(db.scalars(select(AuditEvent.payload).where(AuditEvent.type == type_)
                               .order_by(AuditEvent.id)))


@pytest.fixture
def own(people):
    return org(people, name="Association Les Tilleuls", kind="association", is_own="1",
               siret="77567227200017", finess="750000123")


def test_an_organisation_and_a_relationship_are_recorded_with_their_audit_events(people, own):
    pf = people
    hospital = org(pf, name="Centre hospitalier de Montreuil", kind="Hôpital",
                   siret="263 000 011 00012", finess="2A0000001", address="1 rue de la Paix",
                   contacts="Dr Lebrun, 01 23 45 67 89")
    rid = rel(pf, partner_id=hospital, kind="coopération", since="12/03/2019", agreement="écrit",
              convention_start="2024-01-01", convention_end="31/12/2026", renewal_date="01/10/2026",
              formalisation_level="l2", referents="Mme Martin ; Dr Lebrun")
    with pf.read() as db:
        o = db.get(Organisation, hospital)
        r = db.get(Relationship, rid)
        assert (o.kind, o.siret, o.finess) == ("hospital", "26300001100012", "2A0000001")
        assert (r.organisation_id, r.partner_id, r.kind, r.agreement) == (own, hospital, "cooperation",
                                                                         "written")
        assert registry.as_day(r.since) == date(2019, 3, 12)
        assert registry.as_day(r.convention_end) == date(2026, 12, 31)
        assert r.formalisation_level == "L2" and r.archived is False
    assert [e["name"] for e in events(pf, "organisation_created")] == [
        "Association Les Tilleuls", "Centre hospitalier de Montreuil"]
    [created] = events(pf, "relationship_created")
    assert created["relationship_id"] == rid and created["convention_end"] == "2026-12-31"


def test_invalid_fields_are_all_named_in_french_and_nothing_is_written(people, own):
    pf = people
    with pytest.raises(InvalidInput) as error:
        org(pf, name="  ", siret="1234", finess="3A1234567")
    assert error.value.errors == {
        "name": ["Le nom est obligatoire."],
        "siret": ["SIRET invalide (14 chiffres attendus)."],
        "finess": ["FINESS invalide (9 caractères : 2 chiffres ou 2A/2B, puis 7 chiffres)."]}
    partner = org(pf, name="Mairie de Bagnolet", kind="town_hall")
    with pytest.raises(InvalidInput) as error:
        rel(pf, partner_id=partner, kind="amitié", since="31/02/2020", agreement="tacite",
            convention_start="01/01/2025", convention_end="01/01/2024", formalisation_level="L9")
    assert set(error.value.errors) == {"kind", "since", "agreement", "convention_end",
                                       "formalisation_level"}
    assert error.value.errors["since"] == ["Date invalide (jj/mm/aaaa attendu)."]
    assert error.value.errors["convention_end"] == ["La fin de la convention précède son début."]
    with pytest.raises(InvalidInput) as error:
        rel(pf, kind="réseau")
    assert error.value.errors == {"partner_id": ["Choisissez l'organisation partenaire."]}
    with pf.read() as db:
        assert db.scalar(select(func.count()).select_from(Relationship)) == 0
        assert db.scalar(select(func.count()).select_from(Organisation)) == 2


def test_only_the_direction_and_admins_edit_the_map(people, own):
    pf = people
    partner = org(pf, actor="ines", name="Lycée professionnel Jean Jaurès", kind="school")
    for actor in ("sophie", "alice"):
        with pytest.raises(Forbidden):
            org(pf, actor=actor, name="Une autre")
        with pytest.raises(Forbidden):
            rel(pf, actor=actor, partner_id=partner, kind="network")
    def reader(*groups):
        return access.may(access.Actor("x", frozenset(groups), frozenset()), "read_map")

    assert reader("auditor") and reader("professional") and reader("kitchen")
    assert not reader("partner") and not reader()


def test_updates_are_audited_with_what_changed_and_a_no_op_is_silent(people, own):
    pf = people
    partner = org(pf, name="EHPAD Les Lilas", kind="ehpad")
    rid = rel(pf, partner_id=partner, kind="network", since="2020-05-01")
    data = {"partner_id": partner, "kind": "partnership", "since": "01/05/2020", "agreement": "written",
            "convention_end": "30/06/2027"}
    with pf.uow() as uow:
        registry.update_relationship(uow, relationship_id=rid, actor="claire", data=data)
    with pf.uow() as uow:
        registry.update_relationship(uow, relationship_id=rid, actor="claire", data=data)
    [update] = events(pf, "relationship_updated")
    assert update["changes"] == {"kind": ["network", "partnership"], "agreement": ["oral", "written"],
                                 "convention_end": [None, "2027-06-30"]}


def test_archiving_keeps_the_rows_and_hides_them_from_the_current_map(people, own):
    pf = people
    lilas = org(pf, name="EHPAD Les Lilas", kind="ehpad")
    mairie = org(pf, name="Mairie de Bagnolet", kind="town_hall")
    r1 = rel(pf, partner_id=lilas, kind="network")
    r2 = rel(pf, partner_id=mairie, kind="cooperation")
    r3 = rel(pf, partner_id=mairie, kind="partnership")
    with pf.uow() as uow:
        registry.archive_relationship(uow, relationship_id=r1, actor="claire")
    with pf.uow() as uow:
        registry.archive_organisation(uow, organisation_id=mairie, actor="ines")
    with pf.read() as db:
        assert db.scalar(select(func.count()).select_from(Relationship)) == 3
        assert all(db.get(Relationship, r).archived for r in (r1, r2, r3))
        assert db.get(Organisation, mairie).archived is True
        assert registry.relationships(db) == []
        assert len(registry.relationships(db, registry.MapFilter(include_archived=True))) == 3
        assert [o.name for o in registry.organisations(db)] == ["Association Les Tilleuls",
                                                                 "EHPAD Les Lilas"]
    assert sorted(e["relationship_id"] for e in events(pf, "relationship_archived")) == [r1, r2, r3]
    assert len(events(pf, "organisation_archived")) == 1


def test_the_graph_has_our_organisation_and_the_partners_that_pass_the_filters(people, own):
    pf = people
    a = org(pf, name="EHPAD Les Lilas", kind="ehpad")
    b = org(pf, name="Mairie de Bagnolet", kind="town_hall")
    rel(pf, partner_id=a, kind="network", formalisation_level="L0")
    rel(pf, partner_id=b, kind="partnership", formalisation_level="L2", agreement="written")
    with pf.read() as db:
        everything = registry.graph(db)
        partnerships = registry.graph(db, registry.MapFilter(kind="partnership"))
    assert [n["label"] for n in everything["nodes"]] == ["Association Les Tilleuls", "EHPAD Les Lilas",
                                                         "Mairie de Bagnolet"]
    assert len(everything["edges"]) == 2
    assert [n["label"] for n in partnerships["nodes"]] == ["Association Les Tilleuls", "Mairie de Bagnolet"]
    [edge] = partnerships["edges"]
    assert (edge["source"], edge["target"], edge["level"]) == (f"o{own}", f"o{b}", "L2")


# ---------------------------------------------------------------- reminders


@pytest.fixture
def method(people, own):
    deploy(people, sorted((ROOT / "bpmn").glob("*.bpmn")) + sorted((ROOT / "bpmn").glob("*.dmn")))
    return people


def test_reminders_reach_the_direction_inbox_once_per_due_date(method):
    pf = method  # the clock reads 2 March 2026
    lilas = org(pf, name="EHPAD Les Lilas", kind="ehpad")
    mairie = org(pf, name="Mairie de Bagnolet", kind="town_hall")
    lycee = org(pf, name="Lycée Jean Jaurès", kind="school")
    with pf.uow() as uow:
        existing = services.create_partnership(uow, title="Ateliers avec la mairie", actor="claire")
    due_soon = rel(pf, partner_id=lilas, kind="cooperation", renewal_date="15/04/2026",
                   convention_end="31/12/2026")
    with_partnership = rel(pf, partner_id=mairie, kind="partnership", convention_end="2026-05-31",
                           partnership_id=existing)
    rel(pf, partner_id=lycee, kind="partnership", renewal_date="2026-09-01")  # 183 days away
    with pf.uow() as uow:
        started = reminders.start_due_reminders(uow, days_ahead=90)
    assert [(r.relationship_id, r.due) for r in started] == [
        (due_soon, date(2026, 4, 15)), (with_partnership, date(2026, 5, 31))]
    with pf.read() as db:
        rows = queries.inbox(db, "claire", pf.clock())
        assert sorted((r.title, r.due_at.date()) for r in rows) == [
            ("Préparer le renouvellement de la convention", date(2026, 4, 15)),
            ("Préparer le renouvellement de la convention", date(2026, 5, 31))]
        assert queries.inbox(db, "sophie", pf.clock()) == []
        created = db.get(Relationship, due_soon).partnership_id
        partnership = db.get(Partnership, created)
        assert (partnership.kind, partnership.title, partnership.stage) == (
            "cooperation", "Coopération avec EHPAD Les Lilas", "realisation")
        assert db.get(Relationship, with_partnership).partnership_id == existing
        task = db.scalar(select(HumanTask).where(HumanTask.partnership_id == created))
        assert task.context["partner_name"] == "EHPAD Les Lilas"
    with pf.uow() as uow:
        assert reminders.start_due_reminders(uow, days_ahead=90) == []
    with pf.read() as db:
        assert db.scalar(select(func.count()).select_from(ProcessInstance)) == 2
    # deciding to renew keeps the partnership going
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task.id, actor="claire",
                               data={"renewal_decision": "renew", "new_convention_end": "2029-12-31"})
    with pf.read() as db:
        assert db.get(Partnership, created).status == "active"
        # and the map now shows the new end date, with no renewal date pending
        renewed = db.get(Relationship, due_soon)
        assert registry.as_day(renewed.convention_end) == date(2029, 12, 31)
        assert renewed.renewal_date is None
    with pf.uow() as uow:  # the next reminder follows the new end date, not the old one
        assert reminders.start_due_reminders(uow, days_ahead=90) == []
    # deciding to end it archives the relationship on the map (never deleted)
    with pf.read() as db:
        other = db.scalar(select(HumanTask).where(HumanTask.partnership_id == existing,
                                                  HumanTask.state == "open"))
    with pf.uow() as uow:
        services.complete_task(uow, task_id=other.id, actor="claire", data={"renewal_decision": "end"})
    with pf.read() as db:
        assert db.get(Relationship, with_partnership).archived is True
