"""The L4 approval task in the browser: the direction says what kind of groupement it is, is
offered only authorities that approve some groupement, and an authority that cannot approve
that kind is refused next to the field, in the form's own words."""

from __future__ import annotations

import html

import pytest

from partnerflow.engine.access import accounts
from partnerflow.web import create_app
from tests.conftest import deploy
from tests.scenarios.method import BOARD, DELEGATE, DIRECTION, PEOPLE, Walk
from tests.web.support import element, elements, login, post, text_of


@pytest.fixture
def method(pf, monkeypatch):
    from tests.web.support import fast_passwords

    fast_passwords(monkeypatch)
    deploy(pf, pf.method_files())
    for username, full_name, role in PEOPLE:
        with pf.uow() as uow:
            accounts.create_user(uow, username=username, full_name=full_name, roles=[role],
                                 actor=None, password="demo")
    return pf


def test_the_approval_of_a_gcsms_by_the_ars_is_refused_on_the_task_page(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L4")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "write_convention")
    walk.complete(BOARD, "deliberate_board", "approve")
    walk.sign("L4")
    task = walk.task(DIRECTION, "record_authority_approval")
    app = create_app(partnerflow=method, TESTING=True)
    client = app.test_client()
    assert login(client, DIRECTION, "demo").status_code == 302
    url = f"/taches/{task.id}"

    body = html.unescape(text_of(client.get(url)))
    kinds = [o.get("value") for o in elements(body, "option")
             if o.get("value") in ("gcsms", "gcs", "gip")]
    assert kinds == ["gcsms", "gcs", "gip"]
    authority = body.split('name="approving_authority"')[1].split("</select>")[0]
    assert 'value="prefet"' in authority and 'value="ars"' in authority
    assert "departement" not in authority and "Conseil départemental" not in authority

    response = post(client, url, {"action": "complete", "groupement_kind": "gcsms",
                                  "approving_authority": "ars", "authority_decision": "approved",
                                  "authority_decision_date": "2026-03-01",
                                  "authority_decision_reference": "Arrêté n° 12"},
                    token_from=url)
    assert response.status_code == 422
    body = html.unescape(text_of(response))
    error = element(body, "p", id="f-approving-authority-error", class_="error")["__text__"]
    assert error == ("Un GCSMS est approuvé par le préfet du département de son siège "
                     "(CASF R312-194-18).")
    assert walk.task(DIRECTION, "record_authority_approval").state == "open"


def test_the_convention_page_asks_for_each_piece_of_a_mise_a_disposition_and_the_health_data(
        method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    task = walk.task(DELEGATE, "write_convention")
    app = create_app(partnerflow=method, TESTING=True)
    client = app.test_client()
    assert login(client, DELEGATE, "demo").status_code == 302
    body = html.unescape(text_of(client.get(f"/taches/{task.id}")))
    row = "staff_made_available_details-__index__-"
    for key in ("employee_agreement_document", "employment_contract_amendment_document",
                "secondment_decision_document"):
        assert elements(body, "input", type="file", name=row + key), key
    statuses = body.split(f'name="{row}staff_status"')[1].split("</select>")[0]
    assert 'value="private_law"' in statuses and 'value="public_hospital"' in statuses
    assert elements(body, "select", name="health_data_sharing")
    assert elements(body, "textarea", name="people_information_and_consent")
