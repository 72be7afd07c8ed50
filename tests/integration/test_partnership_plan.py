"""The partnership plan as a process of its own: the direction draws it up from the map, the
board approves it (or sends it back), the yearly review opens on the date the plan sets with
the map read again; ideas name an objective of the approved plan and the dashboard lists the
objectives with their partnerships."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from partnerflow.engine.access import accounts
from partnerflow.engine.errors import Conflict, Forbidden, FormValidationError
from partnerflow.engine.method import dashboard, plan, registry
from partnerflow.engine.method.demo import load_demo
from partnerflow.engine.runtime import queries, services, views
from partnerflow.engine.store.models import HumanTask, Partnership, ProcessInstance
from partnerflow.web import webforms
from tests.conftest import ROOT, deploy, make_user
from tests.scenarios.samples import IDEA

DIRECTION, BOARD, PROFESSIONAL, PARTNER = "claire.martin", "anne.roux", "sophie.durand", "paul.lefevre"
TODAY = date(2026, 3, 2)  # the test clock's day
FORM = json.loads((ROOT / "forms" / "partnership_plan.json").read_text(encoding="utf-8"))
# what a review starts from: the approved plan's answers, but its title and dates
CARRIED = ("plan_needs", "plan_objectives", "plan_resistances", "plan_professionals",
           "plan_vision", "plan_communication")


def plan_answers(version: int = 1, **changes) -> dict:
    answers = {
        "plan_title": f"Plan de partenariat 2026-2027 (v{version})",
        "plan_period_start": "2026-03-02",
        "plan_review_date": "2027-03-01",
        "plan_needs": [{"need_id": "B1", "need_title": "L'isolement des résidents"},
                       {"need_id": "B2", "need_title": "Des passages aux urgences évitables"}],
        "plan_objectives": [
            {"objective_id": "O1", "objective_title": "Ouvrir l'EHPAD sur le quartier",
             "objective_need": "B1", "objective_deadline": "2027-06-30",
             "objective_means": "Une animatrice à mi-temps."},
            {"objective_id": "O2", "objective_title": "Continuité des soins avec l'hôpital",
             "objective_need": "B2", "objective_deadline": "2026-01-31",
             "objective_means": "Temps du médecin coordonnateur."},
        ],
        "plan_resistances": [
            {"resistance_side": "internal", "resistance_from": "Équipe de nuit",
             "resistance_description": "Crainte d'une charge de travail accrue.",
             "resistance_listening": "Deux temps d'échange avec la cadre de santé.",
             "resistance_treatment": "Les activités ont lieu en journée.",
             "resistance_progress": "Un bilan partagé à six mois."},
        ],
        "plan_professionals": [{"professional": PROFESSIONAL,
                                "professional_contribution": "Ateliers ouverts aux habitants."}],
        "plan_vision": "Une maison ouverte sur la ville.",
        "plan_communication": "Réunions de service et CVS.",
    }
    return {**answers, **changes}


@pytest.fixture
def people(pf):
    deploy(pf, pf.method_files())
    for username, role in ((DIRECTION, "direction"), (BOARD, "board"),
                           (PROFESSIONAL, "professional"), (PARTNER, "partner")):
        make_user(pf, username, role)
    with pf.uow() as uow:
        own = accounts.ensure_organisation(uow.session, name="Association Les Tilleuls", is_own=True)
        uow.commit()
        own_id = own.id
    with pf.uow() as uow:
        hospital = registry.create_organisation(uow, actor=DIRECTION, data={
            "name": "Centre hospitalier de Montreuil", "kind": "hospital"})
    with pf.uow() as uow:
        registry.create_relationship(uow, actor=DIRECTION, data={
            "partner_id": hospital, "kind": "partnership", "agreement": "written",
            "since": "2019-09-01", "convention_end": "2027-01-31", "formalisation_level": "L2"})
    return pf, own_id


def inbox(pf, username: str) -> list[HumanTask]:
    with pf.read() as session:
        ids = [r.id for r in queries.inbox(session, username, pf.clock())]
        return session.scalars(select(HumanTask).where(HumanTask.id.in_(ids or [-1]))
                               .order_by(HumanTask.id)).all()


def only_task(pf, username: str, element_id: str) -> HumanTask:
    found = [t for t in inbox(pf, username) if t.element_id == element_id]
    assert len(found) == 1, [(t.element_id, t.title) for t in inbox(pf, username)]
    return found[0]


def complete(pf, username: str, element_id: str, data: dict) -> None:
    task = only_task(pf, username, element_id)
    with pf.uow() as uow:
        done = services.complete_task(uow, task_id=task.id, actor=username, data=data)
    assert done.error is None, done.error


def approve(pf, deliberation: str = "2026-03-10") -> None:
    complete(pf, BOARD, "approve_plan", {"plan_decision": "approve",
                                         "plan_deliberation_date": deliberation})


def start(pf, actor: str = DIRECTION) -> int:
    with pf.uow() as uow:
        return plan.start_plan(uow, actor=actor)


def test_the_direction_draws_the_plan_up_from_the_map_and_the_board_approves_it(people):
    pf, own_id = people
    for nobody in (BOARD, PROFESSIONAL, PARTNER):
        with pytest.raises(Forbidden):
            start(pf, nobody)
    instance_id = start(pf)
    with pytest.raises(Conflict):
        start(pf)  # one plan at a time

    task = only_task(pf, DIRECTION, "draw_up_plan")
    assert task.title == "Établir le plan de partenariat (version 1)" and task.role == "direction"
    with pf.read() as session:  # no approved plan yet: the first one starts empty
        assert webforms.prefill(FORM, views.prepared_data(session, task)) == {}
    # the map as it stands, read by the service task "Lire la carte" (connector map.read)
    assert task.context["map_read_on"] == TODAY.isoformat()
    assert task.context["map_relationships"] == [{
        "partner": "Centre hospitalier de Montreuil", "kind": "partnership", "agreement": "written",
        "formalisation_level": "L2", "since": "2019-09-01", "convention_end": "2027-01-31"}]
    with pf.read() as session:
        carrier = session.get(Partnership, task.partnership_id)
        assert (carrier.kind, carrier.organisation_id, carrier.status) == ("plan", own_id, "active")
        # the plan's record is not a partnership of the method's stages
        assert all(row.count == 0 for row in dashboard.partnerships_per_stage(session))
        assert plan.latest_approved(session) is None

    complete(pf, DIRECTION, "draw_up_plan", plan_answers())
    approval = only_task(pf, BOARD, "approve_plan")
    assert approval.title == "Approuver le plan de partenariat (version 1)" and approval.role == "board"
    with pf.uow() as uow, pytest.raises(FormValidationError) as refused:
        services.complete_task(uow, task_id=approval.id, actor=BOARD,
                               data={"plan_decision": "revise", "plan_deliberation_date": "2026-03-10"})
    assert refused.value.errors == {"plan_board_comment": ["Dites ce qui est à revoir."]}
    complete(pf, BOARD, "approve_plan", {"plan_decision": "revise", "plan_deliberation_date": "2026-03-10",
                                         "plan_board_comment": "Chiffrer les moyens de O2."})
    with pf.read() as session:
        assert plan.latest_approved(session) is None  # sent back: nothing approved yet

    # back to the direction, same version, the board's comment in the task's data
    again = only_task(pf, DIRECTION, "draw_up_plan")
    assert again.title.endswith("(version 1)")
    assert again.context["plan_board_comment"] == "Chiffrer les moyens de O2."
    with pf.read() as session:  # the version sent back is shown above the form, as any round
        assert webforms.prefill(FORM, views.prepared_data(session, again)) == {}
    complete(pf, DIRECTION, "draw_up_plan", plan_answers(plan_title="Plan de partenariat 2026-2027"))
    approve(pf)
    with pf.read() as session:
        approved = plan.latest_approved(session)
        instance = session.get(ProcessInstance, instance_id)
        open_tasks = queries.tasks_of_partnership(session, task.partnership_id, "open")
    assert (approved.title, approved.version, approved.approved_by) == (
        "Plan de partenariat 2026-2027", 1, BOARD)
    assert approved.deliberation_date == date(2026, 3, 10) and approved.review_date == date(2027, 3, 1)
    assert [(o.key, o.title, o.need, o.deadline) for o in approved.objectives] == [
        ("O1", "Ouvrir l'EHPAD sur le quartier", "B1", date(2027, 6, 30)),
        ("O2", "Continuité des soins avec l'hôpital", "B2", date(2026, 1, 31))]
    assert approved.resistances[0]["resistance_treatment"] == "Les activités ont lieu en journée."
    assert approved.professionals[0]["professional"] == PROFESSIONAL
    assert (approved.vision, approved.communication) == ("Une maison ouverte sur la ville.",
                                                         "Réunions de service et CVS.")
    # approved: the instance waits for the yearly review, nobody has a plan task
    assert instance.status == "running" and open_tasks == []
    assert instance.next_timer_at.date() == date(2027, 3, 1)


def test_the_yearly_review_opens_on_the_plan_s_date_with_the_map_read_again(people, clock):
    pf, _own = people
    start(pf)
    complete(pf, DIRECTION, "draw_up_plan", plan_answers())
    approve(pf)
    with pf.uow() as uow:
        school = registry.create_organisation(uow, actor=DIRECTION, data={
            "name": "Lycée Jean Jaurès", "kind": "school"})
    with pf.uow() as uow:
        registry.create_relationship(uow, actor=DIRECTION, data={
            "partner_id": school, "kind": "network", "agreement": "oral"})

    clock.set(datetime(2027, 2, 28, 12, 0, tzinfo=UTC))
    with pf.uow() as uow:
        assert services.fire_due_timers(uow) == 0  # not before the review date
    assert [t.element_id for t in inbox(pf, DIRECTION)] == []
    clock.set(datetime(2027, 3, 1, 0, 5, tzinfo=UTC))
    with pf.uow() as uow:
        assert services.fire_due_timers(uow) == 1

    review = only_task(pf, DIRECTION, "draw_up_plan")
    assert review.title == "Établir le plan de partenariat (version 2)"
    assert review.context["map_read_on"] == "2027-03-01"
    assert sorted(r["partner"] for r in review.context["map_relationships"]) == [
        "Centre hospitalier de Montreuil", "Lycée Jean Jaurès"]
    with pf.read() as session:  # version 1 stays the approved plan until version 2 is approved
        assert plan.latest_approved(session).version == 1
        prepared = views.prepared_data(session, review)
    # the review starts from the approved plan (service task "Reprendre le plan approuvé"):
    # the direction revises it instead of typing it again; a new title and new dates are asked
    approved = plan_answers()
    values = webforms.prefill(FORM, prepared)
    for name in CARRIED:
        assert values[name] == approved[name], name
    assert not {"plan_title", "plan_period_start", "plan_review_date"} & set(values)

    objectives = plan_answers()["plan_objectives"] + [
        {"objective_id": "O3", "objective_title": "Des stages pour les jeunes de l'IME",
         "objective_need": "B2", "objective_deadline": "2028-06-30", "objective_means": "Un éducateur."}]
    complete(pf, DIRECTION, "draw_up_plan", plan_answers(2, plan_review_date="2028-03-01",
                                                         plan_period_start="2027-03-01",
                                                         plan_objectives=objectives))
    approve(pf, "2027-03-15")
    with pf.read() as session:
        approved = plan.latest_approved(session)
        assert approved.version == 2 and [o.key for o in approved.objectives] == ["O1", "O2", "O3"]
        assert plan.running_instance(session).next_timer_at.date() == date(2028, 3, 1)


def test_a_new_plan_starts_from_the_plan_approved_before(people):
    pf, _own = people
    first = start(pf)
    complete(pf, DIRECTION, "draw_up_plan", plan_answers())
    approve(pf)
    admin = make_user(pf, "ines.garcia", "admin")
    with pf.uow() as uow:  # the plan's process stopped: the direction opens a new one
        services.cancel_instance(uow, instance_id=first, actor=admin, reason="Nouvelle direction")
    second = start(pf)
    assert second != first
    task = only_task(pf, DIRECTION, "draw_up_plan")
    assert task.instance_id == second and task.title.endswith("(version 1)")
    with pf.read() as session:
        values = webforms.prefill(FORM, views.prepared_data(session, task))
    approved = plan_answers()
    assert {name: values.get(name) for name in CARRIED} == {name: approved[name] for name in CARRIED}
    assert "plan_title" not in values


def test_an_idea_s_objective_reads_as_the_approved_plan_names_it(people):
    pf, _own = people
    start(pf)
    complete(pf, DIRECTION, "draw_up_plan", plan_answers())
    approve(pf)
    shown = {}
    for objective in ("O1", plan.NO_OBJECTIVE, "O9"):
        pid = _propose(pf, f"Idée {objective}", objective)
        with pf.read() as session:
            [validation] = [t for t in queries.tasks_of_partnership(session, pid)
                            if t.element_id == "validate_idea"]
            sections = views.task_sections(session, pf.forms, validation,
                                           _actor(session, DIRECTION),
                                           views.shows_of(pf.forms, validation))
        [value] = [item.value for s in sections for item in s.items if item.key == "plan_objective"]
        shown[objective] = (value.kind, value.text, value.note)
    assert shown == {
        "O1": ("choice", "O1 — Ouvrir l'EHPAD sur le quartier", None),
        plan.NO_OBJECTIVE: ("choice", "Aucun / hors plan", None),
        # a reference the approved plan does not have: as written, noted
        "O9": ("choice", "O9", "absent du plan de partenariat approuvé")}
    with pf.read() as session:  # the idea form offers the same labels
        assert list(plan.objective_naming(session).labels.items()) == [
            (plan.NO_OBJECTIVE, "Aucun / hors plan"), ("O1", "O1 — Ouvrir l'EHPAD sur le quartier"),
            ("O2", "O2 — Continuité des soins avec l'hôpital")]


def _actor(session, username: str):
    from partnerflow.engine import access

    return access.actor(session, username)


def _propose(pf, title: str, objective: str | None) -> int:
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title=title, actor=DIRECTION)
    idea = dict(IDEA, idea_title=title)
    if objective is not None:
        idea["plan_objective"] = objective
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="partnership_cycle",
                                actor=PROFESSIONAL, data=idea)
    return pid


def test_ideas_name_an_objective_and_the_dashboard_lists_objectives_with_their_partnerships(people):
    pf, _own = people
    start(pf)
    complete(pf, DIRECTION, "draw_up_plan", plan_answers())
    approve(pf)
    first = _propose(pf, "Ateliers mémoire avec la mairie", "O1")
    second = _propose(pf, "Atelier numérique avec le lycée", "O1")
    declined = _propose(pf, "Navette solidaire", "O1")
    outside = _propose(pf, "Fête des voisins", plan.NO_OBJECTIVE)
    _propose(pf, "Chorale", None)
    with pf.read() as session:
        [validation] = [t for t in queries.tasks_of_partnership(session, declined)
                        if t.element_id == "validate_idea"]
    with pf.uow() as uow:
        services.complete_task(uow, task_id=validation.id, actor=DIRECTION,
                               data={"idea_decision": "decline", "idea_validation_comment": "Non."})

    with pf.read() as session:
        assert plan.objective_choices(session) == [("O1", "O1 — Ouvrir l'EHPAD sur le quartier"),
                                                   ("O2", "O2 — Continuité des soins avec l'hôpital")]
        assert plan.objectives_named(session) == {first: "O1", second: "O1", declined: "O1",
                                                  outside: plan.NO_OBJECTIVE}
        board = dashboard.partnership_plan(session, TODAY)
    by_key = {o.key: o for o in board.objectives}
    # the declined idea (archived) is no partnership of the objective
    assert [p.title for p in by_key["O1"].partnerships] == ["Atelier numérique avec le lycée",
                                                            "Ateliers mémoire avec la mairie"]
    assert {p.stage for p in by_key["O1"].partnerships} == {"idea"}
    assert by_key["O1"].need == "B1 — L'isolement des résidents"  # the need's reference, named
    assert by_key["O2"].partnerships == () and by_key["O2"].overdue and not by_key["O1"].overdue
    assert [o.key for o in board.without_partnership] == ["O2"]
    assert board.outside_plan == 1 and board.running and board.open_task_id is None


def test_the_map_read_for_the_plan_leaves_archived_relationships_out(people):
    pf, own_id = people
    with pf.uow() as uow:
        town = registry.create_organisation(uow, actor=DIRECTION,
                                            data={"name": "Mairie", "kind": "town_hall"})
    with pf.uow() as uow:
        rel = registry.create_relationship(uow, actor=DIRECTION, data={
            "partner_id": town, "kind": "cooperation", "agreement": "oral"})
    with pf.read() as session:
        assert [r["partner"] for r in plan.map_rows(session, own_id)] == [
            "Centre hospitalier de Montreuil", "Mairie"]
        assert [r["partner"] for r in plan.map_rows(session, own_id, "cooperation")] == ["Mairie"]
    with pf.uow() as uow:
        registry.archive_relationship(uow, relationship_id=rel, actor=DIRECTION)
    with pf.read() as session:
        assert [r["partner"] for r in plan.map_rows(session, own_id)] == ["Centre hospitalier de Montreuil"]


def test_the_demo_loads_an_approved_plan_whose_objectives_have_partnerships(pf):
    load_demo(pf)
    with pf.read() as session:
        approved = plan.latest_approved(session)
        board = dashboard.partnership_plan(session, pf.clock().date())
    assert approved is not None and approved.approved_by == "anne.roux"
    assert [o.key for o in approved.objectives] == ["O1", "O2", "O3"]
    titles = {o.key: [p.title for p in o.partnerships] for o in board.objectives}
    assert titles == {
        "O1": ["Atelier intergénérationnel avec le lycée Jean Jaurès",
               "Ateliers mémoire avec la mairie de Bagnolet"],
        "O2": ["Consultations avancées du centre hospitalier à l'EHPAD",
               "Journée de prévention des chutes avec le centre hospitalier"],
        "O3": []}
    assert [o.key for o in board.without_partnership] == ["O3"]
    with pf.read() as session:  # built from the map: the demo's relationships were read
        task = session.scalar(select(HumanTask).where(HumanTask.element_id == "draw_up_plan"))
    assert {"Centre hospitalier de Montreuil", "Pharmacie du Marché"} <= {
        r["partner"] for r in task.context["map_relationships"]}
