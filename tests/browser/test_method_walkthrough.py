"""The real method in the browser, as three people live it: a professional proposes an idea,
the direction validates it and writes the mission letter naming the delegate, the delegate
elaborates, the direction sends it back once, then validates; the partnership reaches the
negotiation stage. The forms are filled from their real definitions in forms/."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from partnerflow.engine.models import HumanTask, Partnership
from partnerflow.engine.roles import ROLES
from tests.browser.conftest import serve, sign_in
from tests.conftest import ROOT, deploy, make_user
from tests.web.support import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (ROOT / "bpmn" / "partnership_cycle.bpmn").exists()
                       or not (ROOT / "forms" / "idea.json").exists(),
                       reason="the method (bpmn/partnership_cycle.bpmn, forms/idea.json) is not there yet"),
]
FORMS = ROOT / "forms"


@pytest.fixture
def live_server(pf):
    deploy(pf, sorted((ROOT / "bpmn").glob("*.bpmn")) + sorted((ROOT / "bpmn").glob("*.dmn")))
    make_user(pf, "sophie", "professional", password=PASSWORD)
    make_user(pf, "claire", "direction", password=PASSWORD)
    make_user(pf, "karim", "professional", "delegate", password=PASSWORD)
    yield from serve(pf)


def _schema(form_key: str) -> dict:
    return json.loads((FORMS / f"{form_key}.json").read_text(encoding="utf-8"))


def _widget(prop: dict) -> str:
    from partnerflow.web.webforms import widget_of

    return widget_of(prop)


def fill_form(page, form_key: str, answers: dict | None = None) -> None:
    """Fill every required field of a real form (and the given answers) as a person would."""
    schema = _schema(form_key)
    answers = answers or {}
    _fill_object(page, schema, answers, prefix="")


def _fill_object(page, schema: dict, answers: dict, prefix: str) -> None:
    required = set(schema.get("required", []))
    for key, prop in schema.get("properties", {}).items():
        if key not in required and key not in answers:
            continue
        name = prefix + key
        value = answers.get(key)
        widget = _widget(prop)
        if widget == "rows":
            rows = value or [{}] * max(prop.get("minItems", 1), 1)
            box = page.locator(f"[data-rows='{name}']")
            present = box.locator(".row-list > .row-item").count()
            for _ in range(len(rows) - present):
                box.locator(".add-row").last.click()
            for i, row in enumerate(rows):
                _fill_object(page, prop.get("items", {}), row, prefix=f"{name}-{i}-")
        else:
            _fill_field(page, name, widget, prop, value)


def _fill_field(page, name: str, widget: str, prop: dict, value) -> None:
    if widget in ("radio", "checkboxes"):
        choice = value if value is not None else _options(prop)[0]
        page.locator(f"input[name='{name}'][value='{choice}']").check()
    elif widget == "checkbox":
        page.locator(f"input[type=checkbox][name='{name}']").check()
    elif widget in ("select", "user", "organisation"):
        field = page.locator(f"select[name='{name}']")
        if value is not None:
            field.select_option(value)
        else:
            field.select_option(index=1)
    elif widget == "date":
        page.fill(f"[name='{name}']", value or (date(2026, 3, 2) + timedelta(days=30)).isoformat())
    elif widget in ("number", "euros"):
        page.fill(f"[name='{name}']", str(value if value is not None else prop.get("minimum", 0) + 1))
    elif widget != "file":
        page.fill(f"[name='{name}']", value or f"{prop.get('title', name)} : réponse de test")


def _options(prop: dict) -> list[str]:
    source = prop.get("items", prop) if prop.get("type") == "array" else prop
    return [str(o["const"]) for o in source.get("oneOf", [])] or [str(v) for v in source.get("enum", [])]


def open_task(page, title: str) -> None:
    page.goto("/")
    link = page.locator("table.tasks a", has_text=title)
    assert link.count() == 1, f"no task « {title} » in the inbox of this user"
    link.click()
    page.wait_for_load_state()


def submit_task(page, title: str) -> None:
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_url("**/")
    flash = page.locator(".flash").first.inner_text()
    assert "est terminée" in flash, flash
    assert title[:20] in flash


def sign_out(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion")


def _stage(pf) -> str:
    with pf.read() as db:
        return db.scalars(select(Partnership.stage)).one()


def _open_titles(pf) -> list[tuple[str, str | None, str | None]]:
    with pf.read() as db:
        return [(t.title, t.role, t.assignee) for t in db.scalars(
            select(HumanTask).where(HumanTask.state == "open").order_by(HumanTask.id))]


def test_an_idea_goes_through_validation_mission_letter_and_elaboration(new_page, pf):
    page = new_page()
    # 1. a professional proposes an idea
    sign_in(page, "sophie")
    page.goto("/partenariats/")
    page.get_by_role("link", name="Proposer une idée").click()
    page.wait_for_url("**/partenariats/nouvelle-idee")
    page.allow_status(422)
    page.get_by_role("button", name="Proposer cette idée").click()  # empty: refused, field by field
    page.wait_for_load_state()
    assert page.locator("[aria-invalid=true]").count() >= 3
    assert page.locator(".error-summary").is_visible()
    fill_form(page, "idea", {"idea_title": "Jardin partagé avec le lycée agricole",
                             "idea_origin": "chance_meeting"})
    page.get_by_role("button", name="Proposer cette idée").click()
    page.wait_for_url("**/partenariats/*")
    assert "Votre idée est proposée" in page.locator(".flash").inner_text()
    assert page.locator("h1").inner_text() == "Jardin partagé avec le lycée agricole"
    assert _stage(pf) == "idea"
    sign_out(page)

    # 2. the direction validates the idea, then writes the mission letter naming karim
    sign_in(page, "claire")
    open_task(page, "Valider l'idée")
    assert "Jardin partagé avec le lycée agricole" in page.locator(".crumbs").inner_text()
    fill_form(page, "idea_validation", {"idea_decision": "accept"})
    submit_task(page, "Valider l'idée")
    assert _stage(pf) == "elaboration"
    open_task(page, "Rédiger la lettre de mission")
    assert page.locator("select[name=delegate] option[value=karim]").count() == 1
    fill_form(page, "mission_letter", {"delegate": "karim"})
    submit_task(page, "Rédiger la lettre de mission")
    assert ("Élaborer le projet partenarial", "delegate", "karim") in _open_titles(pf)
    sign_out(page)

    # 3. the delegate elaborates
    sign_in(page, "karim")
    open_task(page, "Élaborer le projet partenarial")
    fill_form(page, "elaboration")
    submit_task(page, "Élaborer le projet partenarial")
    sign_out(page)

    # 4. the direction sends it back once (a comment is then required), then validates
    sign_in(page, "claire")
    open_task(page, "Valider l'élaboration")
    page.locator("input[name=elaboration_decision][value=send_back]").check()
    page.allow_status(422)
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_load_state()
    assert "Dites ce qui manque ou pourquoi." in page.locator(
        "[data-field=elaboration_validation_comment]").inner_text()
    fill_form(page, "elaboration_validation", {"elaboration_decision": "send_back",
                                               "elaboration_validation_comment": "Préciser les besoins."})
    submit_task(page, "Valider l'élaboration")
    sign_out(page)
    sign_in(page, "karim")
    open_task(page, "Élaborer le projet partenarial")
    if page.locator("details.context").get_attribute("open") is None:
        page.locator("details.context summary").click()  # unfold what was said so far
    assert "Préciser les besoins." in page.locator("details.context").inner_text()
    fill_form(page, "elaboration")
    submit_task(page, "Élaborer le projet partenarial")
    sign_out(page)
    sign_in(page, "claire")
    open_task(page, "Valider l'élaboration")
    fill_form(page, "elaboration_validation", {"elaboration_decision": "validate"})
    submit_task(page, "Valider l'élaboration")

    # stage 3 has begun: the partnership page says so and someone has a negotiation task
    assert _stage(pf) == "negotiation"
    open_tasks = _open_titles(pf)
    assert open_tasks and all(role in ROLES for _t, role, _a in open_tasks)
    page.goto("/partenariats/")
    page.get_by_role("link", name="Jardin partagé avec le lycée agricole").click()
    assert page.locator(".stages li.current").inner_text() == "La négociation"
