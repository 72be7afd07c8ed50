"""The API's documentation page in a real browser: Swagger UI from Partnerflow's own files,
drawn on the served description, without network, console error or CSP violation; and the
token page shows a new token once."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS, sign_in

pytestmark = pytest.mark.browser


def test_the_documentation_page_draws_every_operation_offline(page):
    page.goto("/api/docs")
    page.wait_for_selector(".opblock", timeout=15000)
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/tasks" in {s.replace("\u200b", "") for s in summaries}
    assert page.locator(".opblock").count() >= 30
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))


def test_a_token_created_on_the_account_page_is_shown_once(page):
    page.allow_status(201)
    sign_in(page, "sophie")
    page.click("text=Jetons API")
    page.fill("#t-name", "tableur")
    page.click("button[type=submit].primary >> text=Créer le jeton")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("pfp_")
    page.goto("/compte/jetons")
    assert token not in page.content() and "tableur" in page.content()
