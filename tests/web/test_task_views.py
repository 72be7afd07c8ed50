"""What each task of the method shows from the earlier steps (forms/*.json `x-shows`): the
answers a decision depends on, labelled under the step that gave them, formatted (dates,
amounts, yes/no, choices by label, people by name, rows as tables, documents as links that
open); a new round starts from what the process prepared; an emptied field is stored empty."""

from __future__ import annotations

import html

import pytest

from partnerflow.engine.access import accounts
from partnerflow.web import create_app
from tests.conftest import deploy
from tests.scenarios.method import (
    BOARD,
    DELEGATE,
    DIRECTION,
    PARTNER,
    PEOPLE,
    STEERING,
    Walk,
    ensure_our_organisation,
)
from tests.web.support import elements, login


@pytest.fixture
def method(pf, monkeypatch):
    from tests.web.support import fast_passwords

    fast_passwords(monkeypatch)
    deploy(pf, pf.method_files())
    for username, full_name, role in PEOPLE:  # everyone signs in here
        with pf.uow() as uow:
            accounts.create_user(uow, username=username, full_name=full_name, roles=[role],
                                 actor=None, password="demo")
    ensure_our_organisation(pf)
    return pf


@pytest.fixture
def app(method):
    return create_app(partnerflow=method, TESTING=True)


def page(app, username: str, path: str) -> str:
    client = app.test_client()
    assert login(client, username, "demo").status_code == 302
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return html.unescape(response.get_data(as_text=True))


def section(body: str, title: str) -> str:
    """The HTML of the earlier step whose heading contains `title`."""
    start = body.index("<section class=\"context\"")
    for chunk in body[start:].split("<section class=\"step\"")[1:]:
        if title in chunk.split("</h3>")[0]:
            return chunk.split("</section>")[0]
    raise AssertionError(f"no section « {title} » on the page")


def test_the_director_validating_a_draft_sees_it_and_the_partners_requested_changes(method, app, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.complete(DELEGATE, "write_draft")
    walk.complete(PARTNER, "comment_draft")
    task = walk.task(DIRECTION, "validate_draft")
    body = page(app, DIRECTION, f"/taches/{task.id}")
    draft = section(body, "Rédiger la version 1 du projet")
    assert "Organiser des consultations gériatriques avancées à l'EHPAD." in draft
    assert "Karim Benali" in draft  # who wrote it, by name
    comments = section(body, "Commenter la version 1")
    # the requested changes, a repeating field, as a table with its columns' titles
    assert "<table class=\"rows\">" in comments
    assert "Clause ou passage" in comments and "Modification demandée" in comments
    assert "Consultations le jeudi de 9 h à 12 h." in comments
    assert "Accord de principe sur cette version" in comments and "Oui" in comments
    # the steps come in the method's order: the draft, then the comments on it
    assert body.index("Rédiger la version 1 du projet") < body.index("Commenter la version 1")
    # nothing raw: no field key, no Python value
    assert ">partner_agrees_in_principle<" not in body and ">True<" not in body


def test_the_idea_and_the_mission_letter_are_formatted(method, app, clock):
    walk = Walk.propose(method, clock)
    walk.accept_idea()
    walk.complete(DIRECTION, "write_mission_letter")
    task = walk.task(DELEGATE, "elaborate_partnership")
    body = page(app, DELEGATE, f"/taches/{task.id}")
    letter = section(body, "Rédiger la lettre de mission")
    assert "800,00\u00a0€" in letter  # an amount in French
    deadline = walk.samples.day(120)
    months = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
              "septembre", "octobre", "novembre", "décembre"]
    day = f"{int(deadline[8:10])} {months[int(deadline[5:7]) - 1]} {deadline[:4]}"
    assert day in letter and deadline not in letter  # a date in French, not ISO
    assert "Karim Benali" in letter and "karim.benali" not in letter  # the delegate by name
    idea = section(body, "Proposer une idée de partenariat")  # the start form, from the data
    assert "Centre hospitalier de Montreuil" in idea


def test_the_steering_group_sees_the_action_sheets_as_a_table(method, app, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L2")
    sheet = walk.samples.action_sheet(1, 30, 60)
    walk.complete(DELEGATE, "write_action_sheets",
                  data=walk.samples.write_action_sheets("single_plan", sheets=[sheet]))
    task = walk.task(STEERING, "validate_action_sheets")
    body = page(app, STEERING, f"/taches/{task.id}")
    sheets = section(body, "Rédiger les fiches action")
    assert "<table class=\"rows transposed\">" in sheets  # one column per sheet
    assert sheet["title"] in sheets and "Intitulé" in sheets
    assert "Indicateurs" in sheets and sheet["indicators"][0]["indicator"] in sheets


def test_the_board_sees_the_convention_as_a_link_that_opens_it(method, app, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L3")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "write_convention")
    task = walk.task(BOARD, "deliberate_board")
    body = page(app, BOARD, f"/taches/{task.id}")
    convention = section(body, "Rédiger la convention")
    [link] = elements(convention, "a", class_="document")
    assert walk.samples.write_convention()["convention_title"] in convention
    client = app.test_client()
    login(client, BOARD, "demo")
    opened = client.get(link["href"])
    assert opened.status_code == 200 and b"Convention de consultations" in opened.data


def test_the_board_reads_the_level_and_opens_the_convention_the_engine_generated(method, app, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L3")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "write_convention", convention_document=None)  # no upload
    task = walk.task(BOARD, "deliberate_board")
    generated = task.context["document_sha256"]
    body = page(app, BOARD, f"/taches/{task.id}")
    prepared = {e["aria-labelledby"]: e for e in elements(body, "p", class_="prepared-value")}
    assert "L3 : convention délibérée par le conseil d'administration" in prepared[
        "f-formalisation-level"]["__text__"]
    [link] = [a for a in elements(body, "a") if a.get("href", "").endswith(f"/document/{generated}")]
    client = app.test_client()
    login(client, BOARD, "demo")
    opened = client.get(link["href"])
    assert opened.status_code == 200 and opened.data.startswith(b"%PDF-")
    # shown as prepared values, not as inputs the browser could send back
    assert elements(body, "input", name="document_sha256") == []
    assert elements(body, "select", name="formalisation_level") == []


def test_a_new_round_starts_from_what_the_process_prepared_and_shows_the_last_one(method, app, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.complete(DELEGATE, "write_draft")
    walk.complete(PARTNER, "comment_draft")
    walk.complete(DIRECTION, "validate_draft", "new_version")
    task = walk.task(DELEGATE, "write_draft")
    body = page(app, DELEGATE, f"/taches/{task.id}")
    # the form: the version number the process prepared, not version 1's answers
    [version] = [e for e in elements(body, "p", class_="prepared-value")
                 if e.get("aria-labelledby") == "f-draft-version"]
    assert version.get("__text__", "").strip() == "2"
    assert elements(body, "input", name="draft_version") == []  # shown, never sent back
    [purposes] = elements(body, "textarea", name="draft_purposes")
    assert purposes.get("__text__", "").strip() == ""
    # version 1, its comments and the direction's decision are shown above the form
    assert "Organiser des consultations gériatriques avancées à l'EHPAD." in section(
        body, "Rédiger la version 1 du projet")
    assert "Consultations le jeudi" in section(body, "Commenter la version 1")
    # the partner, commenting version 2, is not offered version 1's answers either
    walk.complete(DELEGATE, "write_draft")
    comment = walk.task(PARTNER, "comment_draft")
    body = page(app, PARTNER, f"/taches/{comment.id}")
    [comments] = elements(body, "textarea", name="partner_comments")
    assert comments.get("__text__", "").strip() == ""
    assert "Tours précédents" in body


def test_a_field_emptied_on_purpose_is_stored_empty(method, clock):
    from partnerflow.engine.runtime import services
    from partnerflow.engine.store.models import HumanTask

    walk = Walk.propose(method, clock)
    walk.accept_idea()
    walk.complete(DIRECTION, "write_mission_letter")
    walk.complete(PARTNER, "partner_states_interests")
    walk.complete(DELEGATE, "elaborate_partnership", risks="Un risque à surveiller.")
    walk.complete(DIRECTION, "validate_elaboration", "send_back")
    again = walk.task(DELEGATE, "rework_elaboration")
    assert again.context["risks"] == "Un risque à surveiller."
    data = walk.samples.elaborate_partnership()
    data["risks"] = ""  # the delegate removes the risk
    with method.uow() as uow:
        services.complete_task(uow, task_id=again.id, actor=DELEGATE, data=data)
    with method.read() as db:
        assert db.get(HumanTask, again.id).result["risks"] is None
    validation = walk.task(DIRECTION, "validate_elaboration")
    assert validation.context["risks"] is None
