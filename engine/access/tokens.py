"""Bearer tokens for the API: personal access tokens and OAuth2 client credentials.

A person creates a personal access token on their account page (a name, read or write, an
expiry) and sees it once; only its SHA-256 is stored. An administrator registers another
piece of software as an OAuth2 client acting as a service account (a user whose groups the
access policy reads); the client trades its id and secret at the token endpoint for a
short-lived token of the same table. A token stops the moment it is revoked, it expires, its
client is revoked or its account is deactivated (`authenticate` reads all of them on every
call).

Tokens and secrets are 256 random bits: SHA-256 is enough to keep them unreadable from the
database (no password to guess), and lets each call find its token by one indexed lookup."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from partnerflow.engine import audit
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import Forbidden, InvalidInput, NotFound
from partnerflow.engine.store.models import ApiToken, OAuthClient, User

SCOPES = ("read", "write")
PERSONAL_PREFIX = "pfp_"
CLIENT_PREFIX = "pfc_"
MAX_PERSONAL_DAYS = 366
CLIENT_TOKEN_LIFETIME = timedelta(hours=1)
# last_used_at is written at most this often: reading the API must not write on every call
USE_RESOLUTION = timedelta(minutes=5)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Bearer:
    """Who an API call acts as, and what its token allows."""

    user_id: int
    username: str
    scope: str
    token_id: int

    @property
    def may_write(self) -> bool:
        return self.scope == "write"


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise InvalidInput("unknown scope", {"scope": ["Choisissez « read » (lecture) ou « write » "
                                                       "(lecture et écriture)."]})


def create_personal_token(uow, *, username: str, name: str, scope: str, days: int) -> str:
    """A new token for this user; the token itself is returned once and never kept."""
    session, now = uow.session, uow.clock()
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        raise Forbidden(f"unknown or inactive user '{username}'")
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 120:
        errors["name"] = ["Donnez un nom au jeton (120 caractères au plus)."]
    if scope not in SCOPES:
        errors["scope"] = ["Choisissez « read » (lecture) ou « write » (lecture et écriture)."]
    if not isinstance(days, int) or not 1 <= days <= MAX_PERSONAL_DAYS:
        errors["days"] = ["La durée de validité va de 1 à 366 jours."]
    if errors:
        raise InvalidInput("the token cannot be created", errors)
    token = PERSONAL_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=digest(token), prefix=token[:10], user_id=user.id,
                         kind="personal", name=name, scope=scope, created_at=now,
                         expires_at=now + timedelta(days=days)))
    audit.append(session, type="api_token_created", actor=username, at=now,
                 payload={"name": name, "scope": scope, "days": days})
    uow.commit()
    return token


def personal_tokens(session, username: str) -> list[ApiToken]:
    """This user's personal tokens, newest first (revoked ones included)."""
    return list(session.scalars(select(ApiToken).join(User, User.id == ApiToken.user_id).where(
        User.username == username, ApiToken.kind == "personal").order_by(ApiToken.id.desc())))


def revoke_personal_token(uow, *, username: str, token_id: int) -> None:
    session, now = uow.session, uow.clock()
    row = session.get(ApiToken, token_id)
    owner = session.get(User, row.user_id) if row is not None else None
    if row is None or owner is None or owner.username != username or row.kind != "personal":
        raise NotFound(f"token {token_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = now
        audit.append(session, type="api_token_revoked", actor=username, at=now,
                     payload={"name": row.name})
    uow.commit()


def register_client(uow, *, name: str, service_account: str, scope: str,
                    actor: str) -> tuple[str, str]:
    """An administrator registers a client; returns its id and secret (the secret once)."""
    session, now = uow.session, uow.clock()
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 120:
        errors["name"] = ["Donnez un nom au client (120 caractères au plus)."]
    account = session.scalar(select(User).where(User.username == (service_account or "").strip(),
                                                User.active.is_(True)))
    if account is None:
        errors["service_account"] = ["Choisissez un compte actif : le client agit avec ses groupes."]
    if scope not in SCOPES:
        errors["scope"] = ["Choisissez « read » (lecture) ou « write » (lecture et écriture)."]
    if errors:
        raise InvalidInput("the client cannot be registered", errors)
    client_id = "pf-" + secrets.token_hex(8)
    secret = CLIENT_PREFIX + secrets.token_urlsafe(32)
    session.add(OAuthClient(client_id=client_id, name=name, secret_hash=digest(secret),
                            user_id=account.id, scope=scope, created_by=actor, created_at=now))
    audit.append(session, type="oauth_client_registered", actor=actor, at=now,
                 payload={"name": name, "client_id": client_id, "service_account": account.username,
                          "scope": scope})
    uow.commit()
    return client_id, secret


def clients(session) -> list[tuple[OAuthClient, str]]:
    """Every registered client with its service account's name."""
    return list(session.execute(select(OAuthClient, User.username).join(
        User, User.id == OAuthClient.user_id).order_by(OAuthClient.id)).all())


def revoke_client(uow, *, client_id: int, actor: str) -> None:
    session, now = uow.session, uow.clock()
    client = session.get(OAuthClient, client_id)
    if client is None:
        raise NotFound(f"client {client_id} does not exist")
    if client.revoked_at is None:
        client.revoked_at = now
        audit.append(session, type="oauth_client_revoked", actor=actor, at=now,
                     payload={"client_id": client.client_id})
    uow.commit()


class InvalidClient(Forbidden):
    """A client id and secret that do not match a registered, active client."""


def issue_client_token(uow, *, client_id: str, secret: str, scope: str | None = None) -> tuple[str, str, int]:
    """The token endpoint: (access token, scope, lifetime in seconds) for a valid client."""
    session, now = uow.session, uow.clock()
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == (client_id or "")))
    valid = client is not None and client.revoked_at is None and hmac.compare_digest(
        client.secret_hash, digest(secret or ""))
    account = session.get(User, client.user_id) if valid else None
    if not valid or account is None or not account.active:
        raise InvalidClient("unknown client or wrong secret")
    granted = scope or client.scope
    if granted not in SCOPES or (granted == "write" and client.scope != "write"):
        raise InvalidInput("invalid scope", {"scope": [
            f"Ce client peut demander au plus la portée « {client.scope} »."]})
    token = CLIENT_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=digest(token), prefix=token[:10], user_id=account.id,
                         client_id=client.id, kind="client", name=client.name, scope=granted,
                         created_at=now, expires_at=now + CLIENT_TOKEN_LIFETIME))
    uow.commit()
    return token, granted, int(CLIENT_TOKEN_LIFETIME.total_seconds())


def authenticate(uow, token: str) -> Bearer | None:
    """The bearer of a token that still works, else None."""
    if not token or len(token) > 200:
        return None
    session, now = uow.session, uow.clock()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= as_utc(now):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if row.client_id is not None:
        client = session.get(OAuthClient, row.client_id)
        if client is None or client.revoked_at is not None:
            return None
    if row.last_used_at is None or as_utc(row.last_used_at) + USE_RESOLUTION <= as_utc(now):
        row.last_used_at = now
        uow.commit()
    return Bearer(user.id, user.username, row.scope, row.id)


def is_expired(row: ApiToken, now: datetime) -> bool:
    return as_utc(row.expires_at) <= as_utc(now)
