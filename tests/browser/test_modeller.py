"""The modeller in Chromium, on the SHIPPED method: every diagram opens, a designer edits a task
in the bpmn-js properties panel and deploys, a broken diagram is refused with its elements
marked, a DMN cell edited in the decision table changes the level the engine decides, and the
form editor previews and refuses.

The app serves the `pf` engine (shipped forms) with bpmn/*.bpmn, bpmn/*.dmn and the one-step
tests/fixtures/formalisation_decision.bpmn deployed; users `designer`, `direction`,
`professional`. The engine side (starting instances, running the decision) goes through
engine.services, as users would through the app.

Selectors (bpmn-js-properties-panel 5, Camunda Platform provider; dmn-js 17):
  * a group is `[data-group-id=group-general]`, `[data-group-id=group-CamundaPlatform__Form]`,
    `[data-group-id=group-CamundaPlatform__Condition]`; it is open when its
    `.bio-properties-panel-group-entries` has the class `open`; its header toggles it;
  * entries are `#bio-properties-panel-<name>`: `name` (textarea), `formType` (select, value
    `formKey` = "Embedded or External Task Forms"), `formKey`, `conditionType`,
    `conditionExpression`;
  * a decision table cell is `td[data-element-id=<inputEntry id>]`; clicking its
    `.content-editable` opens a CodeMirror FEEL editor (`.cm-content`) that takes keystrokes.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from partnerflow.engine.runtime import modelling, services
from partnerflow.engine.store.models import AuditEvent, FormVersion, HumanTask, ProcessVersion
from tests.browser.conftest import serve, sign_in
from tests.conftest import FIXTURES, deploy, make_user
from tests.scenarios.method import formalisation_inputs
from tests.web.support import PASSWORD, new_partnership, start

pytestmark = pytest.mark.browser

READY = "#modeller[data-ready=true]"
OLD_NAME = "Valider l'idée"
NEW_NAME = "Valider l'idée en comité de direction"


# ---------------------------------------------------------------- the shipped method, served


@pytest.fixture
def method(pf):
    """The shipped method deployed as `make run` does, plus the one-step decision process."""
    deploy(pf, [*pf.method_files(), FIXTURES / "formalisation_decision.bpmn"])
    for username in ("designer", "direction", "professional"):
        make_user(pf, username, username, password=PASSWORD)
    return pf


@pytest.fixture
def live_server(pf, method):  # overrides the conftest's fixture-engine server
    yield from serve(pf)


def shipped_keys(pf) -> list[tuple[str, str]]:
    names = {name for name, _content in pf.method_files()}
    with pf.read() as db:
        return sorted(set(db.execute(select(ProcessVersion.process_key, ProcessVersion.kind)
                                     .where(ProcessVersion.filename.in_(names))).all()))


def version_counts(pf) -> dict[str, int]:
    with pf.read() as db:
        return dict(db.execute(select(ProcessVersion.process_key, func.max(ProcessVersion.version))
                               .group_by(ProcessVersion.process_key)).all())


# ---------------------------------------------------------------- driving the page


def open_modeller(page, key: str) -> None:
    page.goto(f"/modeleur/{key}")
    page.wait_for_selector(READY, timeout=15000)


def click_element(page, element_id: str) -> None:
    """Click an element where it is drawn: the middle of a shape, or of a flow's first segment."""
    x, y = page.evaluate("""(id) => {
        const m = window.partnerflowModeler, canvas = m.get('canvas');
        const el = m.get('elementRegistry').get(id);
        canvas.scrollToElement(el);
        const vb = canvas.viewbox(), box = canvas.getContainer().getBoundingClientRect();
        const [a, b] = el.waypoints || [{x: el.x + 12, y: el.y + 12}, {x: el.x + 12, y: el.y + 12}];
        const p = {x: (a.x + b.x) / 2, y: (a.y + b.y) / 2};
        return [box.left + (p.x - vb.x) * vb.scale, box.top + (p.y - vb.y) * vb.scale];
    }""", element_id)
    page.mouse.click(x, y)
    page.wait_for_function("(id) => { const s = window.partnerflowModeler.get('selection').get();"
                           " return s.length === 1 && s[0].businessObject.id === id; }", arg=element_id)


def open_group(page, group_id: str):
    group = page.locator(f'#properties [data-group-id="{group_id}"]')
    entries = group.locator(".bio-properties-panel-group-entries")
    if "open" not in (entries.get_attribute("class") or "").split():
        group.locator(".bio-properties-panel-group-header").click()
    page.wait_for_function("(g) => document.querySelector(`#properties [data-group-id=\"${g}\"] "
                           ".bio-properties-panel-group-entries`).classList.contains('open')",
                           arg=group_id)
    return group


def type_into(page, selector: str, text: str) -> None:
    field = page.locator(selector)
    field.click()
    field.press("Control+A")
    field.press("Delete")
    field.press_sequentially(text)
    field.press("Tab")  # the panel commits on its debounce; leaving the field flushes it


def business_attribute(page, element_id: str, attribute: str):
    return page.evaluate("([id, attr]) => window.partnerflowModeler.get('elementRegistry')"
                         ".get(id).businessObject.get(attr)", [element_id, attribute])


def wait_attribute(page, element_id: str, attribute: str, value) -> None:
    page.wait_for_function("([id, attr, value]) => window.partnerflowModeler.get('elementRegistry')"
                           ".get(id).businessObject.get(attr) === value", arg=[element_id, attribute, value])


def expect_refusals(page, status: int = 422) -> list[str]:
    """Let the page receive `status` from fetch() calls (the deploy refusals); any other
    error still fails the test through the conftest's hooks."""
    page.allow_status(status)
    return []


def deploy_with_button(page):
    with page.expect_response(re.compile(r"/deployer$")) as response:
        page.click("#deploy")
    page.wait_for_function("() => !['', '…'].includes(document.getElementById('modeller-status')"
                           ".textContent)")
    return response.value


# ---------------------------------------------------------------- (1) every diagram opens


def check_opened(page, key: str, kind: str) -> None:
    page.wait_for_selector(READY, timeout=15000)
    if kind == "bpmn":
        seen = page.evaluate("""() => {
            const m = window.partnerflowModeler, root = m.get('canvas').getRootElement();
            return m.get('elementRegistry').filter(e => e !== root && !e.labelTarget).length;
        }""")
        assert seen > 0, key
        assert page.locator("#canvas .djs-shape").count() > 0, key
        assert page.locator("#properties .bio-properties-panel").count() == 1, key
    else:
        seen = page.evaluate("""() => {
            const m = window.partnerflowModeler, view = m.getActiveView();
            return {type: view.type, id: view.element.id,
                    count: m.getActiveViewer().get('elementRegistry').getAll().length};
        }""")
        assert seen["type"] == "decisionTable" and seen["id"] == key
        assert seen["count"] > 0
        assert page.locator("#canvas .tjs-table td.input-cell").count() > 0
    assert page.inner_text("#modeller-status") == "", key
    assert page.locator("#modeller-problems").is_hidden(), key


def test_every_shipped_diagram_opens_in_the_modeller(page, method):
    keys = shipped_keys(method)
    assert {k for k, kind in keys if kind == "dmn"} == {"formalisation_level"}
    assert {"partnership_cycle", "stage_idea", "stage_negotiation"} <= {k for k, _ in keys}
    sign_in(page, "designer")
    for key, kind in keys:
        page.goto(f"/modeleur/{key}")
        check_opened(page, key, kind)


# ---------------------------------------------------------------- (2) properties panel, deploy


def test_a_task_renamed_in_the_properties_panel_reaches_new_instances_only(page, new_page, method):
    pf = method
    schema = pf.forms.get("idea_validation").schema
    with pf.uow() as uow:  # the new form the designer will point the task at
        modelling.save_form(uow, form_key="idea_validation_committee",
                            schema={**schema, "title": "Valider l'idée en comité"}, actor="designer")
    pf.forget_saved_forms()
    before = new_partnership(pf, "Partenariat lancé avant", actor="direction")
    [old_task] = start(pf, before, "stage_idea", actor="direction")

    sign_in(page, "designer")
    open_modeller(page, "stage_idea")
    click_element(page, "validate_idea")
    assert page.inner_text(".bio-properties-panel-header-label") == OLD_NAME
    open_group(page, "group-general")
    assert page.input_value("#bio-properties-panel-name") == OLD_NAME
    type_into(page, "#bio-properties-panel-name", NEW_NAME)
    open_group(page, "group-CamundaPlatform__Form")
    assert page.input_value("#bio-properties-panel-formType") == "formKey"
    assert page.input_value("#bio-properties-panel-formKey") == "idea_validation"
    type_into(page, "#bio-properties-panel-formKey", "idea_validation_committee")
    wait_attribute(page, "validate_idea", "name", NEW_NAME)
    wait_attribute(page, "validate_idea", "camunda:formKey", "idea_validation_committee")
    assert page.inner_text(".bio-properties-panel-header-label") == NEW_NAME
    label = page.locator('#canvas .djs-element[data-element-id="validate_idea"] text').text_content()
    assert "comité de direction" in label  # the label on the canvas follows the panel

    response = deploy_with_button(page)
    assert response.status == 200
    body = response.json()
    assert body["deployed"] is True
    assert {"process_key": "stage_idea", "name": "L'idée première", "version": 2,
            "created": True} in body["items"]
    assert "L'idée première v2" in page.inner_text("#modeller-status")
    assert page.inner_text("#modeller-version") == "v2"  # the heading names the deployed version
    assert page.locator("#modeller-problems").is_hidden()
    assert version_counts(pf)["stage_idea"] == 2

    after = new_partnership(pf, "Partenariat lancé après", actor="direction")
    [new_task] = start(pf, after, "stage_idea", actor="direction")
    with pf.read() as db:
        old_row, new_row = db.get(HumanTask, old_task), db.get(HumanTask, new_task)
        assert (old_row.title, old_row.form_key) == (OLD_NAME, "idea_validation")
        assert (new_row.title, new_row.form_key) == (NEW_NAME, "idea_validation_committee")

    inbox = new_page()
    sign_in(inbox, "direction")
    task_in = {title: inbox.inner_text(f"table.tasks tbody tr:has(td:nth-child(3) a:text-is('{title}')) "
                                       "td:nth-child(2) > a")
               for title in ("Partenariat lancé avant", "Partenariat lancé après")}
    assert task_in == {"Partenariat lancé avant": OLD_NAME, "Partenariat lancé après": NEW_NAME}
    inbox.click(f"table.tasks a:text-is(\"{NEW_NAME}\")")
    inbox.wait_for_url(f"**/taches/{new_task}**")
    assert NEW_NAME in inbox.inner_text("h1")


# ---------------------------------------------------------------- (3) a broken diagram is refused


def test_a_broken_diagram_is_refused_with_its_elements_marked(page, method):
    pf = method
    before = version_counts(pf)
    unexpected = expect_refusals(page)
    sign_in(page, "designer")
    open_modeller(page, "stage_idea")

    click_element(page, "flow_accept_idea")
    open_group(page, "group-CamundaPlatform__Condition")
    assert page.input_value("#bio-properties-panel-conditionType") == "expression"
    assert page.input_value("#bio-properties-panel-conditionExpression") == 'idea_decision == "accept"'
    type_into(page, "#bio-properties-panel-conditionExpression", 'idea_decision == "accept" and')
    click_element(page, "validate_idea")
    open_group(page, "group-CamundaPlatform__Form")
    type_into(page, "#bio-properties-panel-formKey", "formulaire_fantome")
    wait_attribute(page, "validate_idea", "camunda:formKey", "formulaire_fantome")
    assert page.evaluate("() => window.partnerflowModeler.get('elementRegistry').get('flow_accept_idea')"
                         ".businessObject.conditionExpression.body") == 'idea_decision == "accept" and'

    response = deploy_with_button(page)
    assert response.status == 422
    problems = response.json()["problems"]
    assert {p["element_id"] for p in problems} >= {"flow_accept_idea", "validate_idea"}
    page.wait_for_selector("#modeller-problems:not([hidden])")
    listed = page.locator("#modeller-problems li")
    assert page.locator('#modeller-problems li[data-element="flow_accept_idea"]').count() == 1
    assert "formulaire_fantome" in page.inner_text('#modeller-problems li[data-element="validate_idea"]')
    assert listed.count() == len(problems)
    for element_id in ("flow_accept_idea", "validate_idea"):
        assert page.locator(f'#canvas .djs-element[data-element-id="{element_id}"].pf-error').count() == 1
    assert page.locator("#canvas .djs-element.pf-error").count() == 2
    assert "refusé" in page.inner_text("#modeller-status")
    assert version_counts(pf) == before  # nothing deployed

    # a problem in the list leads to its element
    page.click('#modeller-problems li[data-element="flow_accept_idea"]')
    assert page.evaluate("() => window.partnerflowModeler.get('selection').get()"
                         ".map(e => e.businessObject.id)") == ["flow_accept_idea"]
    assert unexpected == []


# ---------------------------------------------------------------- (4) a DMN cell changes the level


def test_a_decision_table_cell_edited_in_the_browser_changes_the_level(page, method):
    pf = method
    partnership = new_partnership(pf, "Subvention de 30 000 €", actor="direction")

    def level() -> str:
        with pf.uow() as uow:
            instance_id = services.start_instance(
                uow, partnership_id=partnership, process_key="formalisation_decision",
                actor="direction", data=formalisation_inputs(annual_public_subsidy_eur=30000))
        with pf.read() as db:
            event = db.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                        AuditEvent.type == "decision_evaluated")).one()
            return event.payload["outputs"]["formalisation_level"]

    assert level() == "L2"  # 30 000 € > 23 000 €: a written convention
    sign_in(page, "designer")
    open_modeller(page, "formalisation_level")
    cell = page.locator('td[data-element-id="rule_l2_public_subsidy_annual_public_subsidy_eur"]')
    assert cell.locator(".content-editable").inner_text().strip() == "> 23000"
    cell.locator(".content-editable").click()
    editor = cell.locator(".cm-content")
    editor.wait_for()
    editor.press("Control+A")
    editor.press_sequentially("> 50000")
    page.click("h1")  # leave the cell
    assert cell.locator(".content-editable").inner_text().strip() == "> 50000"

    response = deploy_with_button(page)
    assert response.status == 200
    created = {(i["process_key"], i["version"]) for i in response.json()["items"] if i["created"]}
    assert ("formalisation_level", 2) in created
    assert "Niveau de formalisation v2" in page.inner_text("#modeller-status")
    assert page.inner_text("#modeller-version") == "v2"
    # the processes that call the decision are pinned to the new table
    assert ("formalisation_decision", 2) in created and ("stage_negotiation", 2) in created
    with pf.read() as db:
        source = db.scalar(select(ProcessVersion.source).where(
            ProcessVersion.process_key == "formalisation_level", ProcessVersion.version == 2))
    assert "&gt; 50000" in source and "&gt; 23000" not in source

    assert level() == "L1"  # 30 000 € is now under the threshold


def test_a_decision_table_cell_that_does_not_compile_is_refused_and_highlighted(page, method):
    pf = method
    before = version_counts(pf)
    expect_refusals(page)
    sign_in(page, "designer")
    open_modeller(page, "formalisation_level")
    cell_id = "rule_l2_public_subsidy_annual_public_subsidy_eur"
    cell = page.locator(f'td[data-element-id="{cell_id}"]')
    cell.locator(".content-editable").click()
    editor = cell.locator(".cm-content")
    editor.wait_for()
    editor.press("Control+A")
    editor.press_sequentially("> > 23000")
    page.click("h1")
    response = deploy_with_button(page)
    assert response.status == 422
    assert cell_id in page.inner_text("#modeller-problems")
    assert "pf-error-cell" in (cell.get_attribute("class") or "")
    assert version_counts(pf) == before


# ---------------------------------------------------------------- the form editor


def test_the_form_editor_previews_typed_fields_and_refuses_an_invalid_schema(page, method):
    pf = method
    unexpected = expect_refusals(page)
    sign_in(page, "designer")
    page.goto("/modeleur/formulaires/idea_validation")
    page.wait_for_selector("#preview input[name=idea_decision]")
    page.click("#tab-json")  # the JSON stays available beside the visual editor
    schema = json.loads(page.input_value("#schema"))
    schema["properties"]["committee_date"] = {"type": "string", "format": "date",
                                              "title": "Date du comité", "x-order": 30}
    page.fill("#schema", json.dumps(schema, ensure_ascii=False, indent=2))
    page.wait_for_selector("#preview input[name=committee_date]")
    assert "Date du comité" in page.inner_text("#preview")

    page.fill("#schema", '{"type": "object", "properties": {"x": {"type": "chaîne"}}}')
    with page.expect_response(re.compile(r"/formulaires/idea_validation$")) as response:
        page.click("#save-form")
    assert response.value.status == 422
    page.wait_for_function("() => document.getElementById('form-status').textContent.trim() !== ''")
    assert page.inner_text("#form-status").strip()
    with pf.read() as db:
        assert db.scalar(select(func.count()).select_from(FormVersion)
                         .where(FormVersion.form_key == "idea_validation")) == 0

    page.fill("#schema", "{ pas du JSON")
    page.wait_for_selector("#schema[aria-invalid=true]")
    assert "JSON invalide" in page.inner_text("#form-status")
    assert unexpected == []


def test_the_differences_between_two_versions_are_marked_on_the_diagram(page, method):
    pf = method
    with pf.read() as db:
        source = db.scalar(select(ProcessVersion.source).where(ProcessVersion.process_key == "stage_idea"))
    renamed = source.replace('name="Valider l&#39;idée"', 'name="Examiner l&#39;idée"')
    assert renamed != source
    with pf.uow() as uow:
        modelling.deploy_files(uow, files=[("stage_idea.bpmn", renamed.encode())], actor="designer")
    sign_in(page, "designer")
    page.goto("/modeleur/stage_idea/differences")
    page.wait_for_selector("#viewer[data-ready=true]", timeout=10000)
    assert page.locator('.djs-element[data-element-id="validate_idea"].pf-changed').count() == 1
    assert page.locator(".pf-changed").count() == 1
    assert "validate_idea" in page.inner_text("main")


# ---------------------------------------------------------------- (6) connectors as element templates


def test_a_designer_picks_a_connector_template_and_fills_its_inputs(page, method):
    sign_in(page, "designer")
    open_modeller(page, "stage_idea")
    page.wait_for_function("() => window.partnerflowModeler.get('elementTemplates').getAll().length >= 6")
    # a shipped service task shows its template and its inputs in the properties panel
    click_element(page, "send_validation_reminder")
    header = page.locator("#properties .bio-properties-panel-header")
    assert "notifier" in header.inner_text().lower()
    # the script task that archives a declined idea becomes a connector: picked from the list
    new_id = page.evaluate("""() => {
        const m = window.partnerflowModeler, registry = m.get('elementRegistry');
        const task = registry.get('archive_idea');
        const replaced = m.get('bpmnReplace').replaceElement(task, {type: 'bpmn:ServiceTask'});
        m.get('selection').select(replaced);
        return replaced.id;
    }""")
    assert new_id == "archive_idea"
    page.locator("#properties").get_by_role("button", name=re.compile("Select|Sélectionner")).first.click()
    chooser = page.locator(".djs-popup.element-template-chooser")
    chooser.wait_for(timeout=5000)
    assert chooser.locator(".entry").count() >= 5  # the service-task connectors, one per line
    chooser.locator("input").first.press_sequentially("partenariat")
    chooser.locator(".entry").filter(has_text="Mettre à jour le partenariat").first.click()
    wait_attribute(page, "archive_idea", "camunda:topic", "partnership.update")
    assert business_attribute(page, "archive_idea", "camunda:type") == "external"
    assert business_attribute(page, "archive_idea", "camunda:modelerTemplate") == \
        "partnerflow.partnership.update"
    # its inputs are fields of the panel: the status is chosen from a list
    status = page.locator("#properties select").filter(has=page.locator("option[value=archived]")).first
    group = page.locator("#properties .bio-properties-panel-group").filter(
        has=page.locator("option[value=archived]")).first
    if not status.is_visible():
        group.locator(".bio-properties-panel-group-header").first.click()
    status.select_option("archived")
    page.wait_for_function("""() => {
        const bo = window.partnerflowModeler.get('elementRegistry').get('archive_idea').businessObject;
        const io = (bo.extensionElements.values || []).find(v => v.$type === 'camunda:InputOutput');
        return io && io.inputParameters.some(p => p.name === 'status' && p.value === 'archived');
    }""")


# ---------------------------------------------------------------- (7) in French, fitted, whole


def test_the_modeller_speaks_french_palette_context_pad_and_properties_panel(page, method):
    sign_in(page, "designer")
    open_modeller(page, "stage_idea")
    titles = page.evaluate("() => [...document.querySelectorAll('#canvas .djs-palette .entry')]"
                           ".map(e => e.title || e.getAttribute('aria-label')).filter(Boolean)")
    assert "Créer un événement de début" in titles and "Créer une tâche" in titles
    assert "Outil main (déplacer le diagramme)" in titles
    assert not [t for t in titles if t.startswith("Create ") or t.startswith("Activate ")]
    click_element(page, "validate_idea")
    pad = page.evaluate("() => [...document.querySelectorAll('.djs-context-pad .entry')]"
                        ".map(e => e.title || e.getAttribute('aria-label')).filter(Boolean)")
    assert "Ajouter une tâche" in pad and "Changer le type d’élément" in pad and "Supprimer" in pad
    headers = page.evaluate("() => [...document.querySelectorAll('#properties "
                            ".bio-properties-panel-group-header-title')].map(e => e.textContent)")
    assert {"Général", "Documentation", "Formulaires", "Attribution",
            "Propriétés d’extension"} <= set(headers)
    assert "General" not in headers and "Inline script" not in page.inner_text("#properties")
    open_group(page, "group-general")
    general = page.inner_text('#properties [data-group-id="group-general"]')
    assert "Nom" in general and "Identifiant" in general and "Nom en anglais" in general
    assert page.input_value("#bio-properties-panel-nameEn") == "Validate the idea"
    open_group(page, "group-CamundaPlatform__Form")
    form_types = page.evaluate("() => [...document.querySelectorAll('#bio-properties-panel-formType "
                               "option')].map(o => o.textContent)")
    assert "Formulaire de la démarche (clé de formulaire)" in form_types
    # a script task shows its script group in French
    click_element(page, "record_idea_acceptance")
    open_group(page, "group-CamundaPlatform__Script")
    assert "Script intégré" in page.inner_text("#properties")


def test_the_english_name_is_edited_in_the_panel_and_kept_as_an_extension_property(page, method):
    sign_in(page, "designer")
    open_modeller(page, "stage_idea")
    click_element(page, "complete_idea")
    open_group(page, "group-general")
    type_into(page, "#bio-properties-panel-nameEn", "Complete the idea with details")
    page.wait_for_function("""() => {
        const bo = window.partnerflowModeler.get('elementRegistry').get('complete_idea').businessObject;
        const props = (bo.extensionElements.values || []).find(v => v.$type === 'camunda:Properties');
        return props.values.filter(p => p.name === 'name_en').map(p => p.value).join() ===
            'Complete the idea with details';
    }""")
    response = deploy_with_button(page)
    assert response.status == 200
    with method.read() as db:
        version = db.scalar(select(ProcessVersion).where(ProcessVersion.process_key == "stage_idea")
                            .order_by(ProcessVersion.version.desc()).limit(1))
    assert version.version == 2
    assert version.names["complete_idea"] == {"fr": "Compléter l'idée",
                                              "en": "Complete the idea with details"}


def test_at_fit_to_screen_the_palette_covers_no_element(page, method):
    sign_in(page, "designer")
    for key in ("stage_idea", "stage_negotiation", "partnership_cycle"):
        open_modeller(page, key)
        covered = page.evaluate("""() => {
            const palette = document.querySelector('#canvas .djs-palette').getBoundingClientRect();
            const canvas = document.querySelector('#canvas').getBoundingClientRect();
            return [...document.querySelectorAll('#canvas .djs-shape')].filter(shape => {
                const box = shape.getBoundingClientRect();
                return box.left < palette.right && box.right > palette.left &&
                       box.top < palette.bottom && box.bottom > palette.top;
            }).map(s => s.dataset.elementId)
              .concat([...document.querySelectorAll('#canvas .djs-shape')].filter(shape => {
                const box = shape.getBoundingClientRect();
                return box.left < canvas.left - 1 || box.right > canvas.right + 1;
            }).map(s => 'outside:' + s.dataset.elementId));
        }""")
        assert covered == [], (key, covered)
    page.click("#fit")  # the button fits again the same way
    start = page.locator('#canvas .djs-element[data-element-id="start_partnership"]').bounding_box()
    palette = page.locator("#canvas .djs-palette").bounding_box()
    assert start["x"] >= palette["x"] + palette["width"]


def test_the_decision_table_shows_all_its_rules_in_french(page, method):
    sign_in(page, "designer")
    page.set_viewport_size({"width": 1280, "height": 800})
    open_modeller(page, "formalisation_level")
    rows = page.locator("#canvas .tjs-table tbody tr")
    assert rows.count() == 13
    clipped = page.evaluate("""() => {
        const canvas = document.querySelector('#canvas');
        const box = canvas.getBoundingClientRect();
        return [...canvas.querySelectorAll('.tjs-table tbody tr')].filter(row => {
            const r = row.getBoundingClientRect();
            return r.top < box.top - 1 || r.bottom > box.bottom + 1;
        }).length + (canvas.scrollHeight > canvas.clientHeight + 1 ? 100 : 0);
    }""")
    assert clipped == 0  # every rule inside the editor, none behind a scroll bar
    text = page.inner_text("#canvas")
    assert "Politique de sélection" in text and "Hit policy" not in text
    assert "Quand" in text and "Alors" in text
    assert page.locator("#canvas .view-drd-button").inner_text().strip() == \
        "Voir le diagramme des exigences (DRD)"
