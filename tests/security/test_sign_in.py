"""Sign-in that slows an attacker down without locking colleagues out: throttling per
(user name, address) with growing waits said in French, a separate per-address limit for
names no account has, the same hashing cost for every name, wrong signature passwords
counted as failed sign-ins, sessions that end server-side, hashes that follow werkzeug's
defaults and are upgraded at sign-in, and user names a spreadsheet would run."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from partnerflow.engine.access import accounts
from partnerflow.engine.errors import FormValidationError, InvalidInput
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import HumanTask, LoginAttempt, Signature, User
from partnerflow.web import create_app
from tests.web.support import PASSWORD, csrf_token, post, text_of

OFFICE, ELSEWHERE = "192.0.2.10", "198.51.100.7"


def _client(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _login(client, username: str, password: str):
    token = csrf_token(client, "/connexion")
    return client.post("/connexion", data={"csrf_token": token, "username": username,
                                           "password": password})


def _authenticate(pf, username: str, password: str, address: str | None):
    with pf.uow() as uow:
        return accounts.authenticate(uow, username=username, password=password, remote_addr=address)


# ---------------------------------------------------------------- throttling


def test_failures_on_other_names_or_from_elsewhere_do_not_lock_the_director_out(app, world):
    office = _client(app, OFFICE)
    for _ in range(6):
        assert _login(office, "hugo", "mauvais").status_code in (401, 429)
    for i in range(8):
        assert _login(office, f"inconnu{i}", "mauvais").status_code == 401
    outside = _client(app, ELSEWHERE)
    for _ in range(8):
        assert _login(outside, "claire", "mauvais").status_code in (401, 429)
    assert _login(outside, "claire", PASSWORD).status_code == 429  # the guesser waits
    response = _login(office, "claire", PASSWORD)
    assert response.status_code == 302, text_of(response)
    assert office.get("/").status_code == 200


def test_the_wait_grows_and_is_said_in_french(app, world, clock):
    office = _client(app, OFFICE)
    for _ in range(accounts.FREE_FAILURES):
        assert _login(office, "claire", "mauvais").status_code == 401
    response = _login(office, "claire", PASSWORD)
    assert response.status_code == 429
    assert "Trop de tentatives échouées. Réessayez dans 1 minute(s)." in text_of(response)
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    clock.advance(seconds=61)
    assert _login(office, "claire", "mauvais").status_code == 401  # the sixth failure
    response = _login(office, "claire", PASSWORD)
    assert "Réessayez dans 2 minute(s)." in text_of(response)
    clock.advance(seconds=121)
    assert _login(office, "claire", "mauvais").status_code == 401  # the seventh
    assert "Réessayez dans 4 minute(s)." in text_of(_login(office, "claire", PASSWORD))
    clock.advance(minutes=4, seconds=1)
    assert _login(office, "claire", PASSWORD).status_code == 302
    # a success clears the count
    other = _client(app, OFFICE)
    assert _login(other, "claire", "mauvais").status_code == 401
    assert _login(other, "claire", PASSWORD).status_code == 302


def test_names_no_account_has_are_limited_per_address(app, world, clock):
    pf = world.pf
    assert _authenticate(pf, "claire", PASSWORD, OFFICE) is not None  # claire signs in here
    for i in range(accounts.UNKNOWN_NAME_LIMIT):
        assert _authenticate(pf, f"essai{i}", "x", OFFICE) is None
    with pytest.raises(accounts.LoginThrottled):
        _authenticate(pf, "essai-encore", "x", OFFICE)
    # every name that has not signed in from here lately waits too, known or not
    response = _login(_client(app, OFFICE), "hugo", PASSWORD)
    assert response.status_code == 429
    assert "Réessayez dans 1 minute(s)." in text_of(response)
    # the director, who signs in from this address, does not; nor does another address
    assert _login(_client(app, OFFICE), "claire", PASSWORD).status_code == 302
    assert _authenticate(pf, "essai-ailleurs", "x", ELSEWHERE) is None
    assert _authenticate(pf, "hugo", PASSWORD, ELSEWHERE) is not None
    with pf.read() as db:
        unknown = db.scalars(select(LoginAttempt.unknown_name).where(
            LoginAttempt.username.like("essai%"))).all()
    assert unknown and all(unknown)
    clock.advance(minutes=16)
    assert _authenticate(pf, "hugo", PASSWORD, OFFICE) is not None


def test_an_unknown_name_costs_the_same_scrypt_hash_as_a_known_one(world, monkeypatch):
    pf = world.pf
    with pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == "hugo")).active = False
        uow.commit()
    calls = []
    real = hashlib.scrypt

    def counted(password, *, salt, n, r, p, **kwargs):
        calls.append((n, r, p))
        return real(password, salt=salt, n=n, r=r, p=p, **kwargs)

    _authenticate(pf, "personne", "x", ELSEWHERE)  # the first one may prepare what it compares with
    monkeypatch.setattr(accounts.hashlib, "scrypt", counted)
    seen = {}
    for name in ("claire", "personne-du-tout", "hugo"):  # known, unknown, inactive
        calls.clear()
        assert _authenticate(pf, name, "mauvais", OFFICE) is None
        seen[name] = list(calls)
    assert seen["personne-du-tout"] == seen["claire"] == seen["hugo"]
    assert len(seen["claire"]) == 1


# ---------------------------------------------------------------- signature passwords


def test_wrong_signature_passwords_count_as_failed_sign_ins(signing, clock):
    pf, sign = signing
    app = create_app(partnerflow=pf, TESTING=True)
    office = _client(app, OFFICE)
    assert _login(office, "claire", PASSWORD).status_code == 302
    form = {"action": "complete", "signatory_full_name": "Claire Martin",
            "signatory_quality": "Directrice", "signature_consent": "on"}
    for _ in range(accounts.FREE_FAILURES):
        response = post(office, f"/taches/{sign}", {**form, "password": "mauvais"},
                        token_from=f"/taches/{sign}")
        assert response.status_code == 422
        assert "Mot de passe incorrect : la signature n&#39;est pas enregistrée." in text_of(response)
    response = post(office, f"/taches/{sign}", {**form, "password": PASSWORD},
                    token_from=f"/taches/{sign}")
    assert response.status_code == 422
    assert "Trop de mots de passe erronés. Réessayez dans 1 minute(s)." in text_of(response)
    with pf.read() as db:
        attempts = db.scalars(select(LoginAttempt).where(LoginAttempt.purpose == "signature")).all()
        assert [(a.username, a.remote_addr, a.success) for a in attempts] == [
            ("claire", OFFICE, False)] * accounts.FREE_FAILURES
    # they are failed sign-ins of claire from this address: the sign-in page waits too
    assert _login(_client(app, OFFICE), "claire", PASSWORD).status_code == 429
    clock.advance(seconds=61)
    response = post(office, f"/taches/{sign}", {**form, "password": PASSWORD},
                    token_from=f"/taches/{sign}")
    assert response.status_code == 302, text_of(response)[-500:]


def test_a_wrong_signature_password_keeps_nothing_but_the_failure(signing):
    pf, sign = signing
    with pf.uow() as uow, pytest.raises(FormValidationError) as error:
        services.complete_task(uow, task_id=sign, actor="claire", password="mauvais",
                               data={"signatory_full_name": "Claire Martin",
                                     "signatory_quality": "Directrice", "signature_consent": True})
    assert "password" in error.value.errors
    with pf.read() as db:
        [attempt] = db.scalars(select(LoginAttempt)).all()
        assert db.scalars(select(Signature)).all() == []
        assert db.get(HumanTask, sign).state == "open"
    assert (attempt.username, attempt.success, attempt.purpose) == ("claire", False, "signature")


# ---------------------------------------------------------------- sessions


def test_a_cookie_copied_before_logout_no_longer_signs_anyone_in(app, world):
    client = _client(app, OFFICE)
    assert _login(client, "claire", PASSWORD).status_code == 302
    copied = client.get_cookie("session").value
    assert post(client, "/deconnexion").status_code == 302
    thief = _client(app, ELSEWHERE)
    thief.set_cookie("session", copied)
    response = thief.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/connexion")


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(app, world):
    here, there = _client(app, OFFICE), _client(app, ELSEWHERE)
    assert _login(here, "claire", PASSWORD).status_code == 302
    assert _login(there, "claire", PASSWORD).status_code == 302
    copied = here.get_cookie("session").value
    page = here.get("/mot-de-passe")
    assert page.status_code == 200 and "Changer de mot de passe" in text_of(page)
    response = post(here, "/mot-de-passe", {"current_password": "pas-le-bon",
                                            "new_password": "un-nouveau-secret",
                                            "confirm_password": "un-nouveau-secret"},
                    token_from="/mot-de-passe")
    assert response.status_code == 422 and "Mot de passe actuel incorrect." in text_of(response)
    response = post(here, "/mot-de-passe", {"current_password": PASSWORD,
                                            "new_password": "court", "confirm_password": "court"},
                    token_from="/mot-de-passe")
    assert response.status_code == 422 and "Au moins 8 caractères." in text_of(response)
    response = post(here, "/mot-de-passe", {"current_password": PASSWORD,
                                            "new_password": "un-nouveau-secret",
                                            "confirm_password": "un-nouveau-secret"},
                    token_from="/mot-de-passe")
    assert response.status_code == 302
    assert here.get("/").status_code == 200
    assert there.get("/").status_code == 302
    thief = _client(app, ELSEWHERE)
    thief.set_cookie("session", copied)
    assert thief.get("/").status_code == 302
    assert _login(_client(app, OFFICE), "claire", PASSWORD).status_code == 401
    assert _login(_client(app, OFFICE), "claire", "un-nouveau-secret").status_code == 302
    with world.pf.read() as db:
        failures = db.scalars(select(LoginAttempt.purpose).where(
            LoginAttempt.username == "claire", LoginAttempt.success.is_(False))).all()
    assert "password_change" in failures  # the wrong current password counted


# ---------------------------------------------------------------- hashes


def test_hashes_follow_werkzeugs_default_and_read_both_ways(monkeypatch):
    monkeypatch.setattr(accounts, "_N", 2**15)
    stored = accounts.hash_password("secret partagé")
    assert stored.startswith("scrypt:32768:8:1$")
    assert check_password_hash(stored, "secret partagé")
    assert not check_password_hash(stored, "autre")
    made_by_werkzeug = generate_password_hash("secret partagé")
    assert accounts.check_password(made_by_werkzeug, "secret partagé")
    assert not accounts.needs_rehash(made_by_werkzeug)


def _legacy_hash(password: str, n: int) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return f"scrypt${n}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_an_older_hash_is_rewritten_at_sign_in(app, world, monkeypatch):
    pf = world.pf
    with pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == "claire")).password_hash = \
            _legacy_hash(PASSWORD, 2**4)
        uow.commit()
    monkeypatch.setattr(accounts, "_N", 2**5)  # the current cost, higher than the stored one
    assert _login(_client(app, OFFICE), "claire", "mauvais").status_code == 401
    with pf.read() as db:
        assert db.scalar(select(User.password_hash).where(User.username == "claire")).startswith("scrypt$")
    assert _login(_client(app, OFFICE), "claire", PASSWORD).status_code == 302
    with pf.read() as db:
        upgraded = db.scalar(select(User.password_hash).where(User.username == "claire"))
    assert upgraded.startswith("scrypt:32:8:1$") and accounts.check_password(upgraded, PASSWORD)
    assert _login(_client(app, OFFICE), "claire", PASSWORD).status_code == 302


# ---------------------------------------------------------------- user names


@pytest.mark.parametrize("username", ["=HYPERLINK(\"http://x\")", "+33612345678", "-2+3", "@SUM(A1)"])
def test_user_names_a_spreadsheet_would_run_are_refused(world, as_user, username):
    with world.pf.uow() as uow, pytest.raises(InvalidInput) as error:
        accounts.create_user(uow, username=username, full_name="X", roles=["professional"], actor="ines")
    assert "formule" in error.value.errors["username"][0]
    response = post(as_user("ines"), "/admin/utilisateurs",
                    {"username": username, "full_name": "Personne", "password": "12345678x",
                     "roles": "professional"}, token_from="/admin/utilisateurs")
    assert response.status_code == 422
    assert "ne peut pas commencer par =, +, - ou @" in text_of(response)
    with world.pf.read() as db:
        assert db.scalar(select(User.id).where(User.username == username)) is None
