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


def test_a_party_without_siret_nor_finess_is_flagged_at_its_row_its_fields_and_in_the_summary(
        method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    task = walk.task(DELEGATE, "write_convention")
    client = create_app(partnerflow=method, TESTING=True).test_client()
    assert login(client, DELEGATE, "demo").status_code == 302
    url = f"/taches/{task.id}"
    party = {"legal_name": "Centre hospitalier", "legal_form": "Établissement public",
             "address": "1 rue de Paris", "legal_representative": "M. Durand",
             "representative_quality": "Directeur", "mandate": "Décret de nomination"}
    sent = {"action": "complete", **{f"parties-0-{k}": v for k, v in party.items()},
            **{f"parties-1-{k}": v for k, v in party.items()}, "parties-1-siret": "26930001100012"}
    response = post(client, url, sent, token_from=url)
    assert response.status_code == 422
    body = html.unescape(text_of(response))
    said = "Renseignez au moins un de ces champs : « SIRET » ou « FINESS »."
    # at the row, as a whole
    row = element(body, "fieldset", id="f-parties-0")
    assert "has-error" in row["class"] and row["aria-describedby"] == "f-parties-0-error"
    assert element(body, "p", id="f-parties-0-error")["__text__"] == said
    # at each field it concerns, and not at the second party, which has its SIRET
    for key in ("siret", "finess"):
        assert element(body, "input", id=f"f-parties-0-{key}")["aria-invalid"] == "true"
        assert element(body, "p", id=f"f-parties-0-{key}-error")["__text__"] == said
    assert not elements(body, "p", id="f-parties-1-siret-error")
    assert "aria-invalid" not in element(body, "input", id="f-parties-1-siret")
    # the summary links to the row's first field, then to every other field in the form's order
    summary = element(body, "div", class_="error-summary")
    assert summary["role"] == "alert"
    links = {a["href"]: a["__text__"] for a in elements(body.split('class="error-summary"')[1]
                                                       .split("</div>")[0], "a")}
    assert links["#f-parties-0-siret"] == f"Parties, ligne 1 : {said}"
    assert links["#f-convention-title"].endswith(": Ce champ est obligatoire.")
    assert all(element(body, id=href[1:]) for href in links), "every link names a field on the page"
    assert walk.task(DELEGATE, "write_convention").state == "open"
