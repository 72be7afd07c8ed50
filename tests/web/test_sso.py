"""Single sign-on against a real OpenID Connect provider served on loopback by the test
(oidc-provider-mock, an Authlib server), wrapped so that it also checks PKCE and can be made
to answer with a tampered token or a foreign nonce."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from partnerflow.engine.store.models import AuditEvent, ExternalIdentity, User
from partnerflow.web import create_app
from tests.conftest import make_user
from tests.web.support import PASSWORD, csrf_token, login

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")


class Provider:
    """The provider's WSGI app behind a checker: every token request must carry the verifier
    of a challenge (S256) the authorization request sent; `tamper` spoils the next answer."""

    def __init__(self):
        self.app = oidc_provider_mock.app(require_nonce=True)
        self.challenges: set[str] = set()
        self.tamper: str | None = None  # "signature" or "nonce"
        self.token_requests: list[dict] = []
        # claims the userinfo endpoint answers as a signed JWT (as ProConnect does), and the
        # key that signs them (None: the provider's own)
        self.userinfo_jwt: dict | None = None
        self.userinfo_key = None

    def __call__(self, environ, start_response):
        path, query = environ["PATH_INFO"], parse_qs(environ.get("QUERY_STRING", ""))
        if path == "/oauth2/authorize" and "code_challenge" in query:
            assert query["code_challenge_method"] == ["S256"]
            self.challenges.add(query["code_challenge"][0])
            if self.tamper == "nonce":
                query["nonce"] = ["not-the-clients-nonce"]
                environ["QUERY_STRING"] = urlencode(query, doseq=True)
        if path == "/userinfo" and self.userinfo_jwt is not None:
            return self._signed_userinfo(start_response)
        if path == "/oauth2/token":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            self.token_requests.append(form)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge not in self.challenges:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "invalid_grant", "error_description": "PKCE"}']
            if self.tamper == "signature":
                return self._tampered(environ, start_response)
        return self.app(environ, start_response)

    def _signed_userinfo(self, start_response):
        from joserfc import jwt
        from joserfc.jwk import RSAKey
        from oidc_provider_mock._storage import storage

        with self.app.test_request_context():
            self.app.preprocess_request()  # binds the provider's storage, as a request does
            own = storage.jwk.as_dict(is_private=True)
        key = self.userinfo_key or RSAKey.import_key(own)
        body = jwt.encode({"alg": "RS256", "kid": own.get("kid")}, self.userinfo_jwt, key).encode()
        start_response("200 OK", [("Content-Type", "application/jwt"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def _tampered(self, environ, start_response):
        captured = {}

        def keep(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        answer = json.loads(b"".join(self.app(environ, keep)))
        header, payload, signature = answer["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = "someone-else"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        answer["id_token"] = ".".join((header, forged, signature))
        body = json.dumps(answer).encode()
        start_response(captured["status"], [("Content-Type", "application/json"),
                                            ("Content-Length", str(len(body)))])
        return [body]

    def set_user(self, sub: str, **claims):
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text


@pytest.fixture
def provider(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback only
    wrapped = Provider()
    server = make_server("localhost", 0, wrapped, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    wrapped.url = f"http://localhost:{server.server_port}"
    yield wrapped
    server.shutdown()


def _app(fixture_pf, provider, **settings):
    fixture_pf.settings = fixture_pf.settings.with_(
        oidc_issuer=provider.url, oidc_client_id="partnerflow", oidc_client_secret="s3cret",
        oidc_label="Keycloak", **settings)
    return create_app(partnerflow=fixture_pf, TESTING=True)


def _sign_in(client, provider, sub: str, *, next: str | None = None):
    """The browser's round trip: Partnerflow → provider (the person chooses `sub`) → back."""
    start = client.get("/connexion/sso" + (f"?next={next}" if next else ""))
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize = start.headers["Location"]
    assert authorize.startswith(provider.url + "/oauth2/authorize?")
    params = parse_qs(urlsplit(authorize).query)
    assert {"state", "nonce", "code_challenge"} <= params.keys()
    chosen = requests.post(authorize, data={"sub": sub}, allow_redirects=False, timeout=5)
    assert chosen.status_code == 302, chosen.text
    back = urlsplit(chosen.headers["Location"])
    assert back.path == "/connexion/sso/retour"
    return client.get(f"{back.path}?{back.query}")


def _events(pf, kind):
    with pf.read() as db:
        return [e.payload for e in db.scalars(select(AuditEvent).where(AuditEvent.type == kind))]


def test_code_flow_with_pkce_creates_the_person_with_the_mapped_groups(fixture_pf, provider):
    app = _app(fixture_pf, provider, oidc_group_map=(("pf-direction", "direction"),
                                                      ("pf-delegates", "delegate")))
    provider.set_user("kc-42", email="Lea.Durand@ehpad.example", email_verified=True,
                      name="Léa Durand", preferred_username="léa.durand",
                      groups=["pf-direction", "unrelated"])
    client = app.test_client()
    landed = _sign_in(client, provider, "kc-42", next="/partenariats/")
    assert landed.status_code == 302 and landed.headers["Location"] == "/partenariats/"
    assert client.get("/").status_code in (200, 302)
    assert "Léa Durand" in client.get("/partenariats/").get_data(as_text=True)
    # the token request carried the verifier of the challenge (the provider checked it)
    assert provider.token_requests[-1]["code_verifier"]
    with fixture_pf.read() as db:
        user = db.scalar(select(User).where(User.email == "lea.durand@ehpad.example"))
        assert user.username == "lea.durand" and user.role_keys == {"direction"}
        identity = db.scalar(select(ExternalIdentity))
        assert (identity.issuer, identity.subject, identity.user_id) == (provider.url, "kc-42", user.id)
    assert _events(fixture_pf, "user_logged_in")[-1]["via"] == "sso"

    # the provider moves the person to the delegates: the next sign-in follows it
    provider.set_user("kc-42", email="lea.durand@ehpad.example", email_verified=True,
                      name="Léa Durand", groups=["pf-delegates"])
    other = app.test_client()
    assert _sign_in(other, provider, "kc-42").status_code == 302
    with fixture_pf.read() as db:
        assert db.scalar(select(User).where(User.username == "lea.durand")).role_keys == {"delegate"}
    assert _events(fixture_pf, "user_roles_changed")[-1]["after"] == ["delegate"]


def test_nobody_gets_in_without_a_mapped_group(fixture_pf, provider):
    app = _app(fixture_pf, provider, oidc_group_map=(("pf-direction", "direction"),))
    provider.set_user("kc-7", email="x@ehpad.example", email_verified=True, groups=["visitors"])
    refused = _sign_in(app.test_client(), provider, "kc-7")
    assert refused.status_code == 403
    assert "aucun rôle dans Partnerflow" in refused.get_data(as_text=True)
    with fixture_pf.read() as db:
        assert db.scalar(select(User).where(User.email == "x@ehpad.example")) is None
    assert _events(fixture_pf, "sso_refused")[-1]["reason"] == "no group"


def test_an_existing_account_is_linked_by_its_verified_address_and_keeps_its_roles(fixture_pf,
                                                                                 provider):
    make_user(fixture_pf, "claire", "direction", password=PASSWORD)
    with fixture_pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == "claire")).email = "claire@ehpad.example"
        uow.commit()
    app = _app(fixture_pf, provider)  # no group mapping: roles stay the administrator's
    provider.set_user("pc-1", email="Claire@EHPAD.example", email_verified=False)
    unverified = _sign_in(app.test_client(), provider, "pc-1")
    assert unverified.status_code == 403
    assert "Aucun compte Partnerflow ne correspond à pc-1" in unverified.get_data(as_text=True)

    provider.set_user("pc-1", email="Claire@EHPAD.example", email_verified=True)
    client = app.test_client()
    assert _sign_in(client, provider, "pc-1").status_code == 302
    with fixture_pf.read() as db:
        claire = db.scalar(select(User).where(User.username == "claire"))
        assert claire.role_keys == {"direction"}
        assert db.scalar(select(ExternalIdentity.user_id)) == claire.id
    assert _events(fixture_pf, "user_identity_linked")[-1]["username"] == "claire"


def test_a_deactivated_account_is_refused_even_by_the_provider(fixture_pf, provider):
    app = _app(fixture_pf, provider, oidc_trust_email=True)
    make_user(fixture_pf, "karim", "delegate")
    with fixture_pf.uow() as uow:
        karim = uow.session.scalar(select(User).where(User.username == "karim"))
        karim.email, karim.active = "karim@ehpad.example", False
        uow.commit()
    provider.set_user("pc-9", email="karim@ehpad.example")
    refused = _sign_in(app.test_client(), provider, "pc-9")
    assert refused.status_code == 403 and "désactivé" in refused.get_data(as_text=True)


@pytest.mark.parametrize("tamper", ["signature", "nonce"])
def test_a_tampered_token_or_a_foreign_nonce_signs_nobody_in(fixture_pf, provider, tamper):
    app = _app(fixture_pf, provider, oidc_group_map=(("pf-direction", "direction"),))
    provider.set_user("kc-1", email="a@ehpad.example", email_verified=True, groups=["pf-direction"])
    provider.tamper = tamper
    client = app.test_client()
    refused = _sign_in(client, provider, "kc-1")
    assert refused.status_code == 401
    assert "pas pu être vérifiée" in refused.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still anonymous
    with fixture_pf.read() as db:
        assert db.scalar(select(User)) is None


def test_a_forged_state_is_refused(fixture_pf, provider):
    app = _app(fixture_pf, provider, oidc_group_map=(("pf-direction", "direction"),))
    provider.set_user("kc-1", groups=["pf-direction"])
    client = app.test_client()
    start = client.get("/connexion/sso")
    chosen = requests.post(start.headers["Location"], data={"sub": "kc-1"},
                           allow_redirects=False, timeout=5)
    back = urlsplit(chosen.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(back.query).items()} | {"state": "forged"}
    refused = client.get(f"{back.path}?{urlencode(query)}")
    assert refused.status_code == 401
    # a callback arriving in another browser (no pending state at all) is refused too
    assert app.test_client().get(f"{back.path}?{back.query}").status_code == 401


def test_signing_out_ends_the_session_here_and_at_the_provider(fixture_pf, provider):
    app = _app(fixture_pf, provider, oidc_group_map=(("pf-direction", "direction"),))
    provider.set_user("kc-5", email="d@ehpad.example", email_verified=True, groups=["pf-direction"])
    client = app.test_client()
    _sign_in(client, provider, "kc-5")
    token = csrf_token(client, "/partenariats/")
    out = client.post("/deconnexion", data={"csrf_token": token})
    assert out.status_code == 302
    target = urlsplit(out.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == provider.url + "/oauth2/end_session"
    query = parse_qs(target.query)
    assert query["id_token_hint"][0].count(".") == 2
    assert query["post_logout_redirect_uri"] == ["http://localhost/connexion"]
    assert client.get("/partenariats/").status_code == 302  # signed out here
    # the content policy lets the sign-out form's redirect reach the provider, nothing else
    assert f"form-action 'self' {provider.url}" in out.headers["Content-Security-Policy"]


def test_local_passwords_can_be_turned_off(fixture_pf, provider):
    make_user(fixture_pf, "claire", "direction", password=PASSWORD)
    app = _app(fixture_pf, provider, local_passwords=False)
    client = app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    assert "Se connecter avec Keycloak" in page and 'name="password"' not in page
    refused = login(client, "claire")
    assert refused.status_code == 403 and "connectez-vous avec Keycloak" in refused.get_data(as_text=True)
    assert client.get("/mot-de-passe-oublie").status_code in (200, 403)
    posted = client.post("/mot-de-passe-oublie", data={"csrf_token": csrf_token(client),
                                                       "login": "claire"})
    assert posted.status_code == 403


def test_without_an_issuer_the_provider_routes_do_not_exist(app):
    client = app.test_client()
    assert client.get("/connexion/sso").status_code == 404
    assert "Se connecter avec" not in client.get("/connexion").get_data(as_text=True)


def test_a_signatory_signed_in_by_the_provider_signs_after_authenticating_there_again(
        signing, provider, monkeypatch):
    import time

    from partnerflow.engine.store.models import LoginAttempt

    pf, sign = signing
    with pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == "claire")).email = "claire@ehpad.example"
        uow.commit()
    app = _app(pf, provider, oidc_trust_email=True)
    provider.set_user("pc-claire", email="claire@ehpad.example")
    client = app.test_client()
    assert _sign_in(client, provider, "pc-claire").status_code == 302
    page = client.get(f"/taches/{sign}").get_data(as_text=True)
    assert "Confirmer mon identité" in page and 'name="password"' not in page
    form = {"action": "complete", "signatory_full_name": "Claire Martin",
            "signatory_quality": "Directrice", "signature_consent": "on",
            "csrf_token": csrf_token(client, f"/taches/{sign}")}
    assert client.post(f"/taches/{sign}", data=form).status_code == 422  # no proof yet

    def again(auth_time):
        provider.set_user("pc-claire", email="claire@ehpad.example", auth_time=auth_time)
        start = client.get(f"/connexion/sso?reauth=1&next=/taches/{sign}")
        query = parse_qs(urlsplit(start.headers["Location"]).query)
        assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
        chosen = requests.post(start.headers["Location"], data={"sub": "pc-claire"},
                               allow_redirects=False, timeout=5)
        back = urlsplit(chosen.headers["Location"])
        return client.get(f"{back.path}?{back.query}", follow_redirects=True).get_data(as_text=True)

    # an answer saying the person authenticated an hour ago proves nothing
    assert "la signature reste à faire" in again(int(time.time()) - 3600)
    assert "Identité confirmée" in again(int(time.time()))
    assert "Confirmer mon identité" not in client.get(f"/taches/{sign}").get_data(as_text=True)
    signed = client.post(f"/taches/{sign}", data=form)
    assert signed.status_code == 302, signed.get_data(as_text=True)
    with pf.read() as db:
        purposes = db.scalars(select(LoginAttempt.purpose).where(LoginAttempt.success)).all()
    assert "signature_sso" in purposes


def test_an_authentication_again_counts_for_a_signature_only_and_for_a_few_minutes(pf, clock):
    from partnerflow.engine.access import accounts
    from partnerflow.engine.errors import FormValidationError

    make_user(pf, "claire", "direction", password=PASSWORD)
    token = accounts.set_reauthentication(clock())
    try:
        with pf.uow() as uow:
            assert accounts.confirm_password(uow, username="claire", password=None).username == "claire"
        with pf.uow() as uow, pytest.raises(FormValidationError):
            accounts.confirm_password(uow, username="claire", password=None, purpose="password_change")
        clock.advance(seconds=accounts.REAUTH_WINDOW_MINUTES * 60 + 1)
        with pf.uow() as uow, pytest.raises(FormValidationError):
            accounts.confirm_password(uow, username="claire", password=None)
    finally:
        accounts.reset_reauthentication(token)


@pytest.mark.parametrize("answer", ["signed", "another subject", "another key"])
def test_a_provider_answering_userinfo_as_a_signed_jwt_completes_the_claims(fixture_pf, provider,
                                                                             answer):
    from joserfc.jwk import RSAKey

    make_user(fixture_pf, "claire", "direction", password=PASSWORD)
    with fixture_pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == "claire")).email = "claire@ehpad.example"
        uow.commit()
    # as with ProConnect: the ID token names the subject only, userinfo is a signed JWT
    app = _app(fixture_pf, provider, oidc_scopes="openid", oidc_trust_email=True)
    provider.set_user("pc-3", given_name="Claire", usual_name="Martin")
    provider.userinfo_jwt = {"sub": "someone-else" if answer == "another subject" else "pc-3",
                             "email": "claire@ehpad.example", "siret": "12345678900011"}
    if answer == "another key":
        provider.userinfo_key = RSAKey.generate_key(2048)
    landed = _sign_in(app.test_client(), provider, "pc-3")
    if answer == "signed":
        assert landed.status_code == 302
        assert _events(fixture_pf, "user_identity_linked")[-1]["username"] == "claire"
    else:
        assert landed.status_code == 401
        with fixture_pf.read() as db:
            assert db.scalar(select(ExternalIdentity)) is None
