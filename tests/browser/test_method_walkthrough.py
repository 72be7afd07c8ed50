"""The real method in the browser, as three people live it: a professional proposes an idea,
the direction validates it and writes the mission letter naming the delegate, the delegate
elaborates, the direction sends it back once, then validates; the partnership reaches the
negotiation stage. The forms are filled from their real definitions in forms/.

A second test walks a whole partnership from the idea to the first intermediate evaluation:
the formalisation criteria first, the negotiation with the partner's comments, a level L2
convention put into form as a PDF and signed by each party, in parallel (password typed again),
the hospital then on the map with the convention's dates, the action sheets, the realisation of a
single plan whose intermediate evaluation date is already past, and that evaluation. The
answers are the engine scenarios' realistic ones (tests/scenarios/method.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from partnerflow.engine import audit
from partnerflow.engine.access.groups import ROLES
from partnerflow.engine.store.models import HumanTask, Partnership, Signature
from tests.browser.conftest import serve, sign_in
from tests.conftest import ROOT, deploy, make_user
from tests.scenarios.method import LEVEL_CASES, Samples, formalisation_inputs
from tests.web.support import PASSWORD

pytestmark = pytest.mark.browser
FORMS = ROOT / "forms"


@pytest.fixture
def live_server(pf):
    deploy(pf, sorted((ROOT / "bpmn").glob("*.bpmn")) + sorted((ROOT / "bpmn").glob("*.dmn")))
    make_user(pf, "sophie", "professional", password=PASSWORD)
    make_user(pf, "claire", "direction", password=PASSWORD)
    make_user(pf, "karim", "professional", "delegate", password=PASSWORD)
    make_user(pf, "paul", "partner", password=PASSWORD)
    make_user(pf, "lucas", "steering", password=PASSWORD)
    make_user(pf, "ines", "admin", password=PASSWORD)
    # the map: our organisation and the hospital, whose representative paul is
    from partnerflow.engine.method import registry
    from partnerflow.engine.store.models import User

    with pf.uow() as uow:
        registry.create_organisation(uow, actor="claire", data={
            "name": "Association Les Tilleuls", "kind": "association", "is_own": "1",
            "delegated_ceiling_eur": "15000"})
    with pf.uow() as uow:
        hospital = registry.create_organisation(uow, actor="claire", data={
            "name": "Centre hospitalier de Montreuil", "kind": "hospital"})
    with pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == "paul")).organisation_id = hospital
        uow.commit()
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
            present = box.locator(":scope > .row-list > .row-item").count()
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
        page.locator(f"input[type=checkbox][name='{name}']").set_checked(value is not False)
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


def open_task(page, title) -> None:
    """Open the task whose title contains `title` (a string or a compiled pattern)."""
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
    assert title[:20] in flash, flash


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
    open_task(page, "Reprendre l'élaboration")
    # what was said so far: the direction's comment, under the step that gave it
    said = page.locator("section.context section.step", has_text="Valider l'élaboration")
    assert "Préciser les besoins." in said.inner_text()
    fill_form(page, "elaboration")
    submit_task(page, "Reprendre l'élaboration")
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


# ---------------------------------------------------------------- from the idea to the evaluation

TODAY = date(2026, 3, 2)  # the engine's clock in the tests (tests/conftest.py)
TITLE = "Consultations avancées du centre hospitalier à l'EHPAD"


def do_task(page, title, form_key: str, answers: dict | None = None) -> None:
    """Open a task from the inbox, fill its real form, submit it."""
    open_task(page, title)
    heading = page.locator("h1").inner_text()
    fill_form(page, form_key, answers)
    submit_task(page, heading)


def sees(page, title, shown=(), hidden=()) -> None:
    """Open the task and check what its page shows this user of earlier steps, and what
    it never shows them."""
    open_task(page, title)
    text = page.inner_text("#main")
    for expected in shown:
        assert expected in text, f"« {expected} » is missing from the task « {title} »"
    for secret in hidden:
        assert secret not in text, f"« {secret} » is shown on the task « {title} »"


# what only our organisation reads: the delegate's reserved decisions (mission letter), our
# interests (elaboration), the director's internal comment on the elaboration
INTERNAL = ("Tout engagement financier, toute convention.",
            "Avis spécialisés sur place, formation des équipes soignantes.")


def read_download(page, link) -> tuple[str, str]:
    """Click a download link; the file's name and SHA-256 (it must be a PDF)."""
    with page.expect_download() as info:
        link.click()
    content = Path(info.value.path()).read_bytes()
    assert content.startswith(b"%PDF-")
    return info.value.suggested_filename, hashlib.sha256(content).hexdigest()


def as_user(page, username: str):
    """Sign out whoever is signed in, then sign in as `username` through the login page."""
    if page.get_by_role("button", name="Se déconnecter").count():
        sign_out(page)
    sign_in(page, username)


def test_a_partnership_goes_from_the_idea_to_its_first_evaluation(new_page, pf):
    samples = Samples(TODAY, store=lambda *_: None)
    page = new_page()

    # the idea, its validation, the mission letter, the elaboration
    sign_in(page, "sophie")
    page.goto("/partenariats/")
    page.get_by_role("link", name="Proposer une idée").click()
    page.wait_for_url("**/partenariats/nouvelle-idee")
    fill_form(page, "idea", {"idea_title": TITLE, "idea_origin": "partner_request"})
    page.get_by_role("button", name="Proposer cette idée").click()
    page.wait_for_url("**/partenariats/*")
    assert "Votre idée est proposée" in page.locator(".flash").inner_text()

    # the administrator attaches the hospital's user to the partnership
    as_user(page, "ines")
    page.get_by_role("link", name="Administration").click()
    row = page.locator("tr", has=page.locator("code", has_text="paul"))
    row.locator("select[name=partnership_id]").select_option(label=TITLE)
    row.get_by_role("button", name="Rattacher").click()
    assert "paul est rattaché(e) au partenariat." in page.locator(".flash").first.inner_text()

    as_user(page, "claire")
    do_task(page, "Valider l'idée", "idea_validation", samples.validate_idea("accept"))
    do_task(page, "Rédiger la lettre de mission", "mission_letter",
            dict(samples.write_mission_letter(), delegate="karim"))
    as_user(page, "karim")
    # the delegate works within the delegation the director wrote
    sees(page, "Élaborer le projet partenarial", shown=[INTERNAL[0]])
    do_task(page, "Élaborer le projet partenarial", "elaboration", samples.elaborate_partnership())
    # the partner states its own interests, constraints and way of deciding, seeing the idea
    # and nothing internal
    as_user(page, "paul")
    sees(page, "Exposer les intérêts et contraintes du partenaire", hidden=INTERNAL)
    do_task(page, "Exposer les intérêts et contraintes du partenaire", "partner_interests",
            samples.partner_states_interests())
    as_user(page, "claire")
    sees(page, "Valider l'élaboration", shown=[INTERNAL[1], "Karim",
                                               samples.partner_states_interests()["partner_constraints"]])
    do_task(page, "Valider l'élaboration", "elaboration_validation",
            samples.validate_elaboration("validate"))
    assert _stage(pf) == "negotiation"

    # the negotiation opens with the formalisation criteria, which shape what is drafted:
    # the method's L2 case (personal data shared, the care room lent, twelve months),
    # answered with the form's yes/no radios
    as_user(page, "claire")
    do_task(page, "Renseigner les critères de formalisation", "formalisation_inputs",
            formalisation_inputs(**LEVEL_CASES["L2"]))
    with pf.read() as db:
        assert db.scalars(select(Partnership.formalisation_level)).one() == "L2"

    # draft v1, the partner's comments, the internal validation
    as_user(page, "karim")
    do_task(page, "du projet", "draft", samples.write_draft(context={"draft_version": 1}))
    as_user(page, "paul")
    # the partner reads the draft to comment on, and nothing of our internal side
    sees(page, "Commenter la version",
         shown=["Organiser des consultations gériatriques avancées à l'EHPAD."], hidden=INTERNAL)
    do_task(page, "Commenter la version", "draft_comments", samples.comment_draft())
    as_user(page, "claire")
    # the director validates the draft with the partner's requested changes in view
    sees(page, "en interne", shown=["préférer le jeudi matin",
                                    "Consultations le jeudi de 9 h à 12 h."])
    do_task(page, "en interne", "draft_validation", samples.validate_draft("validate"))

    # the final negotiation, the direction present, the commitments unchanged: still L2
    do_task(page, "Conduire la négociation finale", "final_negotiation",
            samples.hold_final_negotiation())
    with pf.read() as db:
        assert db.scalars(select(Partnership.formalisation_level)).one() == "L2"

    # the delegate writes the convention; the engine puts it into form as a PDF
    as_user(page, "karim")
    convention = samples.write_convention()
    del convention["convention_document"]  # none uploaded: the engine generates it
    # the joint committee: lucas for us, paul for the hospital (this test's accounts)
    for member, account in zip(convention["steering_committee"], ("lucas", "paul"), strict=True):
        member["account"] = account
    do_task(page, "Rédiger la convention", "convention", convention)

    # one signature per party, in parallel: our direction and the hospital sign that PDF,
    # typing their password again
    as_user(page, "claire")
    open_task(page, "Signer la convention (notre direction)")
    assert "convention-v1.pdf" in page.locator(".signing").inner_text()
    digest = page.locator(".signing code.hash").inner_text()
    assert read_download(page, page.locator(".signing a")) == ("convention-v1.pdf", digest)
    fill_form(page, "signature", samples.sign_convention_director())
    page.fill("#f-password", PASSWORD)
    submit_task(page, "Signer la convention (notre direction)")
    as_user(page, "paul")
    partner_task = "Signer la convention pour Centre hospitalier de Montreuil"
    sees(page, partner_task, hidden=INTERNAL)
    assert page.locator(".signing code.hash").inner_text() == digest
    fill_form(page, "signature", samples.sign_convention_partner())
    page.fill("#f-password", PASSWORD)
    submit_task(page, partner_task)
    with pf.read() as db:
        signed = db.scalars(select(Signature).order_by(Signature.id)).all()
    assert [(s.username, s.document_sha256) for s in signed] == [("claire", digest), ("paul", digest)]

    # the signed convention is on the map: the hospital, L2, the convention's dates
    as_user(page, "claire")
    page.goto("/carte/")
    row = page.locator("tbody tr", has_text="Centre hospitalier de Montreuil")
    assert row.count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells[1:3] == ["Partenariat", "—"] and cells[3] == "écrit" and cells[6] == "L2", cells
    assert (convention["start_date"], convention["end_date"]) == ("2026-03-16", "2027-03-02")
    assert cells[4] == "16 mars 2026 → 2 mars 2027", cells
    assert cells[5] == "2 déc. 2026", cells  # the renewal: the end less three months' notice

    # the action sheets: one sheet, a second indicator row added with "Ajouter une ligne";
    # its intermediate evaluation date is already past, so its timer fires at once
    assert _stage(pf) == "action_sheets"
    as_user(page, "karim")
    sheet = samples.action_sheet(1, -30, -10)
    do_task(page, "Rédiger les fiches action", "action_sheets",
            {"realisation_mode": "single_plan", "action_sheets": [sheet]})
    with pf.read() as db:
        written = db.scalars(select(HumanTask.result).where(HumanTask.form_key == "action_sheets")).one()
    assert written["action_sheets"][0]["indicators"] == sheet["indicators"]
    as_user(page, "lucas")
    # the steering group validates the action sheets it reads on the page
    sees(page, "Valider les fiches action", shown=[sheet["general_objective"]], hidden=INTERNAL)
    do_task(page, "Valider les fiches action", "action_sheets_validation",
            samples.validate_action_sheets("validate"))
    # the partner accepts the place and the role the sheets give it
    as_user(page, "paul")
    sees(page, "Valider la place et le rôle du partenaire", shown=[sheet["general_objective"]],
         hidden=INTERNAL)
    do_task(page, "Valider la place et le rôle du partenaire", "partner_action_sheets_validation",
            samples.partner_validate_action_sheets("accept"))
    as_user(page, "lucas")
    do_task(page, "Enregistrer la réalisation du plan", "realisation_record",
            samples.record_realisation())

    # the first intermediate evaluation is in the steering group's inbox
    assert _stage(pf) == "evaluation"
    page.goto("/")
    assert page.locator("table.tasks a", has_text="Conduire l'évaluation intermédiaire").count() == 1
    # the form starts from what the engine prepared: the sheet evaluated (read-only) and one
    # indicator row per indicator of the sheet, with its target
    open_task(page, "Conduire l'évaluation intermédiaire")
    # prepared values are shown, not inputs
    shown = page.locator("p.prepared-value[aria-labelledby=f-evaluated-sheet-number]")
    assert shown.inner_text() == str(sheet["sheet_number"])
    assert page.locator("p.prepared-value[aria-labelledby=f-evaluated-sheet-title]").inner_text() == \
        sheet["title"]
    assert page.locator("form.task-form [name=evaluated_sheet_number]").count() == 0
    prepared = page.locator("[data-rows=indicator_values] .row-list > .row-item")
    assert prepared.count() == len(sheet["indicators"])
    assert page.input_value("#f-indicator-values-0-target") == sheet["indicators"][0]["target"]
    page.goto("/")
    evaluation = samples.evaluate_intermediate(context={"indicator_values": [
        {"indicator": i["indicator"], "target": i["target"]} for i in sheet["indicators"]]})
    do_task(page, "Conduire l'évaluation intermédiaire", "intermediate_evaluation", evaluation)

    # the partnership is in its evaluation stage; the audit chain is intact
    page.get_by_role("link", name="Partenariats", exact=True).click()
    page.get_by_role("link", name=TITLE).click()
    assert page.locator(".stages li.current").inner_text() == "L'évaluation"
    evaluations = page.locator("section", has=page.get_by_role("heading", name="Évaluations", exact=True))
    assert "Conduire l'évaluation intermédiaire — lucas" in evaluations.inner_text()
    as_user(page, "claire")
    page.get_by_role("link", name="Partenariats", exact=True).click()
    page.get_by_role("link", name=TITLE).click()
    page.get_by_role("link", name="Journal d’audit").click()
    page.get_by_role("button", name="Vérifier la chaîne maintenant").click()
    assert "Chaîne intacte" in page.locator(".chain").inner_text()
    signatures = page.locator("section", has=page.get_by_role("heading", name="Signatures"))
    assert signatures.locator("tbody tr").all_inner_texts() == [
        # signed at 09:00 UTC, shown on the site's clock (Europe/Paris) like every other time
        f"Claire Martin (claire)\tDirectrice générale\t2 mars 2026 10:00:00\t{digest[:16]}…\tvalide",
        f"Paul Lefèvre (paul)\tDirecteur adjoint\t2 mars 2026 10:00:00\t{digest[:16]}…\tvalide"]
    name, _digest = read_download(page, signatures.get_by_role("link", name="Convention signée"))
    assert name.startswith("convention-signee-") and name.endswith(".pdf")
    with pf.read() as db:
        assert audit.verify(db) == []


def test_a_yes_on_a_yes_no_radio_is_read_as_true():
    """The yes/no radios (oneOf const True/False) post "True"/"False"."""
    from werkzeug.datastructures import MultiDict

    from partnerflow.web.webforms import parse_submission

    data = parse_submission(_schema("formalisation_inputs"), MultiDict({"personal_data_shared": "True"}))
    assert data == {"personal_data_shared": True}
