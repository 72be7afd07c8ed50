"""Signing in through an OpenID Connect provider: who the verified claims make the person.

The web layer runs the protocol (discovery, code flow with PKCE, state, nonce, the ID token's
signature, issuer, audience and expiry); this module receives the claims it verified and
decides, in one place:

- an account already linked to the provider's subject signs in as its user;
- otherwise a user whose address is the claims' verified address is linked to the subject
  (the provider says the address is verified, or the deployment trusts its provider's
  addresses, as ProConnect's are);
- otherwise, when a group mapping is configured, a user is created with the mapped groups;
  without a mapping nobody unknown gets in (accounts are created by an administrator first);
- with a mapping, the groups it manages follow the provider at every sign-in (the others stay
  as the administrator set them), and nobody signs in without any group.

Every outcome is audited and recorded as a sign-in attempt."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import select

from partnerflow.engine import audit
from partnerflow.engine.access import accounts
from partnerflow.engine.errors import N_, Forbidden
from partnerflow.engine.store.models import ExternalIdentity, User


@dataclass(frozen=True)
class SsoPolicy:
    """What the deployment says of its provider (engine/config.py reads it)."""

    issuer: str
    groups_claim: str = "groups"
    # (value found in the groups claim, Partnerflow group key)
    group_map: tuple[tuple[str, str], ...] = ()
    trust_email: bool = False
    managed_groups: frozenset[str] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "managed_groups", frozenset(g for _v, g in self.group_map))

    def mapped_groups(self, claims: dict) -> set[str]:
        values = claims.get(self.groups_claim)
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list):
            return set()
        present = {str(v) for v in values}
        return {group for value, group in self.group_map if value in present}


class SsoRefused(Forbidden):
    """The provider vouched for someone Partnerflow does not let in; `message` is French."""

    def __init__(self, reason: str, message: str, **values):
        super().__init__(reason)
        self.message, self.values = message, values


NO_ACCOUNT = N_("Aucun compte Partnerflow ne correspond à %(who)s : demandez à un "
                "administrateur de créer le vôtre avec cette adresse.")
NO_GROUP = N_("Votre compte chez le fournisseur d'identité ne vous donne aucun rôle dans "
              "Partnerflow : demandez à votre administrateur de vous ajouter à un groupe.")
INACTIVE = N_("Ce compte est désactivé : adressez-vous à un administrateur.")
NO_SUBJECT = N_("Le fournisseur d'identité n'a pas dit qui vous êtes : réessayez.")


def _full_name(claims: dict) -> str:
    name = claims.get("name")
    if not name:
        parts = [claims.get("given_name"), claims.get("usual_name") or claims.get("family_name")]
        name = " ".join(str(p) for p in parts if p)
    return (str(name or claims.get("email") or claims["sub"]))[:200]


def _free_username(session, claims: dict) -> str:
    """A user name taken from the claims: ascii, lower case, letters, digits, . _ -."""
    raw = str(claims.get("preferred_username") or str(claims.get("email") or "").split("@")[0]
              or "sso")
    ascii_ = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode().lower()
    base = (re.sub(r"[^a-z0-9._-]+", ".", ascii_).strip(".-_") or "sso")[:60]
    candidate, n = base, 1
    while session.scalar(select(User.id).where(User.username == candidate)) is not None:
        n += 1
        candidate = f"{base}{n}"
    return candidate


def _verified_email(policy: SsoPolicy, claims: dict) -> str | None:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    if claims.get("email_verified") is True or policy.trust_email:
        return email.strip().lower()
    return None


def _refuse(uow, *, who: str, address: str | None, reason: str, message: str):
    uow.rollback()
    accounts.record_attempt(uow.session, username=who[:80], address=address, at=uow.clock(),
                            success=False, user=None, purpose="sso")
    audit.append(uow.session, type="sso_refused", actor=None, at=uow.clock(),
                 payload={"who": who, "reason": reason, "remote_addr": address})
    uow.commit()
    raise SsoRefused(reason, message, who=who)


def _sync_groups(uow, user: User, policy: SsoPolicy, mapped: set[str]) -> None:
    if not policy.group_map:
        return
    kept = user.role_keys - policy.managed_groups
    wanted = sorted(kept | mapped)
    if set(wanted) != user.role_keys:
        before = sorted(user.role_keys)
        user.groups = accounts.groups_by_key(uow.session, wanted)
        audit.append(uow.session, type="user_roles_changed", actor="sso", at=uow.clock(),
                     payload={"username": user.username, "before": before, "after": wanted,
                              "issuer": policy.issuer})


def sign_in(uow, *, policy: SsoPolicy, claims: dict, remote_addr: str | None) -> User:
    """The user the verified `claims` sign in as (see the module's docstring), committed."""
    session, now = uow.session, uow.clock()
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        _refuse(uow, who="?", address=remote_addr, reason="no subject", message=NO_SUBJECT)
    email = _verified_email(policy, claims)
    who = email or subject
    identity = session.scalar(select(ExternalIdentity).where(
        ExternalIdentity.issuer == policy.issuer, ExternalIdentity.subject == subject))
    mapped = policy.mapped_groups(claims)
    user = session.get(User, identity.user_id) if identity is not None else None
    if user is None and email is not None:
        user = session.scalar(select(User).where(User.email.is_not(None))
                              .where(User.email.ilike(email)))
    if user is None:
        if not policy.group_map:
            _refuse(uow, who=who, address=remote_addr, reason="no account", message=NO_ACCOUNT)
        if not mapped:
            _refuse(uow, who=who, address=remote_addr, reason="no group", message=NO_GROUP)
        user_id = accounts.create_user(uow, username=_free_username(session, claims),
                                       full_name=_full_name(claims), roles=sorted(mapped),
                                       actor="sso", email=email)
        user = session.get(User, user_id)
    if not user.active:
        _refuse(uow, who=who, address=remote_addr, reason="inactive", message=INACTIVE)
    _sync_groups(uow, user, policy, mapped)
    if not user.role_keys:
        _refuse(uow, who=who, address=remote_addr, reason="no group", message=NO_GROUP)
    if identity is None:
        identity = ExternalIdentity(user_id=user.id, issuer=policy.issuer, subject=subject,
                                    linked_at=now, last_seen_at=now)
        session.add(identity)
        audit.append(session, type="user_identity_linked", actor=user.username, at=now,
                     payload={"username": user.username, "issuer": policy.issuer})
    identity.last_seen_at = now
    accounts.record_attempt(session, username=user.username, address=remote_addr, at=now,
                            success=True, user=user, purpose="sso")
    audit.append(session, type="user_logged_in", actor=user.username, at=now,
                 payload={"remote_addr": remote_addr, "via": "sso", "issuer": policy.issuer})
    uow.commit()
    return user


def has_identity(session, user_id: int) -> bool:
    return session.scalar(select(ExternalIdentity.id).where(
        ExternalIdentity.user_id == user_id).limit(1)) is not None
