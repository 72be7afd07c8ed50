"""In the browser, what the partner and the director see on their tasks of the negotiation.
The partnership is walked through the engine up to the partner's comments on version 1,
with a marker in the internal fields (the delegate's margin, the budget, "nos intérêts",
the direction's comments); the partner opens the task, reads the draft and opens its
document, sees none of the markers, comments; the director then reads the draft and the
partner's requested changes as a table, formatted, before deciding."""

from __future__ import annotations

import pytest

from partnerflow.engine.access import accounts
from tests.browser.conftest import serve, sign_in
from tests.conftest import deploy
from tests.scenarios.method import DELEGATE, DIRECTION, PARTNER, PEOPLE, Walk

pytestmark = pytest.mark.browser
PASSWORD = "demo"
MARGIN = "MARQUEUR-marge-du-delegue"
INTERESTS = "MARQUEUR-nos-interets"
COMMENT = "MARQUEUR-commentaire-de-la-direction"


@pytest.fixture
def walk(pf, clock):
    deploy(pf, pf.method_files())
    for username, full_name, role in PEOPLE:
        with pf.uow() as uow:
            accounts.create_user(uow, username=username, full_name=full_name, roles=[role],
                                 actor=None, password=PASSWORD)
    walk = Walk.propose(pf, clock)
    walk.accept_idea()
    walk.complete(DIRECTION, "write_mission_letter", delegated_decisions=MARGIN,
                  mission_budget_eur=987654)
    walk.complete(PARTNER, "partner_states_interests")
    walk.complete(DELEGATE, "elaborate_partnership", our_interests=INTERESTS)
    walk.complete(DIRECTION, "validate_elaboration", "validate",
                  elaboration_validation_comment=COMMENT)
    walk.criteria("L2")  # the negotiation opens with the formalisation criteria
    document = walk.store("projet-v1.txt", b"Projet de convention, version 1\n")
    walk.complete(DELEGATE, "write_draft", draft_document=document)
    return walk


@pytest.fixture
def live_server(pf, walk):
    yield from serve(pf)


def _open(page, title: str) -> None:
    page.goto("/")
    page.locator("table.tasks a", has_text=title).click()
    page.wait_for_load_state()


def test_the_partner_and_the_director_see_what_their_decision_needs_and_nothing_internal(page):
    # the partner: the draft to comment, its document as a link that opens it
    sign_in(page, PARTNER, PASSWORD)
    _open(page, "Commenter la version 1")
    said = page.locator("section.context")
    draft = said.locator("section.step", has_text="Rédiger la version 1 du projet")
    assert "Organiser des consultations gériatriques avancées à l'EHPAD." in draft.inner_text()
    assert "Karim Benali" in draft.inner_text()
    with page.expect_download() as download:
        draft.get_by_role("link", name="projet-v1.txt").click()
    assert download.value.suggested_filename == "projet-v1.txt"
    text = page.locator("main").inner_text()
    for internal in (MARGIN, INTERESTS, COMMENT, "987", "Lettre de mission", "Nos intérêts"):
        assert internal not in text, internal
    # nothing carried over from anywhere into the partner's own form
    assert page.input_value("[name=partner_comments]") == ""
    page.fill("[name=partner_comments]", "D'accord sur le principe ; préférer le jeudi matin.")
    page.locator("[data-rows=requested_changes] .add-row").last.click()
    page.fill("[name=requested_changes-0-clause]", "Calendrier")
    page.fill("[name=requested_changes-0-requested_change]", "Consultations le jeudi de 9 h à 12 h.")
    page.locator("input[name=partner_agrees_in_principle][value=True]").check()
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_url("**/")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion")

    # the director: the draft, then the partner's comments and requested changes, formatted
    sign_in(page, DIRECTION, PASSWORD)
    _open(page, "Valider la version 1 en interne")
    steps = page.locator("section.context > section.step h3").all_inner_texts()
    assert steps == ["Rédiger la version 1 du projet", "Commenter la version 1"]
    comments = page.locator("section.context section.step", has_text="Commenter la version 1")
    table = comments.locator("table.rows")
    assert table.locator("thead th").all_inner_texts() == ["Clause ou passage", "Modification demandée"]
    assert table.locator("tbody td").all_inner_texts() == ["Calendrier",
                                                           "Consultations le jeudi de 9 h à 12 h."]
    agreed = comments.locator("dd[data-field=partner_agrees_in_principle]").inner_text()
    assert agreed == "Oui"
    assert "Paul Lefèvre" in comments.inner_text()
    text = page.locator("section.context").inner_text()
    assert "True" not in text and "paul.lefevre" not in text
    # the director's page shows what the decision needs, not the whole process data
    assert MARGIN not in text and INTERESTS not in text
