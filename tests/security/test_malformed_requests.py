"""Malformed requests get a French 4xx, never a 500: huge page numbers and ids, thousands of
digits in a row index, JSON that is not an object, lone surrogates and NUL characters, an
unknown organisation, a UTF-16 diagram, and a database that is gone."""

from __future__ import annotations

import io

import pytest

from partnerflow.engine.config import Settings
from partnerflow.web import create_app
from tests.conftest import FIXTURES
from tests.web.support import csrf_token, post, start, text_of

HUGE = "99999999999999999999"


def test_huge_or_odd_page_numbers_and_filters_show_a_page(as_user):
    client = as_user("claire")
    for path in (f"/?page={HUGE}", f"/?partnership={HUGE}", f"/notifications/?page={HUGE}",
                 f"/?page={'9' * 5000}", "/?page=-3", "/?page=1e9", "/?partnership=-1"):
        assert client.get(path).status_code == 200, path


def test_ids_beyond_what_the_database_stores_are_not_found(as_user):
    client = as_user("claire")
    for path in (f"/partenariats/{HUGE}", f"/taches/{HUGE}", f"/taches/{HUGE}/historique",
                 f"/instances/{HUGE}/diagramme", f"/carte/organisations/{HUGE}",
                 f"/carte/relations/{HUGE}", f"/versions/{HUGE}/source", f"/partenariats/{'9' * 5000}",
                 "/taches/2147483648"):  # one past PostgreSQL's integer
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Page introuvable" in text_of(response)


def test_audit_and_modeller_filters_with_huge_numbers(world, as_user):
    assert as_user("alice").get(f"/partenariats/{world.own}/audit?instance={HUGE}").status_code == 200
    designer = as_user("denis")
    assert designer.get(f"/modeleur/review_loop?version={HUGE}").status_code == 200
    assert designer.get(f"/modeleur/review_loop/differences?to={HUGE}&from={HUGE}").status_code == 200


def test_a_row_index_of_thousands_of_digits_is_ignored(world, as_user):
    [task_id] = start(world.pf, world.own, "rows_demo")
    client = as_user("sophie")
    url = f"/taches/{task_id}"
    response = post(client, url, {"action": "complete", "summary": "Bilan",
                                  f"items-{'9' * 5000}-label": "Atelier"}, token_from=url)
    assert response.status_code == 422  # the row was not read: "add at least one row"
    assert "Ajoutez au moins une ligne" in text_of(response)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"texte"', b"12", b"null", b'{"xml": "\\ud800"}',
                                  b'{"schema": {"type": "object", "title": "\\ud800"}}'])
@pytest.mark.parametrize("path", ["/modeleur/review_loop/brouillon", "/modeleur/review_loop/deployer",
                                  "/modeleur/formulaires/review", "/modeleur/formulaires/review/apercu"])
def test_the_modeller_answers_bad_json_with_a_french_400(world, as_user, path, body):
    client = as_user("denis")
    token = csrf_token(client, "/modeleur/")
    response = client.post(path, data=body, content_type="application/json",
                           headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert response.status_code == 400
    message = response.get_json()["message"]
    assert "objet JSON" in message or "Caractère non autorisé" in message


def test_an_unknown_organisation_in_the_admin_form_is_named(world, as_user):
    client = as_user("ines")
    response = post(client, "/admin/utilisateurs", {
        "username": "nouvelle", "full_name": "Nouvelle Personne", "roles": "professional",
        "password": "un-mot-de-passe", "organisation_id": "987654"}, token_from="/admin/utilisateurs")
    assert response.status_code == 422
    assert "Organisation inconnue" in text_of(response)


@pytest.mark.parametrize(("path", "data"), [
    ("/carte/organisations/nouvelle", {"name": "Mairie\x00 de Bondy", "kind": "town_hall"}),
    ("/connexion", {"username": "claire\x00", "password": "x"}),
])
def test_a_nul_character_anywhere_in_a_form_is_a_french_400_naming_the_field(world, as_user, path, data):
    client = as_user("claire" if path.startswith("/carte") else None)
    response = post(client, path, data, token_from=path)
    assert response.status_code == 400
    assert "Caractère non autorisé" in text_of(response)
    field = next(key for key, value in data.items() if "\x00" in value)
    assert f"« {field} »" in text_of(response)


def test_a_nul_character_in_the_query_string_or_path_is_a_400(as_user):
    client = as_user("claire")
    assert client.get("/?stage=%00").status_code == 400
    assert client.get("/modeleur/a%00b").status_code in (400, 403)


def test_a_utf16_diagram_without_doctype_is_refused_by_name(world, as_user):
    source = (FIXTURES / "review_loop.bpmn").read_text("utf-8").replace(
        'encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    client = as_user("denis")
    response = post(client, "/modeleur/televerser",
                    {"files": (io.BytesIO(source), "review_loop.bpmn")}, token_from="/modeleur/",
                    content_type="multipart/form-data")
    assert response.status_code == 422
    assert "UTF-16" in text_of(response) and "UTF-8" in text_of(response)


# ---------------------------------------------------------------- the database gone


@pytest.fixture
def app_without_database(tmp_path):
    """The application on an empty database file: every table is gone."""
    url = f"sqlite:///{tmp_path / 'dropped.db'}"
    return create_app(Settings(database_url=url, forms_dir=FIXTURES / "forms"), TESTING=True)


def test_a_signed_in_user_gets_a_french_503_when_the_database_is_gone(app_without_database):
    client = app_without_database.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1"  # signed in before the database went away
        session["_fresh"] = True
    for path in ("/", "/partenariats/", "/taches/3"):
        response = client.get(path)
        assert response.status_code == 503, path
        body = text_of(response)
        assert "Service indisponible" in body and "base de données" in body
        assert "Internal Server Error" not in body


def test_json_callers_get_the_503_as_json(app_without_database):
    client = app_without_database.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1"
    response = client.get("/notifications/", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.get_json()["status"] == 503


def test_a_server_that_cannot_reach_postgresql_answers_503(tmp_path):
    app = create_app(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:9/none",
                              forms_dir=FIXTURES / "forms"), TESTING=True)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1"
    response = client.get("/")
    assert response.status_code == 503
    assert "base de données" in text_of(response)


def test_the_error_page_itself_never_queries_the_database(world, as_user, monkeypatch):
    client = as_user("claire")
    from partnerflow.engine.runtime import notifications, queries

    def refuse(*_args, **_kwargs):
        raise AssertionError("the error page asked the database")

    monkeypatch.setattr(queries, "user_by_id", refuse)
    monkeypatch.setattr(queries, "inbox_count", refuse)
    monkeypatch.setattr(notifications, "unread_count", refuse)
    response = client.get("/cette-page-n-existe-pas")
    assert response.status_code == 404
    assert "Page introuvable" in text_of(response)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/champ.json"}}},
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/absent"}}},
    {"type": "object", "properties": {"a": {"type": "string", "x-order": "premier"}}},
    {"type": "object", "properties": {"a": {"type": "string"}}, "x-rules": [{"rule": "after"}]},
    {"type": "object", "properties": {"a": {"type": "string"}}, "x-rules": "toujours"},
])
def test_a_form_that_would_fail_every_later_completion_is_refused_when_saved(world, as_user, schema):
    client = as_user("denis")
    token = csrf_token(client, "/modeleur/")
    response = client.post("/modeleur/formulaires/review", json={"schema": schema},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 422
    assert response.get_json()["saved"] is False
    assert world.pf.forms.validate("review", {"decision": "done"}) == {"decision": "done"}
