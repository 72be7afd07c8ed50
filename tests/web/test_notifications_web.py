"""The notifications page, the header count, the digest preference, /ready and ProxyFix."""

from __future__ import annotations

import shutil

from flask import request
from sqlalchemy import select

from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import Notification, User
from partnerflow.web import create_app
from tests.conftest import FIXTURES, deploy
from tests.web.support import element, post, text_of


def _ids(pf, username: str) -> list[int]:
    with pf.read() as db:
        return list(db.scalars(select(Notification.id).where(Notification.username == username)
                               .order_by(Notification.id)))


def test_the_header_counts_unread_notifications_and_the_page_lists_them(world, as_user):
    client = as_user("claire")
    body = text_of(client.get("/"))
    assert element(body, "span", id="notification-count")["__text__"] == "2"
    page = text_of(client.get("/notifications/"))
    assert page.count("Nouvelle tâche : Relire le document") == 2


def test_each_notification_names_its_partnership_and_mail_is_offered_only_when_configured(
        world, as_user, clock):
    from tests.web.support import login

    page = text_of(as_user("claire").get("/notifications/"))
    # claire is told of the review task of both partnerships: each line says which
    assert [p["__text__"] for p in _partnership_lines(page)] == [
        "Partenariat « Foyer et mairie »", "Partenariat « EHPAD et lycée agricole »"]
    assert "courriel" not in page and not _digest_form(page)
    mailing = Partnerflow(world.pf.settings.with_(smtp_host="smtp.example.org"), clock=clock)
    try:
        client = create_app(partnerflow=mailing, TESTING=True).test_client()
        login(client, "claire")
        page = text_of(client.get("/notifications/"))
        assert _digest_form(page) and "Vous recevez un courriel par notification." in page
    finally:
        mailing.dispose()


def _partnership_lines(page: str):
    from tests.web.support import elements

    return elements(page, "p", class_="partnership-of")


def _digest_form(page: str):
    from tests.web.support import elements

    return elements(page, "form", id="digest-preference")


def test_the_accessibility_statement_names_its_contact_without_an_account(fixture_pf, clock):
    public = text_of(create_app(partnerflow=fixture_pf, TESTING=True).test_client().get("/accessibilite"))
    assert "partiellement conforme" in public and "l’administrateur de Partnerflow" in public
    contact = Partnerflow(fixture_pf.settings.with_(accessibility_contact="accessibilite@tilleuls.fr"),
                          clock=clock)
    try:
        page = text_of(create_app(partnerflow=contact, TESTING=True).test_client().get("/accessibilite"))
        assert element(page, "a", href="mailto:accessibilite@tilleuls.fr")
    finally:
        contact.dispose()


def test_mark_one_then_all_read_and_never_another_users(world, as_user):
    client = as_user("claire")
    first, second = _ids(world.pf, "claire")
    hugo_note = _ids(world.pf, "hugo")[0]
    response = post(client, f"/notifications/{first}/lue", {"open": "1"}, token_from="/notifications/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/taches/")
    assert element(text_of(client.get("/")), "span", id="notification-count")["__text__"] == "1"
    assert post(client, f"/notifications/{hugo_note}/lue", token_from="/notifications/").status_code == 404
    response = post(client, "/notifications/tout-lu", token_from="/notifications/")
    assert response.status_code == 302
    assert element(text_of(client.get("/")), "span", id="notification-count")["__text__"] == "0"
    with world.pf.read() as db:
        assert db.get(Notification, second).read_at is not None
        assert db.get(Notification, hugo_note).read_at is None


def test_the_digest_preference_is_saved(world, as_user):
    client = as_user("sophie")
    post(client, "/notifications/preferences", {"digest": "1"}, token_from="/notifications/")
    with world.pf.read() as db:
        assert db.scalar(select(User.email_digest).where(User.username == "sophie")) is True
    assert "récapitulatif quotidien" in text_of(client.get("/notifications/"))
    post(client, "/notifications/preferences", {"digest": "0"}, token_from="/notifications/")
    with world.pf.read() as db:
        assert db.scalar(select(User.email_digest).where(User.username == "sophie")) is False


def test_ready_needs_the_method_deployed(fixture_pf, tmp_path, clock):
    shutil.copy(FIXTURES / "review_loop.bpmn", tmp_path / "review_loop.bpmn")
    pf = Partnerflow(fixture_pf.settings.with_(bpmn_dir=tmp_path), clock=clock)
    try:
        client = create_app(partnerflow=pf, TESTING=True).test_client()
        response = client.get("/ready")
        assert response.status_code == 503
        assert "method not deployed (review_loop)" in response.get_json()["reasons"][0]
        deploy(pf, pf.method_files())
        response = client.get("/ready")
        assert (response.status_code, response.get_json()) == (200, {"status": "ready"})
    finally:
        pf.dispose()


def test_ready_reports_an_unreachable_database(fixture_pf):
    pf = Partnerflow(fixture_pf.settings.with_(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    try:
        response = create_app(partnerflow=pf, TESTING=True).test_client().get("/ready")
        assert response.status_code == 503
        assert response.get_json()["reasons"][0].startswith("database unreachable")
    finally:
        pf.dispose()


def test_proxy_headers_are_honoured_only_when_asked(fixture_pf):
    for enabled, expected in ((True, ("https", "203.0.113.9")), (False, ("http", "127.0.0.1"))):
        app = create_app(fixture_pf.settings.with_(proxy_fix=enabled), partnerflow=fixture_pf,
                         TESTING=True)

        @app.get("/_echo")
        def echo():
            return {"scheme": request.scheme, "addr": request.remote_addr}

        got = app.test_client().get("/_echo", headers={"X-Forwarded-Proto": "https",
                                                       "X-Forwarded-For": "203.0.113.9"},
                                    environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
        assert (got["scheme"], got["addr"]) == expected


def test_notification_subjects_follow_the_readers_language(world, as_user):
    client = as_user("claire")
    french = client.get("/notifications/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    english = client.get("/notifications/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Nouvelle tâche : Relire le document" in french
    assert "New task: Relire le document" in english
    assert "Nouvelle tâche" not in english
