"""Users, their groups and organisations; passwords, sign-in throttling and sessions.

Groups are rows (app_group): the method's nine roles, seeded by the migration, and the
groups the administrator creates (a key, a French and an English label); membership is
group_member. A user's `role_keys` are the keys of their groups.

Passwords are hashed with scrypt from the standard library in werkzeug's format
(`scrypt:32768:8:1$salt$hex`, werkzeug's own default), so `werkzeug.security` reads them
too; hashes of the earlier format (`scrypt$16384$...`) still verify and are rewritten with
the current parameters at the next successful sign-in.

Sign-in throttling lives in the database (table login_attempt), so every web process of
a deployment sees the same counts:

- per (user name, address): five failures are free, then each further try must wait
  1, 2, 4 ... minutes (at most an hour) after the last failure; a success clears it. Failures
  on other names, or on the same name from another address, do not count: a colleague
  mistyping, or someone guessing from outside, does not lock the director out of the
  office.
- per address, for names no account has: a higher limit (30 in 15 minutes), then the same
  growing waits for every name that has not signed in from that address lately.
- a name no account has costs the same scrypt hash as a known one (no timing oracle).
- a wrong password typed again to sign (`confirm_password`) counts as a failed sign-in.

Sessions carry the user's `session_epoch`; signing out or changing the password moves it
on, which ends every session issued before, wherever its cookie was copied to."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import string
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from partnerflow.engine import access, audit
from partnerflow.engine.access.groups import METHOD_GROUPS, fold
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import (
    Conflict,
    Forbidden,
    FormValidationError,
    InvalidInput,
    NotFound,
)
from partnerflow.engine.store.models import (
    AuditEvent,
    Group,
    GroupMember,
    HumanTask,
    LoginAttempt,
    Organisation,
    User,
)

# scrypt cost: werkzeug's default. Tests lower _N to stay fast (tests/web/support.py).
_N, _R, _P = 2**15, 8, 1
_SALT_CHARS = string.ascii_letters + string.digits
_SALT_LENGTH = 16


# ---------------------------------------------------------------- passwords


def _kdf(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    """The one place a password is stretched (every check, known name or not, comes here)."""
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=max(132 * n * r * p, 32 * 1024 * 1024))


def hash_password(password: str) -> str:
    """A hash in werkzeug's scrypt format with the current cost."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(_SALT_LENGTH))
    digest = _kdf(password, salt.encode(), _N, _R, _P, 64).hex()
    return f"scrypt:{_N}:{_R}:{_P}${salt}${digest}"


def _parse(stored: str | None):
    """(n, r, p, salt bytes, digest bytes, current format?) or None when unreadable."""
    if not stored:
        return None
    try:
        if stored.startswith("scrypt:"):
            method, salt, digest = stored.split("$", 2)
            _, n, r, p = method.split(":")
            return int(n), int(r), int(p), salt.encode(), bytes.fromhex(digest), True
        if stored.startswith("scrypt$"):
            _, n, r, p, salt, digest = stored.split("$")
            return (int(n), int(r), int(p), base64.b64decode(salt), base64.b64decode(digest),
                    False)
    except (ValueError, binascii.Error):
        return None
    return None


def check_password(stored: str | None, password: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest, _current = parsed
    return hmac.compare_digest(_kdf(password, salt, n, r, p, len(digest)), digest)


def needs_rehash(stored: str | None) -> bool:
    """An older format, or a lower cost than the current one."""
    parsed = _parse(stored)
    return parsed is None or not parsed[5] or (parsed[0], parsed[1], parsed[2]) != (_N, _R, _P)


_DUMMY: dict[tuple[int, int, int], str] = {}


def _dummy_hash() -> str:
    key = (_N, _R, _P)
    if key not in _DUMMY:
        _DUMMY[key] = hash_password(secrets.token_urlsafe(16))
    return _DUMMY[key]


def _verify(user: User | None, password: str) -> bool:
    """Check a password for a user who may not exist, at the same cost either way."""
    usable = user is not None and user.active and user.password_hash
    ok = check_password(user.password_hash if usable else _dummy_hash(), password or "")
    return bool(usable) and ok


# ---------------------------------------------------------------- users


FORMULA_PREFIXES = ("=", "+", "-", "@")


def _check_username(username: str) -> None:
    if not username:
        raise InvalidInput("a user name is required", {"username": ["L'identifiant est obligatoire."]})
    if username.startswith(FORMULA_PREFIXES):
        raise InvalidInput(
            f"a user name cannot start with {', '.join(FORMULA_PREFIXES)}",
            {"username": ["L'identifiant ne peut pas commencer par =, +, - ou @ (un tableur le "
                          "lirait comme une formule)."]})
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in username):
        raise InvalidInput("a user name cannot hold control characters",
                           {"username": ["L'identifiant ne peut pas contenir de caractère de "
                                         "contrôle (tabulation, retour à la ligne)."]})


def ensure_organisation(session, *, name: str, kind: str = "association", is_own: bool = False,
                        siret: str | None = None, finess: str | None = None) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name, kind=kind, is_own=is_own, siret=siret, finess=finess)
        session.add(org)
        session.flush()
    return org


def groups_by_key(session, keys: list[str], field: str = "roles") -> list[Group]:
    """The groups of these keys; refuses a key no group has, naming it."""
    wanted = sorted(set(keys))
    found = {g.key: g for g in session.scalars(select(Group).where(Group.key.in_(wanted)))}
    unknown = [k for k in wanted if k not in found]
    if unknown:
        raise InvalidInput(f"unknown group(s): {', '.join(unknown)}",
                           {field: [f"Groupe inconnu : {k}" for k in unknown]})
    return [found[k] for k in wanted]


def create_user(uow, *, username: str, full_name: str, roles: list[str], actor: str | None,
                password: str | None = None, email: str | None = None,
                organisation_id: int | None = None) -> int:
    """Create a user, member of the groups `roles` (keys); refuses unknown groups, taken
    user names and names a spreadsheet would read as a formula."""
    _check_username(username)
    session = uow.session
    groups = groups_by_key(session, roles)
    if organisation_id is not None and session.get(Organisation, organisation_id) is None:
        raise InvalidInput(f"no organisation {organisation_id}",
                           {"organisation_id": ["Organisation inconnue : choisissez-en une de la liste."]})
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"the user name '{username}' is taken")
    user = User(username=username, full_name=full_name, email=email,
                password_hash=hash_password(password) if password else None,
                organisation_id=organisation_id, active=True, groups=groups)
    session.add(user)
    session.flush()
    audit.append(session, type="user_created", actor=actor, at=uow.clock(),
                 payload={"username": username, "roles": [g.key for g in groups]})
    uow.commit()
    return user.id


def _user(session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user '{username}'")
    return user


def set_roles(uow, *, username: str, roles: list[str], actor: str) -> None:
    """Make the user a member of exactly these groups."""
    session = uow.session
    groups = groups_by_key(session, roles)
    user = _user(session, username)
    user.groups = groups
    audit.append(session, type="user_roles_changed", actor=actor, at=uow.clock(),
                 payload={"username": username, "roles": [g.key for g in groups]})
    uow.commit()


# ---------------------------------------------------------------- groups


GROUP_KEY_CHARS = set(string.ascii_lowercase + string.digits + "_-")


def ensure_method_groups(session) -> None:
    """The method's nine groups exist (the migration seeds them; an emptied database gets
    them back)."""
    present = set(session.scalars(select(Group.key)))
    for key, (fr, en) in METHOD_GROUPS.items():
        if key not in present:
            session.add(Group(key=key, label_fr=fr, label_en=en))
    session.flush()


def groups(session) -> list[Group]:
    return list(session.scalars(select(Group).order_by(Group.label_fr)))


def group_members(session) -> dict[str, list[User]]:
    """Group key -> its members, by name."""
    members: dict[str, list[User]] = {}
    for key, user in session.execute(select(GroupMember.group_key, User).join(
            User, User.id == GroupMember.user_id).order_by(User.full_name)):
        members.setdefault(key, []).append(user)
    return members


def create_group(uow, *, key: str, label_fr: str, label_en: str, actor: str) -> str:
    """A new group; its key is what diagrams write in candidateGroups, its labels what lanes
    may be named. Refuses a key or label another group already reads as."""
    key, label_fr, label_en = (key or "").strip().lower(), (label_fr or "").strip(), (label_en or "").strip()
    errors: dict[str, list[str]] = {}
    if not key:
        errors["key"] = ["La clé est obligatoire."]
    elif len(key) > 40 or not set(key) <= GROUP_KEY_CHARS or not key[0].isalpha():
        errors["key"] = ["La clé commence par une lettre et ne contient que des lettres minuscules "
                         "sans accent, des chiffres, - ou _ (40 caractères au plus)."]
    if not label_fr:
        errors["label_fr"] = ["Le libellé français est obligatoire."]
    if not label_en:
        errors["label_en"] = ["Le libellé anglais est obligatoire."]
    for name, value in (("label_fr", label_fr), ("label_en", label_en)):
        if len(value) > 200:
            errors[name] = ["Au plus 200 caractères."]
    if errors:
        raise InvalidInput("the group is not acceptable", errors)
    session = uow.session
    taken = {}
    for other in session.scalars(select(Group)):
        for name in (other.key, other.label_fr, other.label_en):
            taken[fold(name)] = other
    for name, value in (("key", key), ("label_fr", label_fr), ("label_en", label_en)):
        other = taken.get(fold(value))
        if other is not None:
            raise InvalidInput(f"'{value}' already names the group {other.key}",
                               {name: [f"« {value} » désigne déjà le groupe {other.label_fr}."]})
    session.add(Group(key=key, label_fr=label_fr, label_en=label_en))
    audit.append(session, type="group_created", actor=actor, at=uow.clock(),
                 payload={"key": key, "label_fr": label_fr, "label_en": label_en})
    uow.commit()
    return key


def _group(session, key: str) -> Group:
    group = session.get(Group, key)
    if group is None:
        raise NotFound(f"no group '{key}'")
    return group


def add_member(uow, *, group_key: str, username: str, actor: str) -> None:
    session = uow.session
    group, user = _group(session, group_key), _user(session, username)
    if session.get(GroupMember, (group.key, user.id)) is None:
        session.add(GroupMember(group_key=group.key, user_id=user.id))
        audit.append(session, type="group_member_added", actor=actor, at=uow.clock(),
                     payload={"group": group.key, "username": username})
    uow.commit()


def remove_member(uow, *, group_key: str, username: str, actor: str) -> None:
    session = uow.session
    group, user = _group(session, group_key), _user(session, username)
    member = session.get(GroupMember, (group.key, user.id))
    if member is not None:
        session.delete(member)
        audit.append(session, type="group_member_removed", actor=actor, at=uow.clock(),
                     payload={"group": group.key, "username": username})
    uow.commit()


# ---------------------------------------------------------------- throttling


FREE_FAILURES = 5  # per (user name, address) before any wait
FIRST_WAIT = timedelta(minutes=1)
MAX_WAIT = timedelta(hours=1)
PAIR_WINDOW = timedelta(hours=24)  # failures older than this are forgotten
UNKNOWN_NAME_LIMIT = 30  # per address, failures on names no account has
UNKNOWN_NAME_WINDOW = timedelta(minutes=15)
KNOWN_FROM_ADDRESS = timedelta(days=30)  # a name signed in from an address this lately

# the address of the request being served, for checks that happen deep inside a use case
# (the password typed again to sign); the web layer sets it for each request
_client_address: ContextVar[str | None] = ContextVar("partnerflow_client_address", default=None)


# A person signed in through the identity provider, without a local password, proves they are
# at the keyboard by authenticating there again; the web layer says when (engine clock time).
REAUTH_WINDOW_MINUTES = 5
_reauthenticated_at: ContextVar[datetime | None] = ContextVar("reauthenticated_at", default=None)


def set_reauthentication(at: datetime | None):
    return _reauthenticated_at.set(at)


def reset_reauthentication(token) -> None:
    _reauthenticated_at.reset(token)


def _recently_reauthenticated(now: datetime) -> bool:
    at = _reauthenticated_at.get()
    return at is not None and timedelta(0) <= as_utc(now) - as_utc(at) <= timedelta(
        minutes=REAUTH_WINDOW_MINUTES)


def set_client_address(address: str | None):
    """Remember the current request's address; returns a token for `reset_client_address`."""
    return _client_address.set(address)


def reset_client_address(token) -> None:
    _client_address.reset(token)


class LoginThrottled(Forbidden):
    """Too many failed sign-ins for this name from this address; wait before trying again."""

    def __init__(self, retry_after: timedelta):
        self.retry_after = retry_after
        super().__init__(f"too many failed attempts; try again in {self.minutes} minute(s)")

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after.total_seconds() / 60))


def _growing_wait(failures: int, free: int) -> timedelta:
    return min(FIRST_WAIT * 2 ** min(failures - free, 20), MAX_WAIT)


def _same_address(address: str | None):
    return LoginAttempt.remote_addr == address if address is not None else LoginAttempt.remote_addr.is_(None)


def _wait(session, username: str, address: str | None, now: datetime) -> timedelta | None:
    """How long this name from this address must still wait, or None."""
    pair = (LoginAttempt.username == username[:80], _same_address(address))
    recent = (*pair, LoginAttempt.at >= now - PAIR_WINDOW)
    # attempts after the last success (ids grow with time; two may share a timestamp)
    last_success = session.scalar(select(func.max(LoginAttempt.id)).where(
        *recent, LoginAttempt.success.is_(True))) or 0
    failures, last = session.execute(select(func.count(), func.max(LoginAttempt.at)).where(
        *recent, LoginAttempt.success.is_(False), LoginAttempt.id > last_success)).one()
    waits = []
    if failures >= FREE_FAILURES:
        waits.append(as_utc(last) + _growing_wait(failures, FREE_FAILURES) - now)
    if address is not None:
        unknown, last_unknown = session.execute(select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.remote_addr == address, LoginAttempt.unknown_name.is_(True),
            LoginAttempt.success.is_(False), LoginAttempt.at >= now - UNKNOWN_NAME_WINDOW)).one()
        if unknown >= UNKNOWN_NAME_LIMIT and not session.scalar(select(LoginAttempt.id).where(
                *pair, LoginAttempt.success.is_(True),
                LoginAttempt.at >= now - KNOWN_FROM_ADDRESS).limit(1)):
            waits.append(as_utc(last_unknown) + _growing_wait(unknown, UNKNOWN_NAME_LIMIT) - now)
    wait = max(waits, default=None)
    return wait if wait is not None and wait > timedelta(0) else None


def record_attempt(session, *, username: str, address: str | None, at: datetime, success: bool,
            user: User | None, purpose: str) -> None:
    session.add(LoginAttempt(username=username[:80], remote_addr=address, at=at, success=success,
                             unknown_name=user is None, purpose=purpose))


class LocalPasswordsOff(Forbidden):
    """The deployment signs people in through its identity provider only."""


def authenticate(uow, *, username: str, password: str, remote_addr: str | None) -> User | None:
    """Check a password, refusing for a while after repeated failures of this name from this
    address (LoginThrottled); every checked attempt is recorded. Refused altogether when the
    deployment turned local passwords off (single sign-on only)."""
    if not uow.settings.local_passwords:
        raise LocalPasswordsOff("local passwords are turned off")
    session, now = uow.session, uow.clock()
    wait = _wait(session, username, remote_addr, now)
    if wait is not None:
        raise LoginThrottled(wait)
    user = session.scalar(select(User).where(User.username == username))
    ok = _verify(user, password)
    record_attempt(session, username=username, address=remote_addr, at=now, success=ok, user=user,
            purpose="sign_in")
    if ok:
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        audit.append(session, type="user_logged_in", actor=username, at=now,
                     payload={"remote_addr": remote_addr})
    uow.commit()
    return user if ok else None


def _refuse_wrong_password(uow, *, username: str, address: str | None, user: User | None,
                           purpose: str, field: str, message: str) -> None:
    """Record the failure in its own transaction (what the refused use case did so far is
    rolled back first, so nothing of it is kept), then refuse."""
    now = uow.clock()
    uow.rollback()
    record_attempt(uow.session, username=username, address=address, at=now, success=False,
            user=user, purpose=purpose)
    uow.commit()
    raise FormValidationError("the password does not match", {field: [message]})


def confirm_password(uow, *, username: str, password: str | None, purpose: str = "signature",
                     field: str = "password",
                     message: str = "Mot de passe incorrect : la signature n'est pas enregistrée.",
                     ) -> User:
    """The signed-in user types their password again (to sign, to change it). A wrong one
    counts as a failed sign-in of this name from the request's address, and too many of
    them refuse even the right one for a while, like the sign-in page does.

    On a wrong password the unit of work is rolled back and the failure committed alone."""
    session, now = uow.session, uow.clock()
    address = _client_address.get()
    wait = _wait(session, username, address, now)
    if wait is not None:
        minutes = LoginThrottled(wait).minutes
        raise FormValidationError("too many wrong passwords", {field: [
            f"Trop de mots de passe erronés. Réessayez dans {minutes} minute(s)."]})
    user = session.scalar(select(User).where(User.username == username))
    if purpose == "signature" and not password and _recently_reauthenticated(now):
        record_attempt(session, username=username, address=address, at=now, success=True,
                       user=user, purpose=f"{purpose}_sso"[:20])
        return user
    if not uow.settings.local_passwords or not _verify(user, password or ""):
        _refuse_wrong_password(uow, username=username, address=address, user=user,
                               purpose=purpose, field=field, message=message)
    record_attempt(session, username=username, address=address, at=now, success=True, user=user,
            purpose=purpose)
    return user


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class PasswordChange:
    session_epoch: int


MIN_PASSWORD, MAX_PASSWORD = 8, 200


def end_sessions(uow, *, user_id: int, reason: str = "logout") -> None:
    """Every session issued to this user so far stops signing them in."""
    session = uow.session
    user = session.get(User, user_id)
    if user is None:
        return
    user.session_epoch = (user.session_epoch or 0) + 1
    audit.append(session, type="user_logged_out", actor=user.username, at=uow.clock(),
                 payload={"reason": reason})
    uow.commit()


def change_password(uow, *, username: str, current: str | None, new: str | None) -> PasswordChange:
    """Check the current password (a wrong one counts as a failed sign-in), set the new one
    and end every other session; returns the epoch the caller's own session now carries."""
    if not uow.settings.local_passwords:
        raise LocalPasswordsOff("local passwords are turned off")
    errors: dict[str, list[str]] = {}
    new = new or ""
    if len(new) < MIN_PASSWORD:
        errors["new_password"] = ["Au moins 8 caractères."]
    elif len(new) > MAX_PASSWORD:
        errors["new_password"] = ["Au plus 200 caractères."]
    elif new == current:
        errors["new_password"] = ["Le nouveau mot de passe doit être différent de l'actuel."]
    if errors:
        raise FormValidationError("the new password is not acceptable", errors)
    user = confirm_password(uow, username=username, password=current, purpose="password_change",
                            field="current_password", message="Mot de passe actuel incorrect.")
    user.password_hash = hash_password(new)
    user.session_epoch = (user.session_epoch or 0) + 1
    audit.append(uow.session, type="user_password_changed", actor=username, at=uow.clock(),
                 payload={})
    uow.commit()
    return PasswordChange(user.session_epoch)


# ---------------------------------------------------------------- deactivation


def set_active(uow, *, username: str, active: bool, actor: str) -> list[int]:
    """Deactivate an account (its sessions stop at once: the epoch moves on and an inactive
    user signs in nowhere) or reactivate it; administrators only, never one's own. Returns
    the open tasks assigned to or claimed by the user, which the direction reassigns or
    releases."""
    session = uow.session
    admin = session.scalar(select(User).where(User.username == actor))
    if admin is None or not access.may(access.actor_of(session, admin), "administer"):
        raise Forbidden(f"{actor} may not activate or deactivate accounts")
    user = _user(session, username)
    if username == actor and not active:
        raise Conflict("an administrator cannot deactivate their own account")
    if user.active != active:
        user.active = active
        if not active:
            user.session_epoch = (user.session_epoch or 0) + 1
        audit.append(session, type="user_activated" if active else "user_deactivated",
                     actor=actor, at=uow.clock(), payload={"user": username})
    uow.commit()
    return list(session.scalars(select(HumanTask.id).where(
        or_(HumanTask.assignee == username, HumanTask.claimed_by == username),
        HumanTask.state == "open").order_by(HumanTask.id)))


# ---------------------------------------------------------------- a forgotten password

RESET_VALID_S = 3600  # a reset link works for an hour, once
RESETS_PER_HOUR = 3


def _reset_serializer(secret: str):
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(secret, salt="partnerflow-password-reset")


def _fingerprint(user: User) -> str:
    """Changes whenever the password or the sessions change: a used link stops working."""
    text = f"{user.id}:{user.password_hash}:{user.session_epoch}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def request_password_reset(uow, *, login: str, secret: str, mailer, link_for) -> bool:
    """E-mail a signed, single-use link that expires to the active account whose user name
    or e-mail address is `login`. The answer does not say whether such an account exists
    (returns whether a mail went, for the tests and the log only); at most three requests
    per account and hour."""
    if not uow.settings.local_passwords:
        raise LocalPasswordsOff("local passwords are turned off")
    if mailer is None:
        raise Conflict("e-mail delivery is not configured: ask an administrator to set a new "
                       "password")
    session, now = uow.session, uow.clock()
    login = (login or "").strip()[:200]
    if not login:
        raise FormValidationError("a user name or an e-mail address is needed",
                                  {"login": ["Indiquez votre identifiant ou votre adresse."]})
    user = session.scalar(select(User).where(or_(
        User.username == login, func.lower(User.email) == login.lower())).order_by(User.id).limit(1))
    if user is None or not user.active or not user.email:
        return False
    recent = session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.type == "password_reset_requested", AuditEvent.actor == user.username,
        AuditEvent.occurred_at >= now - timedelta(hours=1)))
    if recent >= RESETS_PER_HOUR:
        return False
    token = _reset_serializer(secret).dumps({"u": user.id, "f": _fingerprint(user)})
    audit.append(session, type="password_reset_requested", actor=user.username, at=now, payload={})
    uow.commit()
    mailer.send(user.email, "Partnerflow : choisir un nouveau mot de passe",
                f"Bonjour {user.full_name},\n\nPour choisir un nouveau mot de passe, ouvrez ce lien "
                f"dans l'heure ; il ne sert qu'une fois :\n\n{link_for(token)}\n\n"
                "Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.\n")
    return True


def user_for_reset(session, *, token: str, secret: str) -> User:
    """The account a reset link is for, or InvalidInput when it is forged, used or expired."""
    from itsdangerous import BadSignature, SignatureExpired

    invalid = InvalidInput("this reset link is not valid", {
        "token": ["Ce lien n'est plus valable (il a déjà servi, ou plus d'une heure a passé) : "
                  "demandez-en un nouveau."]})
    try:
        data = _reset_serializer(secret).loads(token or "", max_age=RESET_VALID_S)
    except SignatureExpired:
        raise invalid from None
    except BadSignature:
        raise invalid from None
    user = session.get(User, data.get("u")) if isinstance(data, dict) else None
    if user is None or not user.active or data.get("f") != _fingerprint(user):
        raise invalid
    return user


def reset_password(uow, *, token: str, new: str | None, secret: str) -> str:
    """Set the new password of the link's account and end all its sessions; the link then
    no longer works. Returns the user name."""
    if not uow.settings.local_passwords:
        raise LocalPasswordsOff("local passwords are turned off")
    user = user_for_reset(uow.session, token=token, secret=secret)
    new = new or ""
    if len(new) < MIN_PASSWORD:
        raise FormValidationError("the new password is too short",
                                  {"new_password": ["Au moins 8 caractères."]})
    if len(new) > MAX_PASSWORD:
        raise FormValidationError("the new password is too long",
                                  {"new_password": ["Au plus 200 caractères."]})
    user.password_hash = hash_password(new)
    user.session_epoch = (user.session_epoch or 0) + 1
    audit.append(uow.session, type="user_password_reset", actor=user.username, at=uow.clock(),
                 payload={})
    uow.commit()
    return user.username

