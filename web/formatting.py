"""Locale, dates, amounts and labels for templates, French first."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import request, session
from flask_babel import format_date as babel_format_date
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from partnerflow.engine import queries
from partnerflow.engine.clock import as_utc
from partnerflow.engine.roles import ROLES, STAGES

LOCALES = ("fr", "en")


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES, default="fr") if request else "fr"


def _role_label(key: str | None) -> str:
    return _(ROLES[key]) if key in ROLES else (key or "—")


def _stage_label(key: str | None) -> str:
    return _(STAGES[key]) if key in STAGES else (key or "—")


KINDS = {"network": "Réseau", "cooperation": "Coopération", "partnership": "Partenariat"}
STATUSES = {"active": "En cours", "archived": "Archivé", "ended": "Terminé", "renewed": "Renouvelé",
            "running": "En cours", "completed": "Terminée", "error": "En erreur",
            "cancelled": "Annulée"}
LEVELS = {"L0": "L0 — réseau informel", "L1": "L1 — échange de lettres",
          "L2": "L2 — convention signée des directions",
          "L3": "L3 — convention délibérée par le conseil d'administration",
          "L4": "L4 — coopération organique approuvée par l'autorité"}


def _label(table: dict, key: str | None) -> str:
    return _(table[key]) if key in table else (key or "—")


def _field_label(key: str) -> str:
    from .current import engine

    pf = engine()
    for form_key in pf.forms.keys():
        props = pf.forms.get(form_key).schema.get("properties", {})
        for prop in props.values():
            items = prop.get("items", {}).get("properties", {}) if isinstance(prop, dict) else {}
            if key in items:
                return items[key].get("title", key)
        if key in props:
            return props[key].get("title", key)
    return key


def _format_date(moment) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if isinstance(moment, datetime):
        return format_datetime(as_utc(moment), "d MMM yyyy") if moment else "—"
    return babel_format_date(moment, "d MMM yyyy")


def _format_datetime(moment) -> str:
    return format_datetime(as_utc(moment), "d MMM yyyy HH:mm") if moment else "—"


def _format_euros(amount) -> str:
    from babel.numbers import format_currency

    if amount in (None, ""):
        return "—"
    return format_currency(amount, "EUR", locale=str(get_locale() or "fr"))


def _age(created) -> str:
    from .current import engine

    delta = engine().clock() - as_utc(created)
    days = delta.days
    if days >= 1:
        return _("%(n)s j", n=days)
    hours = int(delta.total_seconds() // 3600)
    return _("%(n)s h", n=hours) if hours else _("à l'instant")


def _inbox_count() -> int:
    from .current import engine

    if not current_user.is_authenticated:
        return 0
    with engine().read() as db:
        return queries.inbox_count(db, current_user.username)


def register(app) -> None:
    app.jinja_env.globals.update(
        role_label=_role_label, stage_label=_stage_label, format_date=_format_date,
        format_datetime=_format_datetime, format_euros=_format_euros, age=_age,
        as_utc=as_utc, inbox_count=_inbox_count, stage_keys=list(STAGES),
        kind_label=lambda k: _label(KINDS, k), status_label=lambda k: _label(STATUSES, k),
        level_label=lambda k: _label(LEVELS, k), field_label=_field_label, current_locale=lambda: str(get_locale() or "fr"),
        utc=timezone.utc)
