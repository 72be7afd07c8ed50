"""Accounts: the administrator deactivates an account (its sessions stop at once, its tasks
are listed for reassignment) and reactivates it; a forgotten password is reset by an
e-mailed, signed link that works once and expires, without telling who has an account."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from partnerflow.engine.access import accounts
from partnerflow.engine.runtime import notifications, services
from partnerflow.engine.store.models import AuditEvent, HumanTask, User
from tests.web.support import PASSWORD, login, post, text_of


class Outbox:
    """Stands for the SMTP server: what would have been sent (the SMTP mailer itself is
    tested against a real server in tests/integration)."""

    def __init__(self):
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to, subject, body):
        self.sent.append((to, subject, body))

    def link(self) -> str:
        return re.search(r"http\S+/mot-de-passe-oublie/\S+", self.sent[-1][2]).group(0)


@pytest.fixture
def outbox(monkeypatch, world):
    box = Outbox()
    monkeypatch.setattr(notifications, "mailer_for", lambda settings: box)
    with world.pf.uow() as uow:
        sophie = uow.session.scalar(select(User).where(User.username == "sophie"))
        sophie.email = "Sophie@Les-Tilleuls.example"
        uow.commit()
    return box


# ---------------------------------------------------------------- deactivation


def test_a_deactivated_account_stops_at_once_and_its_tasks_wait_for_reassignment(world, as_user):
    pf = world.pf
    with pf.uow() as uow:
        services.claim_task(uow, task_id=world.task_own, actor="claire")
    claire = as_user("claire")
    assert claire.get("/").status_code == 200
    admin = as_user("ines")
    response = post(admin, "/admin/utilisateurs/claire/actif", {"active": "0"},
                    token_from="/admin/utilisateurs")
    assert response.status_code == 302
    page = html.unescape(text_of(admin.get("/admin/utilisateurs")))
    assert "1 tâche(s) lui restent attribuées" in page
    assert f'href="/taches/{world.task_own}"' in page.split("Tâches de comptes désactivés")[1]
    # her open session stops at once, and she cannot sign in again
    assert claire.get("/").status_code == 302
    assert login(pf_client := admin.application.test_client(), "claire").status_code != 302
    with pf.read() as db:
        assert [e.payload for e in db.scalars(select(AuditEvent).where(
            AuditEvent.type == "user_deactivated"))] == [{"user": "claire"}]
    # the direction's other member reassigns the task from its page
    assert "hugo" and as_user("hugo").get(f"/taches/{world.task_own}").status_code == 200
    # reactivated, she signs in again
    assert post(admin, "/admin/utilisateurs/claire/actif", {"active": "1"},
                token_from="/admin/utilisateurs").status_code == 302
    assert login(pf_client, "claire").status_code == 302


def test_only_an_administrator_deactivates_never_their_own_account_and_never_without_csrf(
        world, as_user):
    assert post(as_user("claire"), "/admin/utilisateurs/karim/actif", {"active": "0"},
                token_from="/").status_code == 403
    admin = as_user("ines")
    assert admin.post("/admin/utilisateurs/karim/actif", data={"active": "0"}).status_code == 400
    post(admin, "/admin/utilisateurs/ines/actif", {"active": "0"}, token_from="/admin/utilisateurs")
    assert "Vous ne pouvez pas désactiver votre propre compte" in text_of(admin.get("/admin/utilisateurs"))
    with world.pf.read() as db:
        assert all(db.scalars(select(User.active).where(User.username.in_(("karim", "ines")))))


# ---------------------------------------------------------------- a forgotten password


def test_a_forgotten_password_is_reset_by_a_link_that_works_once(world, client, outbox):
    pf = world.pf
    sophie = client.application.test_client()
    assert login(sophie, "sophie").status_code == 302
    response = post(client, "/mot-de-passe-oublie", {"login": "sophie@les-tilleuls.example"},
                    token_from="/mot-de-passe-oublie")
    assert response.status_code == 302
    [(to, subject, body)] = outbox.sent
    assert to == "Sophie@Les-Tilleuls.example" and "dans l'heure" in body and "qu'une fois" in body
    link = outbox.link().replace("http://127.0.0.1:5000", "")
    assert "choisir un nouveau mot de passe" in text_of(client.get(link)).lower()
    # too short, then mismatched: said at the field, nothing changes
    assert post(client, link, {"new_password": "court", "confirm_password": "court"},
                token_from=link).status_code == 422
    assert post(client, link, {"new_password": "nouveau-secret-1", "confirm_password": "autre"},
                token_from=link).status_code == 422
    assert post(client, link, {"new_password": "nouveau-secret-1", "confirm_password": "nouveau-secret-1"},
                token_from=link).status_code == 302
    # the new one signs in, the old one no longer, the session opened before has ended
    assert login(client.application.test_client(), "sophie", "nouveau-secret-1").status_code == 302
    assert login(client.application.test_client(), "sophie", PASSWORD).status_code != 302
    assert sophie.get("/").status_code == 302
    # the link has served: it no longer opens the form
    response = client.get(link)
    assert response.status_code == 400 and "déjà servi" in text_of(response)
    with pf.read() as db:
        types = [e.type for e in db.scalars(select(AuditEvent).where(AuditEvent.actor == "sophie"))]
    assert "password_reset_requested" in types and "user_password_reset" in types


def test_the_answer_is_the_same_whether_an_account_exists_and_requests_are_bounded(
        world, client, outbox):
    for login_name in ("personne", "sophie", "paul"):  # paul has no e-mail address
        response = post(client, "/mot-de-passe-oublie", {"login": login_name},
                        token_from="/mot-de-passe-oublie")
        assert response.status_code == 302
    assert [to for to, _s, _b in outbox.sent] == ["Sophie@Les-Tilleuls.example"]
    for _ in range(5):
        post(client, "/mot-de-passe-oublie", {"login": "sophie"}, token_from="/mot-de-passe-oublie")
    assert len(outbox.sent) == accounts.RESETS_PER_HOUR


def test_a_forged_or_expired_link_is_refused(world, client, outbox, monkeypatch):
    post(client, "/mot-de-passe-oublie", {"login": "sophie"}, token_from="/mot-de-passe-oublie")
    link = outbox.link().replace("http://127.0.0.1:5000", "")
    assert client.get(link[:-3] + "abc").status_code == 400
    import itsdangerous.timed

    later = itsdangerous.timed.time.time() + accounts.RESET_VALID_S + 60
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    assert client.get(link).status_code == 400
    with world.pf.read() as db, pytest.raises(Exception, match="not valid"):
        accounts.user_for_reset(db, token=link.rsplit("/", 1)[1], secret=world.pf.settings.secret_key)


def test_without_e_mail_delivery_the_page_says_whom_to_ask(world, client):
    page = text_of(client.get("/mot-de-passe-oublie"))
    assert "pas configuré" in page
    response = post(client, "/mot-de-passe-oublie", {"login": "sophie"}, token_from="/mot-de-passe-oublie")
    assert response.status_code == 422 and "demandez à un administrateur" in text_of(response)
    assert "Mot de passe oublié" in text_of(client.get("/connexion"))
    with world.pf.read() as db:
        assert db.scalar(select(HumanTask.id).limit(1)) is not None
