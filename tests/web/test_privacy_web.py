"""The administrator's RGPD page: find a person, export what is held (JSON, PDF), erase."""

from __future__ import annotations

import json

from sqlalchemy import select

from partnerflow.engine import audit
from partnerflow.engine.store.models import User
from tests.web.support import post, text_of

PAGE = "/admin/donnees-personnelles/"


def test_only_administrators_reach_it(as_user):
    for username in ("claire", "karim", "paul", "denis", "alice"):
        assert as_user(username).get(PAGE).status_code == 403, username
    assert as_user(None).get(PAGE).status_code == 302


def test_an_administrator_exports_a_users_data_as_json_and_pdf(as_user):
    admin = as_user("ines")
    page = admin.get(PAGE + "?user=sophie")
    assert page.status_code == 200 and "Télécharger (PDF)" in text_of(page)
    exported = admin.get(PAGE + "export.json?user=sophie")
    assert exported.headers["Content-Disposition"].endswith('donnees-personnelles-sophie.json"')
    data = json.loads(exported.get_data())
    assert data["account"]["username"] == "sophie" and data["account"]["groups"] == ["professional"]
    pdf = admin.get(PAGE + "export.pdf?user=sophie")
    assert pdf.mimetype == "application/pdf" and pdf.get_data().startswith(b"%PDF")
    assert admin.get(PAGE + "?user=nobody").status_code == 404


def test_erasure_needs_the_word_and_csrf_and_waits_for_open_tasks(as_user, fixture_pf):
    admin = as_user("ines")
    assert admin.post(PAGE + "effacer", data={"user": "sophie", "confirm": "effacer"}).status_code == 400
    kept = post(admin, PAGE + "effacer", {"user": "sophie", "confirm": "oui"}, token_from=PAGE,
                follow_redirects=True)
    assert "Tapez « effacer » pour confirmer" in text_of(kept)
    # claire holds the world's direction tasks: not yet, and the page says why in French
    refused = post(admin, PAGE + "effacer", {"user": "claire", "confirm": "effacer"},
                   token_from=PAGE, follow_redirects=True)
    assert "Effacement impossible pour l&#39;instant" in text_of(refused)
    done = post(admin, PAGE + "effacer", {"user": "sophie", "confirm": "effacer",
                                          "reference": "demande du 2 mars"},
                token_from=PAGE, follow_redirects=True)
    assert "Données personnelles effacées" in text_of(done)
    with fixture_pf.read() as db:
        assert db.scalar(select(User).where(User.username == "sophie")) is None
        assert audit.verify(db) == []


def test_the_audit_page_says_when_a_value_was_erased(app):
    from partnerflow.web import formatting

    with app.test_request_context():
        assert formatting.shown({"$erased": "2026-03-02"}) == "effacé le 2 mars 2026"
        assert formatting.shown("Claire Martin") == "Claire Martin"
