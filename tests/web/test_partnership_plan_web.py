"""The partnership plan in the browser's pages: the direction opens it from the dashboard and
reads the map on its task, the idea form offers the objectives of the approved plan, the
dashboard lists the objectives with their partnerships, and a partner never sees the plan."""

from __future__ import annotations

import html
import re

import pytest

from partnerflow.engine.access import accounts
from partnerflow.engine.method import plan, registry
from partnerflow.engine.runtime import queries, services
from partnerflow.engine.store.models import HumanTask
from partnerflow.web import create_app
from tests.conftest import deploy
from tests.scenarios.samples import IDEA
from tests.web.support import csrf_from, element, elements, login, post, text_of

PASSWORD = "demo"
DIRECTION, BOARD, PROFESSIONAL, PARTNER = "claire.martin", "anne.roux", "sophie.durand", "paul.lefevre"
PEOPLE = ((DIRECTION, "Claire Martin", "direction"), (BOARD, "Anne Roux", "board"),
          (PROFESSIONAL, "Sophie Durand", "professional"), (PARTNER, "Paul Lefèvre", "partner"))
PLAN = {
    "plan_title": "Plan de partenariat 2026-2027",
    "plan_period_start": "2026-03-02",
    "plan_review_date": "2027-03-01",
    "plan_needs": [{"need_id": "B1", "need_title": "L'isolement des résidents"}],
    "plan_objectives": [
        {"objective_id": "O1", "objective_title": "Ouvrir l'EHPAD sur le quartier",
         "objective_need": "B1", "objective_deadline": "2027-06-30",
         "objective_means": "Une animatrice à mi-temps."},
        {"objective_id": "O2", "objective_title": "Continuité des soins avec l'hôpital",
         "objective_need": "B1", "objective_deadline": "2027-12-31",
         "objective_means": "Temps du médecin coordonnateur."},
    ],
    "plan_resistances": [
        {"resistance_side": "external", "resistance_from": "Familles de résidents",
         "resistance_description": "Inquiétude sur la sécurité lors des sorties.",
         "resistance_listening": "Présentation au CVS.",
         "resistance_treatment": "Un protocole de sortie écrit avec le CVS."}],
    "plan_professionals": [{"professional": PROFESSIONAL,
                            "professional_contribution": "Ateliers ouverts aux habitants."}],
    "plan_vision": "Une maison ouverte sur la ville.",
}


@pytest.fixture
def method(pf):
    deploy(pf, pf.method_files())
    for username, full_name, role in PEOPLE:
        with pf.uow() as uow:
            accounts.create_user(uow, username=username, full_name=full_name, roles=[role],
                                 actor=None, password=PASSWORD)
    with pf.uow() as uow:
        accounts.ensure_organisation(uow.session, name="Association Les Tilleuls", is_own=True)
        uow.commit()
    with pf.uow() as uow:
        hospital = registry.create_organisation(uow, actor=DIRECTION, data={
            "name": "Centre hospitalier de Montreuil", "kind": "hospital"})
    with pf.uow() as uow:
        registry.create_relationship(uow, actor=DIRECTION, data={
            "partner_id": hospital, "kind": "partnership", "agreement": "written",
            "convention_end": "2027-01-31", "formalisation_level": "L2"})
    return pf


@pytest.fixture
def app(method):
    return create_app(partnerflow=method, TESTING=True)


def client_of(app, username: str):
    client = app.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def open_task(pf, element_id: str) -> HumanTask:
    with pf.read() as session:
        [task] = [t for t in session.query(HumanTask).filter_by(element_id=element_id, state="open")]
        return task


def approved_plan(pf) -> int:
    """The plan started, drawn up by the direction and approved by the board; its record's id."""
    with pf.uow() as uow:
        plan.start_plan(uow, actor=DIRECTION)
    for username, element_id, data in (
            (DIRECTION, "draw_up_plan", PLAN),
            (BOARD, "approve_plan", {"plan_decision": "approve", "plan_deliberation_date": "2026-03-10"})):
        task = open_task(pf, element_id)
        with pf.uow() as uow:
            assert services.complete_task(uow, task_id=task.id, actor=username, data=data).error is None
    with pf.read() as session:
        return plan.carrier(session).id


def options(body: str) -> list[tuple[str, str]]:
    """The options of the idea form's objective select (value, label)."""
    select = body.split('id="f-plan-objective"', 1)[1].split("</select>", 1)[0]
    return [(o["value"], html.unescape(o["__text__"]).strip()) for o in elements(select, "option")]


def field_text(body: str, key: str) -> str:
    """The text of the one value shown for field `key` (`<dd data-field="key">`)."""
    assert body.count(f'data-field="{key}"') == 1, key
    inner = body.split(f'data-field="{key}">', 1)[1].split("</dd>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", "", inner).split())


def test_the_idea_form_offers_the_objectives_of_the_approved_plan(method, app):
    professional = client_of(app, PROFESSIONAL)
    before = text_of(professional.get("/partenariats/nouvelle-idee"))
    assert options(before) == [("", "— choisir —"), ("hors plan", "Aucun / hors plan")]

    approved_plan(method)
    body = text_of(professional.get("/partenariats/nouvelle-idee"))
    assert element(body, "label", for_="f-plan-objective")["__text__"].strip() == (
        "Objectif du plan de partenariat")
    assert options(body) == [("", "— choisir —"), ("hors plan", "Aucun / hors plan"),
                             ("O1", "O1 — Ouvrir l'EHPAD sur le quartier"),
                             ("O2", "O2 — Continuité des soins avec l'hôpital")]

    form = {"csrf_token": csrf_from(body), "idea_title": "Ateliers mémoire avec la mairie",
            "idea_description": IDEA["idea_description"], "idea_origin": "chance_meeting",
            "expected_benefit": IDEA["expected_benefit"], "plan_objective": "O1"}
    response = professional.post("/partenariats/nouvelle-idee", data=form)
    assert response.status_code == 302, text_of(response)
    with method.read() as session:
        [named] = [pid for pid, key in plan.objectives_named(session).items() if key == "O1"]

    # the dashboard: each objective with its partnerships, and the one without any yet
    dashboard = html.unescape(text_of(client_of(app, DIRECTION).get("/tableau-de-bord")))
    table = dashboard.split('<table class="plan-objectives">', 1)[1].split("</table>", 1)[0]
    o1 = table.split('data-objective="O1"', 1)[1].split("</tr>", 1)[0]
    o2 = table.split('data-objective="O2"', 1)[1].split("</tr>", 1)[0]
    assert f'href="/partenariats/{named}"' in o1 and "Ateliers mémoire avec la mairie" in o1
    assert "30 juin 2027" in o1 and "Une animatrice à mi-temps." in o1
    assert "Aucun partenariat pour l’instant" in o2
    without = dashboard.split('<ul class="objectives-without">', 1)[1].split("</ul>", 1)[0]
    assert 'data-objective="O2"' in without and 'data-objective="O1"' not in without
    assert "Plan de partenariat : Plan de partenariat 2026-2027" in dashboard
    assert "approuvée par le conseil d’administration le 10 mars 2026" in dashboard
    resistances = dashboard.split('<table class="plan-resistances">', 1)[1].split("</table>", 1)[0]
    assert "externe" in resistances and "Un protocole de sortie écrit avec le CVS." in resistances
    assert "Sophie Durand — Ateliers ouverts aux habitants." in dashboard  # by name


def test_the_direction_opens_the_plan_from_the_dashboard_and_reads_the_map_on_its_task(method, app):
    direction = client_of(app, DIRECTION)
    body = text_of(direction.get("/tableau-de-bord"))
    assert "Aucun plan de partenariat approuvé pour l’instant." in html.unescape(body)
    token = csrf_from(body)
    assert direction.post("/tableau-de-bord/plan", data={"csrf_token": token}).status_code == 302
    assert direction.post("/tableau-de-bord/plan", data={"csrf_token": token}).status_code == 409

    task = open_task(method, "draw_up_plan")
    after = html.unescape(text_of(direction.get("/tableau-de-bord")))
    assert f'href="/taches/{task.id}"' in after and "Établir le plan de partenariat (version 1)" in after
    assert "Établir le plan de partenariat</button>" not in after  # one plan at a time
    page = html.unescape(text_of(direction.get(f"/taches/{task.id}")))
    carte = page.split("La carte : relations actuelles de l'organisation", 1)[1].split("</section>", 1)[0]
    assert "<table" in carte and "Centre hospitalier de Montreuil" in carte
    assert "Partenariat" in carte and "Écrit" in carte  # choices by their labels
    for field in ("plan-title", "plan-review-date", "plan-objectives", "plan-resistances"):
        assert f'data-field="{field.replace("-", "_")}"' in page, field

    # the board approves the plan from its inbox; it does not read the dashboard
    board = client_of(app, BOARD)
    assert board.get("/tableau-de-bord").status_code == 403
    assert post(board, "/tableau-de-bord/plan").status_code == 403


def test_a_partner_never_sees_the_plan(method, app):
    carrier = approved_plan(method)
    with method.uow() as uow:
        pid = services.create_partnership(uow, title="Consultations avancées", actor=DIRECTION)
    with method.uow() as uow:
        services.attach_member(uow, partnership_id=pid, username=PARTNER, actor=DIRECTION)
    with method.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="partnership_cycle",
                                actor=PROFESSIONAL, data={**IDEA, "plan_objective": "O2"})
    with method.read() as session:
        plan_tasks = [t.id for t in queries.tasks_of_partnership(session, carrier, "completed")]

    partner = client_of(app, PARTNER)
    assert partner.get("/tableau-de-bord").status_code == 403
    assert partner.get(f"/partenariats/{carrier}").status_code == 403
    assert partner.get(f"/partenariats/{carrier}/audit").status_code == 403
    assert partner.get("/partenariats/nouvelle-idee").status_code == 403
    for task_id in plan_tasks:
        assert partner.get(f"/taches/{task_id}").status_code == 403
    assert "Plan de partenariat" not in text_of(partner.get("/partenariats/"))
    # the objective an idea serves is internal: the partner's export of its partnership masks it
    own = text_of(partner.get(f"/partenariats/{pid}/audit.jsonl"))
    assert '"plan_objective": "[masqué]"' in own and '"O2"' not in own
    assert '"plan_objective": "O2"' in text_of(
        client_of(app, DIRECTION).get(f"/partenariats/{pid}/audit.jsonl"))
    # staff read the plan's page
    assert client_of(app, PROFESSIONAL).get(f"/partenariats/{carrier}").status_code == 200


def test_the_plan_s_page_is_the_plan_as_the_direction_reads_it(method, app):
    carrier = approved_plan(method)
    with method.uow() as uow:
        served = services.create_partnership(uow, title="Ateliers mémoire avec la mairie",
                                             actor=DIRECTION)
    with method.uow() as uow:
        services.start_instance(uow, partnership_id=served, process_key="partnership_cycle",
                                actor=PROFESSIONAL, data={**IDEA, "plan_objective": "O1"})
    page = html.unescape(text_of(client_of(app, DIRECTION).get(f"/partenariats/{carrier}")))
    the_plan = page.split('<section class="plan"', 1)[1].split("</section>", 1)[0]
    assert "Plan de partenariat : Plan de partenariat 2026-2027" in the_plan
    assert "Version 1 · approuvée par le conseil d’administration le 10 mars 2026" in the_plan
    assert "révision annuelle le 1 mars 2027" in the_plan
    needs = the_plan.split('<table class="plan-needs">', 1)[1].split("</table>", 1)[0]
    assert 'data-need="B1"' in needs and "L'isolement des résidents" in needs
    objectives = the_plan.split('<table class="plan-objectives">', 1)[1].split("</table>", 1)[0]
    o1 = objectives.split('data-objective="O1"', 1)[1].split("</tr>", 1)[0]
    assert "30 juin 2027" in o1 and "Une animatrice à mi-temps." in o1
    assert f'href="/partenariats/{served}"' in o1  # the partnerships serving the objective
    assert "Aucun partenariat pour l’instant" in objectives.split('data-objective="O2"', 1)[1]
    resistances = the_plan.split('<table class="plan-resistances">', 1)[1].split("</table>", 1)[0]
    assert "Présentation au CVS." in resistances  # how it is heard
    assert "Un protocole de sortie écrit avec le CVS." in resistances  # how it is treated
    assert "Sophie Durand — Ateliers ouverts aux habitants." in the_plan
    assert "Positionnements et vision" in the_plan and "Une maison ouverte sur la ville." in the_plan
    # not a partnership of the method's stages
    assert '<ol class="stages"' not in page and "Fiches action" not in page
    assert "Rattacher une organisation partenaire" not in page


def test_the_plan_s_page_before_any_approval_says_so_and_links_the_open_task(method, app):
    with method.uow() as uow:
        plan.start_plan(uow, actor=DIRECTION)
    task = open_task(method, "draw_up_plan")
    with method.read() as session:
        carrier = plan.carrier(session).id
    page = html.unescape(text_of(client_of(app, DIRECTION).get(f"/partenariats/{carrier}")))
    the_plan = page.split('<section class="plan"', 1)[1].split("</section>", 1)[0]
    assert "Aucun plan de partenariat approuvé pour l’instant." in the_plan
    assert f'href="/taches/{task.id}"' in the_plan


def test_an_idea_s_objective_reads_by_its_title_on_later_tasks_and_on_the_partnership_page(
        method, app):
    approved_plan(method)
    pages = {}
    for objective in ("O1", "hors plan", "O9"):
        with method.uow() as uow:
            pid = services.create_partnership(uow, title=f"Idée {objective}", actor=DIRECTION)
        with method.uow() as uow:
            services.attach_member(uow, partnership_id=pid, username=PARTNER, actor=DIRECTION)
        with method.uow() as uow:
            services.start_instance(uow, partnership_id=pid, process_key="partnership_cycle",
                                    actor=PROFESSIONAL, data={**IDEA, "plan_objective": objective})
        validation = open_task(method, "validate_idea") if objective == "O1" else None
        direction = client_of(app, DIRECTION)
        shown = html.unescape(text_of(direction.get(f"/partenariats/{pid}")))
        pages[objective] = field_text(shown, "plan_objective")
        if validation is not None:
            task_page = html.unescape(text_of(direction.get(f"/taches/{validation.id}")))
            assert field_text(task_page, "plan_objective") == "O1 — Ouvrir l'EHPAD sur le quartier"
            with method.uow() as uow:  # decided, so that the next idea's task is the only one
                services.complete_task(uow, task_id=validation.id, actor=DIRECTION, data={
                    "idea_decision": "decline", "idea_validation_comment": "Pas maintenant."})
        # the objective is internal: the partner's page does not say it
        partner_page = text_of(client_of(app, PARTNER).get(f"/partenariats/{pid}"))
        assert 'data-field="plan_objective"' not in partner_page
    assert pages["O1"] == "O1 — Ouvrir l'EHPAD sur le quartier"
    assert pages["hors plan"] == "Aucun / hors plan"
    assert pages["O9"] == "O9 (absent du plan de partenariat approuvé)"


def test_the_yearly_review_s_form_starts_from_the_approved_plan(method, app, clock):
    from datetime import UTC, datetime

    approved_plan(method)
    clock.set(datetime(2027, 3, 1, 0, 5, tzinfo=UTC))
    with method.uow() as uow:
        assert services.fire_due_timers(uow) == 1
    review = open_task(method, "draw_up_plan")
    assert review.title.endswith("(version 2)")
    page = html.unescape(text_of(client_of(app, DIRECTION).get(f"/taches/{review.id}")))
    form = page.split("<form", 1)[1]

    def value(name: str) -> str | None:
        found = [e for e in elements(form, "input") if e.get("name") == name]
        return found[0].get("value") if found else None

    assert value("plan_objectives-0-objective_id") == "O1"
    assert value("plan_objectives-0-objective_title") == "Ouvrir l'EHPAD sur le quartier"
    assert value("plan_objectives-1-objective_title") == "Continuité des soins avec l'hôpital"
    assert value("plan_needs-0-need_title") == "L'isolement des résidents"
    assert value("plan_resistances-0-resistance_from") == "Familles de résidents"
    assert "Un protocole de sortie écrit avec le CVS." in form  # a textarea of the row
    assert value("plan_title") in (None, "")  # a new title and new dates are asked


def test_the_dashboard_lists_the_first_partnerships_of_an_objective_and_links_to_them_all(
        method, app, monkeypatch):
    from partnerflow.engine.method import dashboard as board

    monkeypatch.setattr(board, "PLAN_SHOWN", 2)
    approved_plan(method)
    titles = ["Chorale des voisins", "Atelier numérique", "Jardin partagé", "Bibliothèque"]
    for title in titles:
        with method.uow() as uow:
            pid = services.create_partnership(uow, title=title, actor=PROFESSIONAL)
        with method.uow() as uow:
            services.start_instance(uow, partnership_id=pid, process_key="partnership_cycle",
                                    actor=PROFESSIONAL,
                                    data=dict(IDEA, idea_title=title, plan_objective="O1"))
    direction = client_of(app, DIRECTION)
    body = html.unescape(text_of(direction.get("/tableau-de-bord")))
    o1 = body.split('data-objective="O1"', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<a href="/partenariats/\d+">([^<]+)</a>', o1) == sorted(titles)[:2]
    assert 'href="/partenariats/?objectif=O1"' in o1 and "Les 4 partenariats de l’objectif" in o1
    # the list filtered on the objective: the four, and only them
    listed = html.unescape(text_of(direction.get("/partenariats/?objectif=O1")))
    assert sorted(re.findall(r'<td><a href="/partenariats/\d+">([^<]+)</a></td>', listed)) == sorted(titles)
    assert "Objectif du plan : O1" in listed
