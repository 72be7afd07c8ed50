"""In the browser, what two roles SEE and DO NOT SEE on what they meet.

The shipped method is deployed and one partnership is walked through the engine by its users
(tests/scenarios/method.py) on the L3 path of LEVEL_CASES — money flows above the director's
delegated ceiling, a night nurse made available, three years: a convention the board must
deliberate on — up to the board's deliberation. A marker is written into the internal
answers of steps the board's form does not declare it shows (the mission letter, the
elaboration, the partner's comments on the draft, the direction's comment on it, convention
articles left out of its `x-shows`).

1. The board (anne.roux, group `board`) opens the deliberation: the page shows exactly the
   steps `forms/board_deliberation.json` declares in `x-shows` (the formalisation criteria,
   the final negotiation, the convention's declared articles with its document as a link
   that opens it, the partner organisation among the parties, the delegate who wrote it) and
   none of the markers of the other steps; above its form, the formalisation level and the
   document to deliberate on, as the process prepared them. The board approves in the
   browser; the deliberation leaves its inbox, and the signatures come at once, in parallel:
   our legal representative's (the association's president, in the board's group) showing
   what the board decided, and the partner organisation's.
2. A designer (ines, group `designer` only) gets what the access policy grants `designer`
   (design, read_versions, read_incidents) and nothing of the partnerships: no task in the
   inbox, no task page, no task history or document through a task, no partnership page or
   document, no idea to propose, no map, no audit log, export or instance diagram, no
   dashboard, no administration, no partner contact to attach."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from partnerflow.engine.access import accounts
from partnerflow.engine.store.models import HumanTask
from tests.browser.conftest import SCREENSHOTS, serve, sign_in
from tests.browser.test_method_walkthrough import as_user, fill_form, open_task, submit_task
from tests.conftest import ROOT, deploy, make_user
from tests.scenarios.method import (
    BOARD,
    DELEGATE,
    DIRECTION,
    LEVEL_CASES,
    PARTNER,
    PEOPLE,
    Walk,
    formalisation_inputs,
)
from tests.web.support import PASSWORD

pytestmark = pytest.mark.browser
DESIGNER = "ines"
BOARD_TASK = "Délibérer sur la convention"

# internal answers of steps the board's form does not show (markers, so that a hit is certain)
RESERVED = "MARQUEUR-decisions-reservees"  # mission letter
INTERESTS = "MARQUEUR-nos-interets"  # elaboration
DRAFT_COMMENT = "MARQUEUR-commentaire-sur-la-version"  # direction, draft validation
PARTNER_COMMENT = "MARQUEUR-remarques-du-partenaire"  # partner, draft comments
PREAMBLE = "MARQUEUR-preambule"  # a convention article the board's x-shows leaves out
DISPUTES = "MARQUEUR-differends"  # another one
NOTES = "MARQUEUR-remarques-criteres"  # the direction's remarks on the criteria
HIDDEN = (RESERVED, INTERESTS, DRAFT_COMMENT, PARTNER_COMMENT, PREAMBLE, DISPUTES)


def _declared_shows() -> list[dict]:
    schema = json.loads((ROOT / "forms" / "board_deliberation.json").read_text(encoding="utf-8"))
    return schema["x-shows"]


@pytest.fixture
def walk(pf, clock):
    deploy(pf, pf.method_files())
    for username, full_name, role in PEOPLE:
        with pf.uow() as uow:
            accounts.create_user(uow, username=username, full_name=full_name, roles=[role],
                                 actor=None, password=PASSWORD)
    make_user(pf, DESIGNER, "designer", password=PASSWORD)
    walk = Walk.propose(pf, clock)
    walk.accept_idea()
    walk.complete(DIRECTION, "write_mission_letter", reserved_decisions=RESERVED)
    walk.complete(PARTNER, "partner_states_interests")
    walk.complete(DELEGATE, "elaborate_partnership", our_interests=INTERESTS)
    walk.complete(DIRECTION, "validate_elaboration", "validate")
    # the negotiation opens with the criteria: they shape what is drafted
    walk.complete(DIRECTION, "fill_formalisation_inputs", data=formalisation_inputs(
        **LEVEL_CASES["L3"], formalisation_notes=NOTES))
    walk.complete(DELEGATE, "write_draft")
    walk.complete(PARTNER, "comment_draft", partner_comments=PARTNER_COMMENT)
    walk.complete(DIRECTION, "validate_draft", "validate", draft_validation_comment=DRAFT_COMMENT)
    walk.complete(DIRECTION, "hold_final_negotiation")
    # the delegate's convention, with its formatted document (the one both directions sign)
    walk.complete(DELEGATE, "write_convention", preamble=PREAMBLE, disputes=DISPUTES)
    assert walk.partnership().formalisation_level == "L3"
    assert walk.open_elements() == ["deliberate_board"]
    return walk


@pytest.fixture
def live_server(pf, walk):
    yield from serve(pf)


def _plain(locator) -> str:
    """The element's text with the French number format's (narrow) no-break spaces as spaces."""
    return re.sub("[\u202f\xa0]", " ", locator.inner_text())


def _open_task_ids(pf) -> list[tuple[str, str | None, str | None]]:
    with pf.read() as db:
        return [(t.element_id, t.role, t.assignee) for t in db.scalars(
            select(HumanTask).where(HumanTask.state == "open").order_by(HumanTask.id))]


# ---------------------------------------------------------------- 1. the board


def test_the_board_deliberates_with_what_the_convention_needs_and_nothing_else(page, pf, walk):
    convention = walk.tasks("write_convention")[-1].result
    document = convention["convention_document"]
    sign_in(page, BOARD, PASSWORD)
    open_task(page, BOARD_TASK)
    assert page.locator("h1").inner_text() == BOARD_TASK
    said = page.locator("section.context")

    # exactly the steps the form declares, each with only the fields it declares
    declared = {entry["form"]: entry.get("fields") for entry in _declared_shows()}
    steps = said.locator(":scope > section.step")
    assert sorted(steps.evaluate_all("els => els.map(e => e.dataset.step)")) == sorted(
        ["fill_formalisation_inputs", "hold_final_negotiation", "write_convention"])
    written = said.locator("section.step[data-step=write_convention]")
    fields = written.locator(":scope > dl > dd").evaluate_all(
        "els => els.map(e => e.dataset.field)")
    assert fields and set(fields) <= set(declared["convention"])
    assert {"convention_title", "parties", "purpose", "financial_contributions",
            "convention_document"} <= set(fields)

    # the convention: its title, the partner organisation among the parties, who wrote it
    text = written.inner_text()
    assert convention["convention_title"] in text
    parties = written.locator("dd[data-field=parties] tbody tr").all_inner_texts()
    assert any(row.startswith("Centre hospitalier de Montreuil\t") for row in parties), parties
    assert "Karim Benali" in written.locator(".meta").inner_text()  # the delegate, by name
    assert "1 200,00 €" in _plain(written.locator("dd[data-field=financial_contributions]"))
    # its document, a link that opens the very file the directions will sign
    link = written.locator("dd[data-field=convention_document] a.document")
    with page.expect_download() as info:
        link.click()
    content = Path(info.value.path()).read_bytes()
    assert info.value.suggested_filename == "convention-consultations-avancees.txt"
    assert hashlib.sha256(content).hexdigest() == document
    assert b"Convention de consultations avanc" in content

    # what led to level L3: the criteria as the direction answered them
    criteria = said.locator("section.step[data-step=fill_formalisation_inputs]")
    assert criteria.locator("dd[data-field=money_flows]").inner_text() == "Oui"
    assert _plain(criteria.locator("dd[data-field=money_flow_amount_eur]")) == "42 000,00 €"
    assert _plain(criteria.locator("dd[data-field=director_delegated_ceiling_eur]")) == "15 000,00 €"
    assert criteria.locator("dd[data-field=staff_made_available]").inner_text() == "Oui"
    assert criteria.locator("dd[data-field=duration_months]").inner_text() == "36"
    assert NOTES in criteria.inner_text()  # formalisation_inputs is declared whole
    negotiation = said.locator("section.step[data-step=hold_final_negotiation]")
    assert "Paul Lefèvre" in negotiation.locator("dd[data-field=participants]").inner_text()

    # nothing the form does not declare: no other step, no left-out article
    main = page.inner_text("#main")
    for marker in HIDDEN:
        assert marker not in main, f"« {marker} » is shown to the board"
    with pf.read() as db:
        others = db.scalars(select(HumanTask.title).where(
            HumanTask.state == "completed", HumanTask.form_key.not_in(list(declared)))).all()
    # idea validation, mission letter, elaboration, the partner's interests, its validation, draft…
    assert len(others) == 8
    for title in others:
        assert title not in said.inner_text(), f"the step « {title} » is shown to the board"

    # prepared by the process above the form: the level the decision table gave, and the
    # document to deliberate on (the one the directions will sign), both read, not inputs
    prepared = page.locator("form.task-form p.prepared-value")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "board-deliberation.png"), full_page=True)
    level = page.locator("p.prepared-value[aria-labelledby=f-formalisation-level]").inner_text()
    assert level == "L3 : convention délibérée par le conseil d'administration", level
    to_vote = page.locator("p.prepared-value[aria-labelledby=f-document-sha256] a")
    assert to_vote.get_attribute("href").endswith(f"/document/{document}")
    assert prepared.count() == 2
    assert page.locator("form.task-form [name=formalisation_level]").count() == 0
    # the same level on the partnership page the task links to
    page.locator(".crumbs a", has_text=walk.partnership().title).click()
    page.wait_for_url(re.compile(r"/partenariats/\d+$"))
    level = page.locator("dl.facts dt:text-is('Niveau de formalisation') + dd").inner_text()
    assert level == "L3 — convention délibérée par le conseil d'administration", level

    # the board approves, in the browser
    open_task(page, BOARD_TASK)
    fill_form(page, "board_deliberation", {
        "board_meeting_date": "2026-02-27", "deliberation_number": "CA-2026-07",
        "board_decision": "approve", "votes_for": 9, "votes_against": 0, "abstentions": 1})
    page.set_input_files("input[type=file][name=deliberation_extract]", files=[{
        "name": "extrait-deliberation.txt", "mimeType": "text/plain",
        "buffer": b"Extrait du registre des deliberations : favorable.\n"}])
    submit_task(page, BOARD_TASK)

    # the deliberation has left the board's inbox; the signatures have come, one per party,
    # in parallel: our legal representative's (the board's president) and the partner's
    assert page.locator("table.tasks a", has_text=BOARD_TASK).count() == 0
    assert "Mes tâches (1)" in page.locator("h1").inner_text()
    with pf.read() as db:
        done = db.scalars(select(HumanTask).where(
            HumanTask.element_id == "deliberate_board")).one()
    assert (done.state, done.completed_by, done.result["board_decision"]) == (
        "completed", BOARD, "approve")
    assert sorted(_open_task_ids(pf)) == [("sign_convention_legal_representative", "board", None),
                                          ("sign_convention_partner", "partner", None)]
    as_user(page, PARTNER)  # the partner need not wait for our signature
    assert page.locator("table.tasks a", has_text="Signer la convention pour "
                        "Centre hospitalier de Montreuil").count() == 1
    as_user(page, DIRECTION)  # from L3 the direction does not sign the convention
    assert page.locator("table.tasks a", has_text="Signer la convention").count() == 0
    as_user(page, BOARD)
    open_task(page, "Signer la convention (notre représentant légal)")
    board = page.locator("section.context section.step[data-step=deliberate_board]")
    assert "CA-2026-07" in board.inner_text()
    assert "Favorable" in board.locator("dd[data-field=board_decision]").inner_text()
    assert page.locator(".signing code.hash").inner_text() == document


# ---------------------------------------------------------------- 2. the designer


def _refused(page, path: str) -> str:
    """Open `path`: the refusal page (403), holding none of the partnership's data."""
    response = page.goto(path)
    assert response.status == 403, f"{path} answered {response.status}"
    assert page.locator("h1").inner_text() == "Accès refusé", path
    return page.inner_text("body")


def test_a_designer_reaches_the_models_and_no_partnership_task(new_page, pf, walk):
    # a second partnership whose partner task waits: nobody from the partner is attached
    waiting = Walk.propose(pf, walk.clock, title="Atelier mémoire avec la mairie", partner=None)
    waiting.to_negotiation()
    waiting.criteria("L2")
    waiting.complete(DELEGATE, "write_draft")
    assert waiting.open_elements() == ["comment_draft"]
    board_task = walk.task(BOARD, "deliberate_board")
    elaboration = walk.tasks("elaborate_partnership")[-1]
    document = walk.tasks("write_convention")[-1].result["convention_document"]
    instance = walk.main_instance_id
    pid = walk.pid
    page = new_page()
    page.allow_status(403)

    # the direction sees the unattached partner contacts on the waiting partnership's page
    sign_in(page, DIRECTION, PASSWORD)
    page.goto(f"/partenariats/{waiting.pid}")
    contacts = page.locator("form.attach-contact select[name=username] option").all_inner_texts()
    assert "Marie Lambert" in contacts and "Paul Lefèvre" in contacts

    as_user(page, DESIGNER)
    # the menu: what the designer's group grants, nothing more
    menu = page.locator("header nav").get_by_role("link").all_inner_texts()
    menu = [re.sub(r"\s*\d+$", "", item).strip() for item in menu]
    assert menu == ["Mes tâches", "Notifications", "Partenariats", "Incidents", "Modeleur"], menu

    # the modeller and the versions of the method
    page.get_by_role("link", name="Modeleur").click()
    page.wait_for_url("**/modeleur/")
    assert page.locator("h1").inner_text() == "Processus et décisions"
    assert page.locator("a[href='/modeleur/stage_negotiation/versions']").count() >= 1
    page.goto("/modeleur/stage_negotiation/versions")
    assert page.locator("h1").inner_text() == "Versions de La négociation"
    assert "Délibérer sur la convention" not in page.inner_text("#main")  # versions, no data
    source = page.request.get("/modeleur/stage_negotiation/source")
    assert source.status == 200 and b'id="deliberate_board"' in source.body()
    page.goto("/incidents/")
    assert page.locator("h1").inner_text() == "Incidents"

    # no partnership task in the inbox, although two are open
    page.goto("/")
    assert "Mes tâches (0)" in page.locator("h1").inner_text()
    assert page.locator("table.tasks").count() == 0
    assert len(_open_task_ids(pf)) == 2

    # no task page, open or closed, no task history, no document through a task
    for path in (f"/taches/{board_task.id}", f"/taches/{elaboration.id}",
                 f"/taches/{elaboration.id}/historique",
                 f"/taches/{board_task.id}/document/{document}"):
        text = _refused(page, path)
        for data in (INTERESTS, RESERVED, "Convention de consultations avancées",
                     "Valider et terminer", walk.partnership().title):
            assert data not in text, (path, data)
    # no audit log, export, report or instance diagram; no dashboard, no administration
    for path in (f"/partenariats/{pid}/audit", f"/partenariats/{pid}/audit.csv",
                 f"/partenariats/{pid}/audit.jsonl", f"/partenariats/{pid}/rapport",
                 f"/instances/{instance}/diagramme", f"/instances/{instance}/executions.json",
                 "/tableau-de-bord", "/admin/utilisateurs", "/admin/groupes"):
        if path.endswith((".csv", ".jsonl", ".json")):
            response = page.request.get(path)
            assert response.status == 403, (path, response.status)
            assert INTERESTS.encode() not in response.body()
        else:
            _refused(page, path)

    # no partnership page, list entry, document, map or idea to propose
    page.goto("/partenariats/")
    assert page.get_by_role("link", name="Proposer une idée").count() == 0
    assert page.get_by_role("link", name=walk.partnership().title).count() == 0
    for path in (f"/partenariats/{pid}", f"/partenariats/{waiting.pid}",
                 f"/partenariats/{pid}/documents/{document}", "/carte/", "/carte/organisations",
                 "/partenariats/nouvelle-idee"):
        text = _refused(page, path)
        for marker in (INTERESTS, RESERVED, PARTNER_COMMENT, DRAFT_COMMENT, "Marie Lambert"):
            assert marker not in text, (path, marker)
    page.goto("/incidents/")
    token = page.locator("input[name=csrf_token]").first.input_value()
    response = page.request.post(f"/partenariats/{waiting.pid}/interlocuteurs",
                                 form={"csrf_token": token, "username": "marie.lambert"})
    assert response.status == 403, response.status  # refused by the policy, token or not
    assert waiting.open_elements() == ["comment_draft"]
    assert waiting.inbox_elements("marie.lambert") == []
