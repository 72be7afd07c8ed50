"""The map and the dashboard through the Flask client: who reads, who edits, CSRF on every
POST, the import preview with its errors, the export, and the accessible charts."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from partnerflow.engine.method import map_io, registry
from partnerflow.engine.store.models import Organisation, Relationship
from tests import map_data
from tests.web.support import USERS, csrf_token, element, elements, post, text_of

# every group but partner and designer (a process designer alone works on the diagrams)
READERS = {u for u, roles in USERS.items() if set(roles) - {"partner", "designer"}}
EDITORS = {"claire", "hugo", "ines"}


@pytest.fixture
def mapped(world):
    pf = world.pf
    with pf.uow() as uow:
        own = registry.create_organisation(uow, actor="claire", data={"name": "Les Tilleuls", "is_own": "1"})
    with pf.uow() as uow:
        lilas = registry.create_organisation(uow, actor="claire", data={"name": "EHPAD Les Lilas",
                                                                        "kind": "ehpad"})
    with pf.uow() as uow:
        rid = registry.create_relationship(uow, actor="claire", data={
            "partner_id": lilas, "kind": "partnership", "formalisation_level": "L2",
            "partnership_id": world.own})
    world.extra.update(own=own, lilas=lilas, rid=rid)
    return world


def counts(pf) -> tuple[int, int]:
    with pf.read() as db:
        return (db.scalar(select(func.count()).select_from(Organisation)),
                db.scalar(select(func.count()).select_from(Relationship)))


def test_every_staff_role_reads_the_map_and_partner_users_and_designers_do_not(mapped, as_user):
    for username in USERS:
        client = as_user(username)
        for path in ("/carte/", "/carte/organisations", "/carte/graphe", "/carte/graphe.json",
                     "/carte/export.csv"):
            status = client.get(path).status_code
            assert status == (200 if username in READERS else 403), (username, path, status)
    assert as_user(None).get("/carte/").status_code == 302


def test_only_the_direction_and_admins_get_the_edit_pages(mapped, as_user):
    rid = mapped.extra["rid"]
    for username in USERS:
        client = as_user(username)
        for path in ("/carte/relations/nouvelle", f"/carte/relations/{rid}",
                     "/carte/organisations/nouvelle", "/carte/import"):
            status = client.get(path).status_code
            assert status == (200 if username in EDITORS else 403), (username, path, status)
    html = text_of(as_user("sophie").get("/carte/"))
    assert "EHPAD Les Lilas" in html and "Nouvelle relation" not in html


def test_posts_without_a_csrf_token_are_refused_and_write_nothing(mapped, as_user):
    client = as_user("claire")
    before = counts(mapped.pf)
    rid = mapped.extra["rid"]
    for path, data in (("/carte/organisations/nouvelle", {"name": "Mairie de Pantin"}),
                       (f"/carte/relations/{rid}/archiver", {}),
                       ("/carte/import", {"file": (io.BytesIO(b"x"), "carte.csv")})):
        response = client.post(path, data=data)
        assert response.status_code == 400, path
        assert "jeton CSRF" in text_of(response)
    assert counts(mapped.pf) == before
    response = post(client, "/carte/organisations/nouvelle", {"name": "Mairie de Pantin",
                                                               "kind": "town_hall"})
    assert response.status_code == 302
    assert counts(mapped.pf) == (before[0] + 1, before[1])


def test_a_form_with_errors_comes_back_with_french_messages_on_the_fields(mapped, as_user):
    client = as_user("claire")
    response = post(client, "/carte/organisations/nouvelle", {"name": "", "siret": "12 34"})
    assert response.status_code == 422
    html = text_of(response)
    assert element(html, "input", id="f-siret")["aria-invalid"] == "true"
    assert element(html, "p", id="e-siret")["__text__"] == "SIRET invalide (14 chiffres attendus)."
    assert element(html, "p", id="e-name")["__text__"] == "Le nom est obligatoire."
    response = post(client, "/carte/relations/nouvelle", {"partner_id": mapped.extra["lilas"],
                                                          "kind": "réseau", "since": "32/01/2020"})
    assert response.status_code == 422
    assert element(text_of(response), "p", id="e-since")["__text__"] == "Date invalide (jj/mm/aaaa attendu)."


def test_the_import_preview_lists_row_errors_and_nothing_is_written_until_confirmed(mapped, as_user):
    client = as_user("claire")
    table = map_data.rows(20)
    table[3]["SIRET"] = "12345"
    table[7]["Relation"] = "voisinage"
    before = counts(mapped.pf)
    token = csrf_token(client, "/carte/import")
    response = client.post("/carte/import", data={
        "csrf_token": token, "file": (io.BytesIO(map_data.to_csv(table)), "carte.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    html = text_of(page)
    summary = html.split('class="import-errors"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r"<li>([^<]+)</li>", summary) == [
        "ligne 5 : SIRET invalide (14 chiffres attendus)",
        "ligne 9 : type de relation inconnu (réseau, coopération ou partenariat)"]
    assert len(elements(html, "tr", class_="row-error")) == 2
    assert len(elements(html, "tr", class_="row-add")) == 18
    assert counts(mapped.pf) == before
    confirm_url = element(html, "form", action=True, class_="buttons")["action"]
    assert client.post(confirm_url).status_code == 400
    assert counts(mapped.pf) == before
    assert as_user("alice").post(confirm_url, data={"csrf_token": token}).status_code in (400, 403)
    response = post(client, confirm_url, token_from="/carte/import", follow_redirects=True)
    assert "18 relation(s) ajoutée(s)" in text_of(response)
    assert counts(mapped.pf) == (before[0] + 18, before[1] + 18)


def test_the_export_is_the_spreadsheet_the_import_reads(mapped, as_user):
    response = as_user("alice").get("/carte/export.csv")
    assert response.mimetype == "text/csv"
    lines = response.get_data().decode("utf-8-sig").splitlines()
    assert lines[0] == ";".join(map_io.HEADERS)
    assert lines[1].split(";")[1:3] == ["EHPAD Les Lilas", "ehpad"]
    xlsx = as_user("alice").get("/carte/export.xlsx")
    assert xlsx.get_data().startswith(b"PK\x03\x04")


def test_graph_json_links_edges_to_the_partnership(mapped, as_user):
    data = as_user("sophie").get("/carte/graphe.json").get_json()
    assert [n["label"] for n in data["nodes"]] == ["Les Tilleuls", "EHPAD Les Lilas"]
    [edge] = data["edges"]
    assert (edge["kind"], edge["level"], edge["url"]) == ("partnership", "L2", f"/partenariats/{mapped.own}")
    assert data["nodes"][1]["url"] == f"/partenariats/{mapped.own}"


def test_the_dashboard_is_for_direction_auditors_and_admins_with_accessible_charts(mapped, as_user):
    for username in USERS:
        status = as_user(username).get("/tableau-de-bord").status_code
        assert status == (200 if set(USERS[username]) & {"direction", "auditor", "admin"} else 403), username
    html = text_of(as_user("alice").get("/tableau-de-bord"))
    svg = element(html, "svg", id="chart-stages")
    # its bars are links: a group of links (an image would nest them, which axe-core refuses)
    assert svg["role"] == "group" and svg["aria-labelledby"] == "chart-stages-title"
    assert svg["aria-describedby"] == "chart-stages-desc"
    assert "<title id=\"chart-stages-title\">Partenariats en cours par étape</title>" in html
    # two partnerships of the world sit at the idea stage; the bar links to the filtered list
    assert 'data-key="idea" data-value="2"' in html
    assert element(html, "a", href="/partenariats/?stage=idea&status=active")["aria-label"] == (
        "L'idée première : 2")
    listed = text_of(as_user("alice").get("/partenariats/?stage=negotiation&status=active"))
    assert "Aucun partenariat" in listed


def test_the_direction_sets_the_delegation_once_on_our_organisation(mapped, as_user):
    pf, own = mapped.pf, mapped.extra["own"]
    client = as_user("claire")
    page = text_of(client.get(f"/carte/organisations/{own}"))
    assert 'name="delegated_ceiling_eur"' in page and "CASF D312-176-5" in page
    response = post(client, f"/carte/organisations/{own}", {
        "name": "Les Tilleuls", "kind": "association", "is_own": "1",
        "delegated_ceiling_eur": "15 000", "delegation_date": "2025-06-26"})
    assert response.status_code == 302
    with pf.read() as db:
        org = db.get(Organisation, own)
        assert (org.delegated_ceiling_eur, org.delegation_date.isoformat()) == (15000, "2025-06-26")
    assert 'value="15000"' in text_of(client.get(f"/carte/organisations/{own}"))

    # a bad amount is shown at its field, nothing is lost and nothing changes
    response = post(client, f"/carte/organisations/{own}", {
        "name": "Les Tilleuls", "kind": "association", "is_own": "1",
        "delegated_ceiling_eur": "quinze mille"})
    body = text_of(response)
    assert response.status_code == 422
    assert 'id="e-delegated_ceiling_eur"' in body and 'value="quinze mille"' in body
    with pf.read() as db:
        assert db.get(Organisation, own).delegated_ceiling_eur == 15000

    # a partner organisation has no delegation; the delegate may not change ours
    lilas = mapped.extra["lilas"]
    response = post(client, f"/carte/organisations/{lilas}", {
        "name": "EHPAD Les Lilas", "kind": "ehpad", "delegated_ceiling_eur": "100000"})
    assert response.status_code == 422 and "notre organisation" in text_of(response)
    assert post(as_user("karim"), f"/carte/organisations/{own}", {
        "name": "Les Tilleuls", "is_own": "1", "delegated_ceiling_eur": "999999"},
        token_from="/carte/").status_code == 403
    with pf.read() as db:
        assert db.get(Organisation, own).delegated_ceiling_eur == 15000
def test_the_map_s_editors_name_a_partner_organisation_on_the_partnership_page(mapped, as_user):
    pf, other = mapped.pf, mapped.other
    assert "Rattacher une organisation partenaire" not in text_of(
        as_user("sophie").get(f"/partenariats/{other}"))
    claire = as_user("claire")
    page = text_of(claire.get(f"/partenariats/{other}"))
    choices = [o["__text__"] for o in elements(page.split('id="partner-organisation"', 1)[1]
                                               .split("</select>", 1)[0], "option")]
    assert choices == ["EHPAD Les Lilas"]  # never our own organisation
    assert post(as_user("sophie"), f"/partenariats/{other}/organisations",
                {"organisation_id": str(mapped.extra["lilas"])}).status_code == 403
    response = post(claire, f"/partenariats/{other}/organisations",
                    {"organisation_id": str(mapped.extra["lilas"])})
    assert response.status_code == 302
    page = text_of(claire.get(f"/partenariats/{other}"))
    assert "EHPAD Les Lilas" in page.split("Organisations partenaires", 1)[1].split("</dd>", 1)[0]
    assert 'id="partner-organisation"' not in page  # nothing left to name
    refused = post(claire, f"/partenariats/{other}/organisations",
                   {"organisation_id": str(mapped.extra["own"])})
    assert refused.status_code == 400 and "ni la nôtre" in text_of(refused)
    with pf.read() as db:
        from partnerflow.engine.runtime import queries
        from partnerflow.engine.store.models import AuditEvent

        assert [o.name for o in queries.partnership_organisations(db, other)] == ["EHPAD Les Lilas"]
        [event] = db.scalars(select(AuditEvent).where(
            AuditEvent.type == "partnership_organisation_added")).all()
    assert (event.partnership_id, event.actor, event.payload["organisation_id"]) == (
        other, "claire", mapped.extra["lilas"])


def test_the_map_list_is_paginated(mapped, as_user):
    from partnerflow.web import map as map_views

    pf = mapped.pf
    for _i in range(map_views.PAGE_SIZE):  # one more than a page, with the fixture's
        with pf.uow() as uow:
            registry.create_relationship(uow, actor="claire", data={
                "partner_id": mapped.extra["lilas"], "kind": "partnership",
                "formalisation_level": "L1"})
    client = as_user("claire")
    first = client.get("/carte/").get_data(as_text=True)
    assert "Page 1 sur 2" in first
    assert "Page 2 sur 2" in client.get("/carte/?page=2").get_data(as_text=True)
