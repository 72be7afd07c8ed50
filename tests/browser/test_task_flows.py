"""A delegate completes a task; repeatable rows; phone-sized pages; screenshots."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCRATCH, sign_in
from tests.web.support import complete, new_partnership, start, start_review, task_row

pytestmark = pytest.mark.browser


def test_a_delegate_fixes_a_validation_error_and_completes_the_task(page, world):
    [task_id] = start(world.pf, world.own, "assignment_timers",
                      {"delegate": "karim", "reviewer": "claire", "review_deadline": "2026-03-20"})
    sign_in(page, "karim")
    row = page.locator("table.tasks tbody tr", has_text="Élaborer")
    assert row.count() == 1
    assert "pour moi" in row.inner_text()
    row.get_by_role("link", name="Élaborer").click()
    page.wait_for_url(f"**/taches/{task_id}")
    page.fill("#f-comment", "Premiers contacts pris")
    page.allow_status(422)
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_load_state()
    decision = page.locator("#f-decision")
    assert decision.get_attribute("aria-invalid") == "true"
    error = page.locator("#f-decision-error")
    assert error.inner_text() == "Ce champ est obligatoire."
    # the message sits inside the decision field's block, right under the select
    assert page.locator("[data-field=decision] #f-decision-error").count() == 1
    assert page.locator("#f-comment").input_value() == "Premiers contacts pris"
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    decision.select_option("done")
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_url("**/")
    assert "« Élaborer » est terminée. Merci !" in page.locator(".flash").inner_text()
    assert page.locator("table.tasks", has_text="Élaborer").count() == 0
    row = task_row(world.pf, task_id)
    assert (row.state, row.completed_by) == ("completed", "karim")
    assert row.result == {"decision": "done", "comment": "Premiers contacts pris"}


def test_repeatable_rows_add_fill_remove_submit(page, world):
    [task_id] = start(world.pf, world.own, "rows_demo")
    sign_in(page, "sophie")
    page.goto(f"/taches/{task_id}")
    rows = page.locator("[data-rows=items] .row-list > .row-item")
    assert rows.count() == 1
    page.get_by_role("button", name="Ajouter une ligne").click()
    page.get_by_role("button", name="Ajouter une ligne").click()
    assert rows.count() == 3
    # the new row's first input has the focus, with its indexed name
    assert page.evaluate("document.activeElement.name") == "items-2-label"
    page.fill("#f-summary", "Trois actions, une retirée")
    for i, (label, amount) in enumerate([("Visite", "120"), ("À retirer", "5"), ("Atelier", "1 000,50")]):
        page.fill(f"[name=items-{i}-label]", label)
        page.fill(f"[name=items-{i}-amount]", amount)
    rows.nth(1).get_by_role("button", name="Retirer cette ligne").click()
    assert rows.count() == 2
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_url("**/")
    assert "« Remplir les lignes » est terminée" in page.locator(".flash").inner_text()
    assert task_row(world.pf, task_id).result["items"] == [
        {"label": "Visite", "amount": 120}, {"label": "Atelier", "amount": 1000.5}]


def _no_horizontal_scroll(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth,"
                           " window.innerWidth]")
    assert max(widths[:2]) <= widths[2], f"page wider than the viewport: {widths}"


def test_inbox_and_task_form_fit_a_phone(new_page, world):
    [rows_task] = start(world.pf, world.own, "rows_demo")
    page = new_page(375, 812)
    sign_in(page, "claire")
    assert page.locator("table.tasks tbody tr").count() == 2
    _no_horizontal_scroll(page)
    page.goto(f"/taches/{world.task_own}")
    _no_horizontal_scroll(page)
    page.allow_status(422)
    page.get_by_role("button", name="Valider et terminer").click()  # with its error messages
    page.wait_for_load_state()
    assert page.locator("#f-decision-error").is_visible()
    _no_horizontal_scroll(page)
    sign_out = page.get_by_role("button", name="Se déconnecter")
    sign_out.click()
    page.wait_for_url("**/connexion")
    sign_in(page, "sophie")
    page.goto(f"/taches/{rows_task}")
    page.get_by_role("button", name="Ajouter une ligne").click()
    _no_horizontal_scroll(page)


def test_screenshots(new_page, world, clock):
    pf = world.pf
    for title in ("Hôpital de jour et SESSAD", "Mairie — portage de repas", "Lycée professionnel"):
        start_review(pf, new_partnership(pf, title))
    complete(pf, world.task_other, "claire", {"decision": "again", "comment": "Préciser le budget."})
    clock.advance(days=3)  # the first ones are now overdue
    start_review(pf, world.own)
    page = new_page(1280, 800)
    sign_in(page, "claire")
    page.goto("/")
    SCRATCH.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCRATCH / "inbox.png"), full_page=False)
    [rows_task] = start(pf, world.own, "rows_demo")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion")
    sign_in(page, "sophie")
    page.goto(f"/taches/{rows_task}")
    page.fill("#f-summary", "Accueil de stagiaires du lycée à l'EHPAD")
    page.get_by_role("button", name="Ajouter une ligne").click()
    page.fill("[name=items-0-label]", "Visite des locaux")
    page.fill("[name=items-0-amount]", "150")
    page.fill("[name=items-1-label]", "Atelier cuisine")
    page.mouse.click(5, 5)
    page.screenshot(path=str(SCRATCH / "task_form.png"), full_page=False)
    for name in ("inbox.png", "task_form.png"):
        assert (SCRATCH / name).stat().st_size > 10_000
