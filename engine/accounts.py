"""Users, roles and organisations; passwords hashed with scrypt from the standard library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import timedelta

from sqlalchemy import func, select

from . import audit
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import LoginAttempt, Organisation, User, UserRole
from .roles import ROLES

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(stored: str | None, password: str) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                               p=int(p), dklen=32)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def ensure_organisation(session, *, name: str, kind: str = "association", is_own: bool = False,
                        siret: str | None = None, finess: str | None = None) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name, kind=kind, is_own=is_own, siret=siret, finess=finess)
        session.add(org)
        session.flush()
    return org


def create_user(uow, *, username: str, full_name: str, roles: list[str], actor: str | None,
                password: str | None = None, email: str | None = None,
                organisation_id: int | None = None) -> int:
    """Create a user with roles; refuses unknown roles and taken user names."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(unknown)}",
                           {"roles": [f"Rôle inconnu : {r}" for r in unknown]})
    session = uow.session
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"the user name '{username}' is taken")
    user = User(username=username, full_name=full_name, email=email,
                password_hash=hash_password(password) if password else None,
                organisation_id=organisation_id, active=True,
                roles=[UserRole(role=r) for r in sorted(set(roles))])
    session.add(user)
    session.flush()
    audit.append(session, type="user_created", actor=actor, at=uow.clock(),
                 payload={"username": username, "roles": sorted(set(roles))})
    uow.commit()
    return user.id


MAX_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)


class LoginThrottled(Forbidden):
    """Too many failed logins for this account or address; wait before trying again."""


def authenticate(uow, *, username: str, password: str, remote_addr: str | None) -> User | None:
    """Check a password, refusing after repeated failures; every attempt is recorded."""
    session, now = uow.session, uow.clock()
    since = now - THROTTLE_WINDOW
    failures = session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.at >= since, LoginAttempt.success.is_(False),
        (LoginAttempt.username == username) | (LoginAttempt.remote_addr == remote_addr)
        if remote_addr else LoginAttempt.username == username)) or 0
    if failures >= MAX_FAILURES:
        raise LoginThrottled("too many failed attempts; try again in 15 minutes")
    user = session.scalar(select(User).where(User.username == username))
    ok = user is not None and user.active and check_password(user.password_hash, password)
    session.add(LoginAttempt(username=username[:80], remote_addr=remote_addr, at=now, success=ok))
    if ok:
        audit.append(session, type="user_logged_in", actor=username, at=now,
                     payload={"remote_addr": remote_addr})
    uow.commit()
    return user if ok else None


def set_roles(uow, *, username: str, roles: list[str], actor: str) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(unknown)}")
    session = uow.session
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user '{username}'")
    user.roles = [UserRole(role=r) for r in sorted(set(roles))]
    audit.append(session, type="user_roles_changed", actor=actor, at=uow.clock(),
                 payload={"username": username, "roles": sorted(set(roles))})
    uow.commit()
