"""The inbox in a browser: search, save the filter, come back to it, claim the ticked tasks
at once; on a phone, the cards label their values and nothing scrolls sideways."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.web.support import new_partnership, start_review, task_row

pytestmark = pytest.mark.browser


def test_search_save_the_filter_and_claim_the_ticked_tasks(page, world):
    third = start_review(world.pf, new_partnership(world.pf, "Lycée horticole et SESSAD"))
    sign_in(page, "claire")
    page.fill("input[name=q]", "lycée")
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_url("**/?q=*")
    rows = page.locator("table.tasks tbody tr")
    assert rows.count() == 2
    assert page.locator("table.tasks", has_text="Foyer et mairie").count() == 0
    # keep the search under a name
    page.locator("details.save-filter summary").click()
    page.fill("input[name=name]", "Les lycées")
    page.locator("details.save-filter").get_by_role("button", name="Enregistrer").click()
    page.wait_for_load_state()
    assert "Filtre enregistré." in page.locator(".flash").first.inner_text()
    # clear it, then come back through the saved filter
    page.goto("/")
    assert page.locator("table.tasks tbody tr").count() == 3
    page.get_by_role("link", name="Les lycées").click()
    page.wait_for_url("**/?q=*")
    assert page.locator("table.tasks tbody tr").count() == 2
    assert page.get_by_role("link", name="Les lycées").get_attribute("aria-current") == "true"
    # tick both and take them at once
    for checkbox in page.locator("table.tasks input[type=checkbox]").all():
        checkbox.check()
    page.locator("#bulk").get_by_role("button", name="Prendre").click()
    page.wait_for_load_state()
    assert "2 tâche(s) réservée(s)." in page.locator(".flash").first.inner_text()
    assert page.locator("table.tasks", has_text="Réservée par vous").count() == 1
    assert {task_row(world.pf, t).claimed_by for t in (world.task_own, third)} == {"claire"}
    assert task_row(world.pf, world.task_other).claimed_by is None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "inbox-search.png"), full_page=True)
    # a search that finds nothing says so, with a way back
    page.fill("input[name=q]", "introuvable")
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_load_state()
    assert "Aucune tâche ne correspond à ce filtre." in page.locator("p.empty").inner_text()
    page.locator("p.empty").get_by_role("link", name="Effacer les filtres").click()
    page.wait_for_url("**/")
    assert page.locator("table.tasks tbody tr").count() == 3


def test_on_a_phone_each_card_labels_its_values(new_page, world):
    page = new_page(390, 844)
    sign_in(page, "claire")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    cell = page.locator("table.tasks tbody tr").first.locator("td[data-label='Partenariat']")
    label = page.evaluate("(el) => getComputedStyle(el, '::before').content", cell.element_handle())
    assert label == '"Partenariat : "'
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "inbox-phone.png"), full_page=True)
