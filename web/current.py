"""Access to the engine and the signed-in user from views."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, current_app
from flask_login import current_user

from partnerflow.engine import access
from partnerflow.engine.bootstrap import Partnerflow


def engine() -> Partnerflow:
    return current_app.extensions["partnerflow"]


@dataclass
class WebUser:
    """The signed-in user as the web layer sees it (Flask-Login's user object)."""

    id: int
    username: str
    full_name: str
    roles: frozenset[str]
    partnership_ids: frozenset[int] = field(default_factory=frozenset)
    organisation_id: int | None = None
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return str(self.id)

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_partner_only(self) -> bool:
        return self.roles == {"partner"}

    # the rules live in engine/access.py; this object is the `Subject` they read
    @property
    def is_staff(self) -> bool:
        return access.is_staff(self)

    def may_see_partnership(self, partnership_id: int) -> bool:
        return access.may_read_partnership(self, partnership_id)

    def may_read_audit(self, partnership_id: int) -> bool:
        return access.may_read_audit(self, partnership_id)

    def may_act(self, task) -> bool:
        return access.may_act(self, task)


def safe_next(target: str | None, default: str) -> str:
    """A path of this site to go on to, else `default`: never another site, whether written
    `https://x`, `//x`, or `/\\x` and `/<tab>/x` (which browsers read as `//x`)."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or any(ch == "\\" or ord(ch) < 32 for ch in target)):
        return default
    return target


def require_roles(*roles: str) -> WebUser:
    user = current_user
    if not user.is_authenticated or not user.has(*roles):
        abort(403)
    return user


# Pages that draw diagrams: bpmn-js and dmn-js set inline style attributes on the SVG they
# draw, so styles may be inline there; scripts stay 'self' only everywhere.
DIAGRAM_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
               "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def with_diagram_csp(response):
    response.headers["Content-Security-Policy"] = DIAGRAM_CSP
    return response


def get_or_404(db, model, key):
    row = db.get(model, key)
    if row is None:
        abort(404)
    return row
