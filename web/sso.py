"""Single sign-on through an OpenID Connect provider (Authlib), beside local accounts.

The protocol is Authlib's: discovery from the issuer, the authorization code flow with PKCE
(S256), `state` and `nonce` kept in the signed session and checked on return, and the ID
token's signature (the provider's JWKS), issuer, audience and expiry verified before any claim
is read. Who the verified claims make the person is the engine's rule (engine/access/sso.py).

Signing a convention asks for proof that the signatory is at the keyboard: a user without a
local password gets it by signing in again at the provider (`prompt=login`), and the task
page then accepts the signature for a few minutes."""

from __future__ import annotations

import logging
import time

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from joserfc.errors import JoseError

from partnerflow.engine.access import accounts, sso

from .current import engine, safe_next

log = logging.getLogger(__name__)
bp = Blueprint("sso", __name__)
PROVIDER = "oidc"
# what the session remembers of a sign-in through the provider
VIA, ID_TOKEN, REAUTH_AT, PENDING = "sso_via", "sso_id_token", "sso_reauth_at", "sso_pending"


def enabled() -> bool:
    return bool(engine().settings.oidc_issuer)


def install(app) -> None:
    """Register the provider when an issuer is configured (discovery happens on first use)."""
    settings = app.extensions["partnerflow"].settings
    app.register_blueprint(bp)
    app.jinja_env.globals["local_passwords"] = settings.local_passwords
    if not settings.oidc_issuer:
        return
    oauth = OAuth(app)
    oauth.register(
        PROVIDER, client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256",
                       "timeout": 10})
    app.extensions["partnerflow_oidc"] = oauth


def _client():
    oauth = current_app.extensions.get("partnerflow_oidc")
    if oauth is None:
        abort(404)
    return oauth.create_client(PROVIDER)


def policy() -> sso.SsoPolicy:
    settings = engine().settings
    return sso.SsoPolicy(issuer=settings.oidc_issuer, groups_claim=settings.oidc_groups_claim,
                         group_map=settings.oidc_group_map, trust_email=settings.oidc_trust_email)


def _unavailable(exc: Exception):
    log.warning("identity provider unreachable", extra={"error": str(exc)})
    return render_template("login_sso_error.html", message=_(
        "Le fournisseur d'identité ne répond pas : réessayez dans un moment, ou connectez-vous "
        "avec votre mot de passe si votre organisation le permet.")), 502


@bp.get("/connexion/sso")
def start():
    """Go to the provider; `?reauth=1` (signed in) asks it to authenticate the person again."""
    client = _client()
    reauth = request.args.get("reauth") == "1" and current_user.is_authenticated
    session[PENDING] = {"next": safe_next(request.args.get("next"), url_for("inbox.index")),
                        "reauth": reauth, "at": int(time.time())}
    extra = {"prompt": "login", "max_age": 0} if reauth else {}
    try:
        return client.authorize_redirect(url_for("sso.callback", _external=True), **extra)
    except (OAuthError, OSError, ValueError) as exc:
        return _unavailable(exc)


@bp.get("/connexion/sso/retour")
def callback():
    client = _client()
    pending = session.pop(PENDING, None) or {}
    if "error" in request.args:
        return render_template("login_sso_error.html", message=_(
            "Le fournisseur d'identité a refusé la connexion (%(error)s).",
            error=request.args.get("error", "")[:80])), 401
    try:
        token = client.authorize_access_token()
    except (OAuthError, JoseError) as exc:  # state, nonce, signature, issuer, audience, expiry
        log.warning("identity provider answer refused", extra={"error": str(exc)})
        return render_template("login_sso_error.html", message=_(
            "La réponse du fournisseur d'identité n'a pas pu être vérifiée : reprenez la "
            "connexion depuis le début.")), 401
    except (OSError, ValueError) as exc:
        return _unavailable(exc)
    claims = dict(token.get("userinfo") or {})
    if not claims.get("email"):
        try:
            claims = _with_userinfo(client, token, claims)
        except (OAuthError, JoseError, ValueError) as exc:
            log.warning("userinfo refused", extra={"error": str(exc)})
            return render_template("login_sso_error.html", message=_(
                "La réponse du fournisseur d'identité n'a pas pu être vérifiée : reprenez la "
                "connexion depuis le début.")), 401
        except OSError as exc:
            return _unavailable(exc)
    if pending.get("reauth"):
        return _reauthenticated(claims, pending)
    try:
        with engine().uow() as uow:
            user = sso.sign_in(uow, policy=policy(), claims=claims, remote_addr=request.remote_addr)
            user_id, epoch, name = user.id, user.session_epoch, user.full_name
    except sso.SsoRefused as exc:
        return render_template("login_sso_error.html",
                               message=_(exc.message, **exc.values)), 403
    from .auth import EPOCH, _fresh_session, _web_user

    _fresh_session()
    session.permanent = True
    session[EPOCH], session[VIA] = epoch, claims.get("sub")
    session[ID_TOKEN] = token.get("id_token")
    login_user(_web_user(str(user_id), epoch))
    flash(_("Bienvenue, %(name)s.", name=name), "success")
    return redirect(pending.get("next") or url_for("inbox.index"))


def _with_userinfo(client, token, claims: dict) -> dict:
    """The ID token's claims completed by the userinfo endpoint's, for providers whose ID
    token says little (ProConnect answers userinfo as a JWT signed with its keys, verified
    here like the ID token). The ID token's claims win; another subject is refused."""
    metadata = client.load_server_metadata()
    if not metadata.get("userinfo_endpoint"):
        return claims
    response = client.get(metadata["userinfo_endpoint"], token=token)
    response.raise_for_status()
    if response.headers.get("Content-Type", "").split(";")[0].strip() == "application/jwt":
        from joserfc import jwt
        from joserfc.jwk import KeySet

        decoded = jwt.decode(response.text.strip(), KeySet.import_key_set(client.fetch_jwk_set()),
                             algorithms=metadata.get("id_token_signing_alg_values_supported"))
        extra = dict(decoded.claims)
    else:
        extra = response.json()
    if not isinstance(extra, dict) or extra.get("sub") != claims.get("sub"):
        raise ValueError("the userinfo answer is about another subject")
    return {**extra, **claims}


def _reauthenticated(claims: dict, pending: dict):
    """The provider authenticated the signed-in person again: the same subject, just now."""
    target = pending.get("next") or url_for("inbox.index")
    # asked with max_age=0, the provider must say when it authenticated the person (OpenID
    # Connect Core 3.1.2.1): an answer without auth_time, or an older one, is no proof
    auth_time = claims.get("auth_time")
    fresh = isinstance(auth_time, int | float) and auth_time >= pending.get("at", 0) - 5
    if not current_user.is_authenticated or claims.get("sub") != session.get(VIA) or not fresh:
        flash(_("L'identité confirmée n'est pas celle de la personne connectée : la "
                "signature reste à faire."), "error")
        return redirect(target)
    session[REAUTH_AT] = engine().clock().timestamp()  # the clock the engine checks it by
    flash(_("Identité confirmée : signez dans les %(minutes)s minutes.",
            minutes=accounts.REAUTH_WINDOW_MINUTES), "success")
    return redirect(target)


def end_session_url() -> str | None:
    """Where to send the browser after signing out locally, to sign out at the provider too."""
    id_token = session.get(ID_TOKEN)
    if not id_token or not enabled():
        return None
    try:
        metadata = _client().load_server_metadata()
    except (OAuthError, OSError, ValueError):
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    from urllib.parse import urlencode

    return endpoint + ("&" if "?" in endpoint else "?") + urlencode({
        "id_token_hint": id_token, "client_id": engine().settings.oidc_client_id,
        "post_logout_redirect_uri": url_for("auth.login", _external=True)})


def signing_proof(back_to: str) -> dict | None:
    """For a signature in a session that came from the provider: whether the person
    authenticated there again recently enough to sign, and where to do it."""
    if not session.get(VIA) or not enabled():
        return None
    at = session.get(REAUTH_AT)
    left = (accounts.REAUTH_WINDOW_MINUTES * 60 - (engine().clock().timestamp() - at)
            if isinstance(at, int | float) else -1)
    return {"label": engine().settings.oidc_label, "fresh": left > 0,
            "minutes_left": max(1, int(left // 60) + 1) if left > 0 else 0,
            "url": url_for("sso.start", reauth="1", next=back_to)}


def sign_out_everywhere():
    """Sign out here, then at the provider when this session came from it."""
    target = end_session_url()
    logout_user()
    return target
