"""A convention refused in the browser for a party with neither SIRET nor FINESS: on a phone
the first field comes before what earlier steps said, the error summary names the party's
row and its link puts the keyboard in the SIRET field of that row."""

from __future__ import annotations

import pytest

from partnerflow.engine.access import accounts
from tests.browser.conftest import serve, sign_in
from tests.conftest import deploy
from tests.scenarios.method import DELEGATE, DIRECTION, PEOPLE, Walk

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(pf, clock):
    deploy(pf, pf.method_files())
    for username, full_name, role in PEOPLE:
        with pf.uow() as uow:
            accounts.create_user(uow, username=username, full_name=full_name, roles=[role],
                                 actor=None, password="demo")
    walk = Walk.propose(pf, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    pf.convention_task = walk.task(DELEGATE, "write_convention").id
    yield from serve(pf)


def test_the_summary_links_a_partys_missing_number_to_its_field(new_page, pf):
    page = new_page(390, 800)
    page.allow_status(422)
    sign_in(page, DELEGATE, "demo")
    page.goto(f"/taches/{pf.convention_task}")
    # on a phone what was said before is folded: the first field is above it
    assert not page.locator("details.context-fold").evaluate("d => d.open")
    first_field = page.locator("form.task-form .field").first.bounding_box()["y"]
    assert first_field < page.locator("details.context-fold").bounding_box()["y"] + 200
    for key, value in (("legal-name", "Centre hospitalier de Montreuil"), ("legal-form", "EPS"),
                       ("address", "1 rue de Paris"), ("legal-representative", "M. Durand"),
                       ("representative-quality", "Directeur"), ("mandate", "Décret")):
        page.fill(f"#f-parties-0-{key}", value)
    page.get_by_role("button", name="Valider et terminer").click()
    page.wait_for_load_state()
    summary = page.locator(".error-summary")
    assert summary.evaluate("e => e === document.activeElement")
    link = summary.locator("a[href='#f-parties-0-siret']")
    assert link.inner_text().startswith("Parties, ligne 1 : Renseignez au moins un de ces champs")
    link.click()
    assert page.evaluate("document.activeElement.id") == "f-parties-0-siret"
    assert page.locator("#f-parties-0-siret").is_visible()
    assert page.locator("#f-parties-0-error").is_visible()
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]
