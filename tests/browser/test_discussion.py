"""In a real browser: a comment shared with the partner, an opinion asked and given back, a
deputy taking over an absent colleague's task."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in
from tests.web.support import task_row

pytestmark = pytest.mark.browser


def _sign_out(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion")


def test_a_comment_shared_with_the_partner_and_one_kept_internal(page, world):
    sign_in(page, "claire")
    page.goto(f"/partenariats/{world.own}")
    page.fill("#comment-text", "Nous en parlons en équipe jeudi.")
    page.get_by_role("button", name="Publier le commentaire").click()
    page.wait_for_url(f"**/partenariats/{world.own}#commentaires")
    page.fill("#comment-text", "Pouvez-vous nous envoyer\nvos horaires ?")
    page.get_by_label("Partagé avec le partenaire").check()
    page.get_by_role("button", name="Publier le commentaire").click()
    page.wait_for_load_state()
    comments = page.locator("ol.comments > li")
    assert comments.count() == 2
    assert "interne" in comments.nth(0).inner_text()
    assert "partagé avec le partenaire" in comments.nth(1).inner_text()
    # the lines typed are kept
    assert comments.nth(1).locator(".said").inner_text() == "Pouvez-vous nous envoyer\nvos horaires ?"
    _sign_out(page)
    sign_in(page, "paul")
    page.goto(f"/partenariats/{world.own}")
    thread = page.locator("#commentaires")
    assert "vos horaires" in thread.inner_text() and "jeudi" not in thread.inner_text()
    assert page.locator("input[name=visibility]").count() == 0
    page.fill("#comment-text", "Du lundi au vendredi, 9 h - 17 h.")
    page.get_by_role("button", name="Publier le commentaire").click()
    page.wait_for_load_state()
    assert "9 h - 17 h" in page.locator("ol.comments > li").last.inner_text()


def test_an_opinion_is_asked_given_and_the_task_comes_back(page, world):
    task = f"/taches/{world.task_own}"
    sign_in(page, "claire")
    page.goto(task)
    page.locator("details.ask-opinion summary").click()
    page.select_option("#opinion-asked", "sophie")
    page.fill("#question", "Le budget de l'action tient-il ?")
    page.get_by_role("button", name="Envoyer la demande d’avis").click()
    page.wait_for_url(f"**{task}")
    assert "En attente de l’avis de Sophie" in page.locator(".opinion-pending").inner_text()
    assert page.get_by_role("button", name="Valider et terminer").is_disabled()
    _sign_out(page)
    sign_in(page, "sophie")
    row = page.locator("table.tasks tbody tr", has_text="Relire le document")
    assert "votre avis est demandé" in row.inner_text()
    row.get_by_role("link", name="Relire le document").click()
    page.wait_for_url(f"**{task}")
    assert page.locator("form.task-form").count() == 0
    page.fill("#opinion", "Oui, en réduisant les déplacements.")
    page.select_option("#recommendation", "reserved")
    page.get_by_role("button", name="Donner mon avis").click()
    page.wait_for_url("**/")
    assert "votre avis est transmis" in page.locator(".flash").inner_text()
    _sign_out(page)
    sign_in(page, "claire")
    page.goto(task)
    opinion = page.locator("section.opinions")
    assert "Oui, en réduisant les déplacements." in opinion.inner_text()
    assert "Favorable avec réserves" in opinion.inner_text()
    page.select_option("#f-decision", "done")
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_url("**/")
    assert task_row(world.pf, world.task_own).completed_by == "claire"


def test_a_deputy_sees_and_completes_the_absent_colleagues_task(page, world):
    sign_in(page, "claire")
    page.get_by_role("link", name="Absence").click()
    page.wait_for_url("**/absence/")
    page.fill("#a-starts_on", "2026-03-02")
    page.fill("#a-ends_on", "2026-03-13")
    page.select_option("#a-deputy", "sophie")
    page.get_by_role("button", name="Enregistrer mon absence").click()
    page.wait_for_url("**/absence/")
    assert "Sophie" in page.locator("table.absences").inner_text()
    page.goto("/")
    assert "vos tâches sont aussi proposées à Sophie" in page.locator(".absence-banner").inner_text()
    _sign_out(page)
    sign_in(page, "sophie")
    assert "Vous remplacez Claire" in page.locator(".absence-banner").inner_text()
    row = page.locator("table.tasks tbody tr", has_text="EHPAD et lycée agricole")
    assert "pour Claire" in row.inner_text()
    row.get_by_role("link", name="Relire le document").click()
    page.wait_for_url(f"**/taches/{world.task_own}")
    assert "en remplacement de Claire" in page.locator("main").inner_text()
    page.select_option("#f-decision", "done")
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_url("**/")
    assert task_row(world.pf, world.task_own).completed_by == "sophie"
