"""French by default, English on request: the language switch, Accept-Language, dates, euros,
and form definitions translated when rendered."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from partnerflow.web import create_app
from partnerflow.web.webforms import build_fields, error_text
from tests.conftest import make_user

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.fixture
def i18n_app(fixture_pf):
    app = create_app(partnerflow=fixture_pf, TESTING=True)
    make_user(fixture_pf, "claire", "direction", password="secret-pw1")
    return app


def _token(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1) or found.group(2)


def _html_lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


def _login(client, headers: dict | None = None):
    page = client.get("/connexion").get_data(as_text=True)
    return client.post("/connexion", data={"username": "claire", "password": "secret-pw1",
                                           "csrf_token": _token(page)}, headers=headers or {})


def test_the_login_page_is_french_by_default(i18n_app):
    client = i18n_app.test_client()
    html = client.get("/connexion").get_data(as_text=True)
    assert _html_lang(html) == "fr"
    assert "<h1>Connexion</h1>" in html
    assert "Mot de passe" in html and "Se connecter" in html
    assert 'value="en"' in html and ">English<" in html  # the switch offers the other language


def test_the_language_switch_turns_the_interface_english_and_back(i18n_app):
    client = i18n_app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    response = client.post("/langue", data={"lang": "en", "next": "/connexion", "csrf_token": _token(page)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/connexion")
    html = client.get("/connexion").get_data(as_text=True)
    assert _html_lang(html) == "en"
    assert "<h1>Sign in</h1>" in html and "Password" in html and "Username" in html
    assert "Mot de passe" not in html and "Forgot your password?" in html
    assert ">Français<" in html

    client.post("/langue", data={"lang": "fr", "next": "/connexion", "csrf_token": _token(html)})
    assert "<h1>Connexion</h1>" in client.get("/connexion").get_data(as_text=True)


def test_the_language_switch_needs_the_csrf_token_and_a_known_language(i18n_app):
    client = i18n_app.test_client()
    assert client.post("/langue", data={"lang": "en"}).status_code == 400
    page = client.get("/connexion").get_data(as_text=True)
    client.post("/langue", data={"lang": "de", "csrf_token": _token(page)})
    assert _html_lang(client.get("/connexion").get_data(as_text=True)) == "fr"


def test_accept_language_chooses_english_and_unknown_languages_fall_back_to_french(i18n_app):
    client = i18n_app.test_client()
    html = client.get("/connexion", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert _html_lang(html) == "en" and "<h1>Sign in</h1>" in html
    html = client.get("/connexion", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert _html_lang(html) == "fr" and "<h1>Connexion</h1>" in html
    # the explicit choice wins over the browser's
    page = client.get("/connexion").get_data(as_text=True)
    client.post("/langue", data={"lang": "fr", "csrf_token": _token(page)})
    html = client.get("/connexion", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert _html_lang(html) == "fr"


def test_a_signed_in_user_sees_the_interface_in_english(i18n_app):
    client = i18n_app.test_client()
    response = _login(client, headers={"Accept-Language": "en"})
    assert response.status_code == 302
    html = client.get("/", headers={"Accept-Language": "en"}, follow_redirects=True).get_data(as_text=True)
    assert "My tasks" in html and "Partnerships" in html and "Sign out" in html
    assert "Welcome, Claire." in html  # messages are written in the language of the request
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Mes tâches" in html and "Se déconnecter" in html


def test_a_bad_login_is_reported_in_the_chosen_language(i18n_app):
    client = i18n_app.test_client()
    page = client.get("/connexion", headers={"Accept-Language": "en"}).get_data(as_text=True)
    response = client.post("/connexion", data={"username": "claire", "password": "wrong-password",
                                               "csrf_token": _token(page)},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert "Incorrect username or password." in response.get_data(as_text=True)


def _globals(app, lang: str):
    return app.test_request_context("/", headers={"Accept-Language": lang})


def test_dates_are_written_the_way_each_language_writes_them(i18n_app):
    fmt = i18n_app.jinja_env.globals
    with _globals(i18n_app, "fr"):
        assert fmt["format_date"](date(2026, 3, 3)) == "3 mars 2026"
        assert fmt["format_date"]("2026-03-03") == "3 mars 2026"
        # shown on the Paris calendar: 23:30 UTC on 2 March is already 3 March in Paris
        assert fmt["format_date"](datetime(2026, 3, 2, 23, 30, tzinfo=UTC)) == "3 mars 2026"
        assert fmt["format_datetime"](datetime(2026, 3, 3, 13, 5, tzinfo=UTC)) == "3 mars 2026 14:05"
        assert fmt["format_date"](None) == "—"
    with _globals(i18n_app, "en"):
        assert fmt["format_date"](date(2026, 3, 3)) == "Mar 3, 2026"
        assert fmt["format_datetime"](datetime(2026, 3, 3, 13, 5, tzinfo=UTC)) == "Mar 3, 2026, 14:05"


def test_euro_amounts_are_written_the_way_each_language_writes_them(i18n_app):
    fmt = i18n_app.jinja_env.globals
    with _globals(i18n_app, "fr"):
        amount = fmt["format_euros"](Decimal("1234.50"))
        assert amount.replace(NNBSP, " ").replace(NBSP, " ") == "1 234,50 €"
        assert fmt["format_euros"](1234.5) == amount
        assert fmt["format_euros"](None) == "—"
    with _globals(i18n_app, "en"):
        assert fmt["format_euros"](Decimal("1234.50")) == "€1,234.50"


def test_labels_of_roles_stages_and_levels_follow_the_language(i18n_app):
    fmt = i18n_app.jinja_env.globals
    with _globals(i18n_app, "en"):
        assert fmt["role_label"]("delegate") == "Exchange delegate"
        assert fmt["role_label"]("steering") == "Steering committee"
        assert fmt["stage_label"]("action_sheets") == "Writing action sheets"
        assert fmt["stage_label"]("idea") == "The first idea"
        assert fmt["level_label"]("L3") == "L3 — agreement (convention) approved by the board of directors"
        assert fmt["kind_label"]("network") == "Network"
        assert fmt["role_label"]("unknown-role") == "unknown-role"
    with _globals(i18n_app, "fr"):
        assert fmt["role_label"]("delegate") == "Délégué(e) aux échanges"
        assert fmt["stage_label"]("idea") == "L'idée première"


SCHEMA = {
    "type": "object", "title": "Partenariat", "required": ["name"],
    "properties": {
        "name": {"type": "string", "title": "Nom", "x-help": "Organisation", "maxLength": 5},
        "kind": {"type": "string", "title": "Type",
                 "oneOf": [{"const": "network", "title": "Réseau"},
                           {"const": "x", "title": "Sans traduction"}]},
        "level": {"type": "string", "enum": ["L0"], "x-enum-labels": {"L0": "L0 — réseau informel"}},
    },
}
ERRORS = {"name": ["Ce champ est obligatoire.", "Au plus 5 caractères."],
          "kind": ["La valeur doit être supérieure ou égale à 1,5.", "Un message propre à un formulaire."]}


def test_form_fields_are_translated_when_rendered_in_english(i18n_app):
    with _globals(i18n_app, "en"):
        name, kind, level = build_fields(SCHEMA, {}, ERRORS)
        assert (name.label, name.help) == ("Name", "Organisation")
        assert name.errors == ["This field is required.", "At most 5 characters."]
        assert kind.label == "Type"
        assert kind.options == [("network", "Network"), ("x", "Sans traduction")]  # no msgid: as written
        assert kind.errors == ["The value must be greater than or equal to 1,5.",
                               "Un message propre à un formulaire."]  # no msgid: as written
        assert level.label == "level" and level.options == [("L0", "L0 — informal network")]
        assert i18n_app.jinja_env.globals["form_text"]("Partenariat") == "Partnership"
        assert i18n_app.jinja_env.globals["form_text"]("50 % des places") == "50 % des places"


def test_form_fields_stay_french_in_french_and_outside_a_request(i18n_app):
    with _globals(i18n_app, "fr"):
        name, kind, _level = build_fields(SCHEMA, {}, ERRORS)
        assert name.label == "Nom" and name.errors[0] == "Ce champ est obligatoire."
        assert kind.options[0] == ("network", "Réseau")
    name, _kind, _level = build_fields(SCHEMA, {}, ERRORS)
    assert (name.label, name.errors[1]) == ("Nom", "Au plus 5 caractères.")
    assert error_text("Ce champ est obligatoire.") == "Ce champ est obligatoire."
