"""The visual form editor in Chromium: a designer adds a field, makes it a list of choices,
reorders the fields by keyboard and by dragging, sees the preview follow, and saves the same
definition the JSON view shows; what the editor does not show (rules, earlier steps shown)
is kept as written, and an existing field's key cannot be renamed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from partnerflow.engine.store.models import FormVersion
from tests.browser.conftest import serve, sign_in
from tests.conftest import deploy, make_user
from tests.web.support import PASSWORD

pytestmark = pytest.mark.browser

FORM = "/modeleur/formulaires/idea_validation"


@pytest.fixture
def method(pf):
    deploy(pf, pf.method_files())
    make_user(pf, "designer", "designer", password=PASSWORD)
    return pf


@pytest.fixture
def live_server(pf, method):
    yield from serve(pf)


def definition(page) -> dict:
    return json.loads(page.input_value("#schema"))


def keys_in_order(schema: dict) -> list[str]:
    props = schema["properties"]
    return sorted(props, key=lambda k: (props[k].get("x-order", 1000), list(props).index(k)))


def test_a_designer_builds_a_field_without_json_and_saves_the_same_definition(page, method):
    pf = method
    sign_in(page, "designer")
    page.goto(FORM)
    page.wait_for_selector("#preview input[name=idea_decision]")
    before = definition(page)
    cards = page.locator("#fields > li > .fb-field")
    count = cards.count()
    assert count == len(before["properties"])

    # an existing field's key is the process variable: it cannot be renamed here
    assert cards.nth(0).locator(".fb-key").get_attribute("readonly") is not None

    # a new field: key, label, a list of two choices, required, shared with the partner
    page.click("#add-field")
    card = cards.nth(count)
    card.locator(".fb-key").fill("priority_level")
    card.locator(".fb-key").dispatch_event("change")
    card = page.locator('.fb-field[data-key="priority_level"]')
    card.get_by_label("Libellé").fill("Priorité")
    card.get_by_label("Type").select_option("radio")
    card = page.locator('.fb-field[data-key="priority_level"]')
    card.get_by_role("button", name="Ajouter un choix").click()
    card = page.locator('.fb-field[data-key="priority_level"]')
    card.get_by_label("Valeur enregistrée 1").fill("high")
    card.get_by_label("Libellé affiché 1").fill("Haute")
    card.get_by_label("Valeur enregistrée 2").fill("low")
    card.get_by_label("Libellé affiché 2").fill("Basse")
    card.get_by_label("Obligatoire").check()
    card.get_by_label("Qui le lit").select_option("everyone")
    page.wait_for_selector("#preview input[name=priority_level][value=high]")
    assert "Priorité" in page.inner_text("#preview")

    schema = definition(page)
    field = schema["properties"]["priority_level"]
    assert field["type"] == "string" and field["x-widget"] == "radio"
    assert field["oneOf"] == [{"const": "high", "title": "Haute"}, {"const": "low", "title": "Basse"}]
    assert field["x-audience"] == "everyone" and "priority_level" in schema["required"]
    assert keys_in_order(schema)[-1] == "priority_level"

    # by keyboard: the ↑ button moves it up one place, and focus stays on the field's buttons
    card.get_by_role("button", name="Monter « Priorité »").click()
    assert keys_in_order(definition(page))[-2] == "priority_level"
    assert "position" in page.inner_text("#fields-announce")
    page.keyboard.press("Enter")  # the focused ↑ again
    assert keys_in_order(definition(page))[-3] == "priority_level"

    # by dragging: onto the first field's card (both in view, so that nothing scrolls mid-drag)
    page.set_viewport_size({"width": 1280, "height": 16000})
    first = keys_in_order(definition(page))[0]
    page.locator('.fb-field[data-key="priority_level"] .fb-handle').drag_to(
        page.locator(f'.fb-field[data-key="{first}"] legend'))
    assert keys_in_order(definition(page))[0] == "priority_level"

    # what the visual editor does not show is kept as written
    schema = definition(page)
    for kept in ("x-rules", "x-shows", "x-instructions"):
        if kept in before:
            assert schema[kept] == before[kept]

    # saved: the stored version is the definition the JSON view shows
    with page.expect_response(lambda r: r.url.endswith(FORM) and r.request.method == "POST") as response:
        page.click("#save-form")
    assert response.value.status == 200
    with pf.read() as db:
        stored = db.scalar(select(FormVersion.schema).where(FormVersion.form_key == "idea_validation")
                           .order_by(FormVersion.id.desc()).limit(1))
    assert stored == definition(page)


def test_the_json_view_and_the_fields_are_one_definition(page, method):
    sign_in(page, "designer")
    page.goto(FORM)
    page.wait_for_selector("#preview input[name=idea_decision]")
    page.click("#tab-json")
    schema = definition(page)
    schema["properties"]["meeting_date"] = {"type": "string", "format": "date", "title": "Date du comité",
                                            "x-order": 1}
    page.fill("#schema", json.dumps(schema, ensure_ascii=False))
    page.wait_for_selector('.fb-field[data-key="meeting_date"]', state="attached")
    page.click("#tab-fields")
    card = page.locator('.fb-field[data-key="meeting_date"]')
    assert card.get_by_label("Type").input_value() == "date"
    assert page.locator("#fields > li").first.locator(".fb-field").get_attribute("data-key") == "meeting_date"
    # the tabs answer the arrow keys
    page.focus("#tab-fields")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-json", "aria-selected") == "true"
    assert page.is_visible("#schema")
