"""Request arguments read the one way every view uses: numbers within what the database
stores, page numbers within reach, JSON bodies that are objects, and no character a database
refuses (NUL, lone surrogates) in anything a request carries.

A value out of range is treated like a value that is not a number at all: absent."""

from __future__ import annotations

import re

from flask import request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter, ValidationError

# the primary keys are 32-bit integers on PostgreSQL; SQLite stops at 2**63 - 1
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000
_DIGITS = re.compile(r"^\s*\+?([0-9]+)\s*$")
# what PostgreSQL text refuses (NUL) and what no encoder writes (lone surrogates)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class IdConverter(IntegerConverter):
    """`<int:...>` in a route: digits only, at most MAX_ID; anything else is a 404."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str):
        if len(value) > 10:  # never turn thousands of digits into a number
            raise ValidationError()
        return super().to_python(value)


def int_arg(name: str, default: int | None = None, *, source=None, low: int = 1,
            high: int = MAX_ID) -> int | None:
    """An integer argument (query string by default, `source=request.form` for a form) between
    `low` and `high`; `default` when it is missing, not a number or out of range."""
    raw = (request.args if source is None else source).get(name)
    found = _DIGITS.match(raw) if isinstance(raw, str) else None
    if found is None or len(found.group(1)) > 10:
        return default
    value = int(found.group(1))
    return value if low <= value <= high else default


def page_arg(name: str = "page") -> int:
    """A page number from 1; a number past MAX_PAGE is the last page that can be asked for."""
    raw = request.args.get(name)
    found = _DIGITS.match(raw) if isinstance(raw, str) else None
    if found is None:
        return 1
    digits = found.group(1)
    return MAX_PAGE if len(digits) > 6 else min(max(int(digits), 1), MAX_PAGE)


def json_object() -> dict:
    """The request's JSON body if it is an object, else an empty one."""
    payload = request.get_json(silent=True)
    return payload if isinstance(payload, dict) else {}


def _first_unstorable(value, where: str) -> str | None:
    if isinstance(value, str):
        return where if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_unstorable(key, where) or _first_unstorable(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_unstorable(item, f"{where}.{index}")
            if found:
                return found
    return None


def refuse_unstorable_characters():
    """Before every view: a NUL or a lone surrogate anywhere in the path, the query string,
    the form fields (names and values) or a JSON body is refused with a 400 naming where; so
    is a JSON body that is not an object."""
    where = _first_unstorable(request.path, "url")
    sources = [request.args] + ([request.form] if request.method not in ("GET", "HEAD") else [])
    for source in sources:
        for key, values in source.lists():
            if where is None and (_first_unstorable(key, key)
                                  or any(_first_unstorable(v, key) for v in values)):
                where = key
    from .errors import render_error

    if request.is_json and request.content_length != 0:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):  # every view (and the form library) reads an object
            return render_error(400, _("Le corps de la requête doit être un objet JSON valide."))
        where = where or _first_unstorable(payload, "json")
    if where is None:
        return None
    shown = _UNSTORABLE.sub("\ufffd", where)[:80]
    return render_error(400, _("Caractère non autorisé (caractère nul ou invalide) dans "
                               "« %(field)s ».", field=shown))


def install(app) -> None:
    """Before the blueprints are registered: bounded ids in routes, the character check."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_unstorable_characters)
