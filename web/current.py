"""Access to the engine and the signed-in user from views."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, current_app, g
from flask_login import current_user

from partnerflow.engine import access
from partnerflow.engine.runtime import queries
from partnerflow.engine.runtime.host import Partnerflow


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
    # today's absences (access.ties): whom this user stands in for, and whether away
    standing_in_for: tuple = ()
    absent: bool = False
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return str(self.id)

    # the rules live in engine/access.py; this object is the `Subject` they read
    def may(self, action: str, obj=None) -> bool:
        """The access policy's answer for the signed-in user (access.may)."""
        return access.may(self, action, obj)


def group_labels() -> dict[str, tuple[str, str]]:
    """Group key -> (French, English) label of every group, read once per request."""
    if "group_labels" not in g:
        with engine().read() as db:
            g.group_labels = queries.group_labels(db)
    return g.group_labels


def safe_next(target: str | None, default: str) -> str:
    """A path of this site to go on to, else `default`: never another site, whether written
    `https://x`, `//x`, or `/\\x` and `/<tab>/x` (which browsers read as `//x`)."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or any(ch == "\\" or ord(ch) < 32 for ch in target)):
        return default
    return target


def require(action: str, obj=None) -> WebUser:
    """The signed-in user if the access policy allows `action`, else 403."""
    user = current_user
    if not user.is_authenticated or not user.may(action, obj):
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
