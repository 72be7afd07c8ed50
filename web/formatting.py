"""Locale, dates, amounts and labels for templates, French first."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from babel import dates as babel_dates
from flask import g, has_request_context, request, session
from flask_babel import format_date as babel_format_date
from flask_babel import format_datetime, get_locale, get_translations
from flask_babel import gettext as _
from flask_login import current_user

from partnerflow.engine.access.groups import ROLES, STAGES
from partnerflow.engine.config import as_utc
from partnerflow.engine.runtime import inbox_page
from partnerflow.engine.runtime import names as naming

from .webforms import error_text

LOCALES = ("fr", "en")


def N_(message: str) -> str:
    """Mark a string for extraction (pybabel's default `N_` keyword) without translating it now."""
    return message


# engine/roles.py labels reach templates through `_(ROLES[key])` and `_(STAGES[key])`, which
# pybabel cannot read: they are listed here so that they are extracted. tests/unit/
# test_translations.py checks that this list still covers every label of the engine.
ENGINE_LABELS = (
    # ROLES
    N_("Direction"), N_("Délégué(e) aux échanges"), N_("Professionnel(le)"), N_("Partenaire"),
    N_("Conseil d'administration"), N_("Comité de pilotage"), N_("Concepteur des processus"),
    N_("Administrateur"), N_("Auditeur"), N_("Travailleur externe"),
    # STAGES
    N_("L'idée première"), N_("L'élaboration"), N_("La négociation"),
    N_("L'écriture de fiches action"), N_("La réalisation"), N_("L'évaluation"),
)


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES, default="fr") if request else "fr"


def _role_label(key: str | None) -> str:
    """A group's name in the current language: the method's groups through the
    translations, the organisation's own by their French or English label."""
    if key in ROLES:
        return translated(ROLES[key])
    from .current import group_labels

    labels = group_labels().get(key or "") if has_request_context() else None
    if labels:
        return labels[1] if str(get_locale()) == "en" else labels[0]
    return key or "—"


def _stage_label(key: str | None) -> str:
    return _label(STAGES, key)


# Translated when shown (`_label`); N_ only marks them for extraction.
EVENTS = {
    "partnership_created": N_("Partenariat créé"), "instance_started": N_("Processus démarré"),
    "instance_completed": N_("Processus terminé"), "instance_failed": N_("Processus en erreur"),
    "instance_retried": N_("Processus relancé"), "instance_cancelled": N_("Processus annulé"),
    "instance_migrated": N_("Instance migrée"), "migration_refused": N_("Migration refusée"),
    "task_created": N_("Tâche créée"), "task_completed": N_("Tâche terminée"),
    "task_claimed": N_("Tâche réservée"), "task_unclaimed": N_("Tâche libérée"),
    "task_reassigned": N_("Tâche réaffectée"), "task_cancelled": N_("Tâche annulée"),
    "gateway_taken": N_("Aiguillage"), "decision_evaluated": N_("Décision évaluée"),
    "timer_fired": N_("Échéance atteinte"), "script_ran": N_("Script exécuté"),
    "message_delivered": N_("Message transmis"), "message_unhandled": N_("Message sans destinataire"),
    "document_added": N_("Document ajouté"), "document_signed": N_("Document signé"),
    "convention_generated": N_("Convention mise en forme"), "member_attached": N_("Personne rattachée"),
    "version_deployed": N_("Version déployée"), "user_created": N_("Utilisateur créé"),
    "comment_added": N_("Commentaire"), "opinion_requested": N_("Avis demandé"),
    "opinion_given": N_("Avis donné"), "opinion_withdrawn": N_("Demande d'avis retirée"),
    "absence_declared": N_("Absence déclarée"), "absence_ended": N_("Absence terminée"),
    "task_follow_up_set": N_("Relance programmée"),
}
KINDS = {"network": N_("Réseau"), "cooperation": N_("Coopération"), "partnership": N_("Partenariat"),
         "plan": N_("Plan de partenariat")}
STATUSES = {"active": N_("En cours"), "archived": N_("Archivé"), "ended": N_("Terminé"),
            "renewed": N_("Renouvelé"), "running": N_("En cours"), "completed": N_("Terminée"),
            "error": N_("En erreur"), "cancelled": N_("Annulée")}
LEVELS = {"L0": N_("L0 — réseau informel"), "L1": N_("L1 — échange de lettres"),
          "L2": N_("L2 — convention signée des directions"),
          "L3": N_("L3 — convention délibérée par le conseil d'administration"),
          "L4": N_("L4 — coopération organique approuvée par l'autorité")}


def _locale() -> str:
    if not has_request_context():
        return "fr"
    found = g.get("locale_code")
    if found is None:
        found = g.locale_code = str(get_locale() or "fr")
    return found


def shown_name(names: dict | None, default: str | None = None) -> str | None:
    """An element's or process's name in the reader's language (engine/runtime/names.py)."""
    return naming.pick(names, _locale(), default)


def in_language(french: str | None, english: str | None) -> str | None:
    """A text the engine stores in both languages, in the reader's."""
    return naming.in_language(french, english, _locale())


def task_title(task) -> str:
    """A task's title in the reader's language (a row or a query row with `title_en`)."""
    return naming.in_language(task.title, getattr(task, "title_en", None), _locale())


def instance_label(instance) -> str:
    return naming.in_language(instance.label or instance.process_key,
                              getattr(instance, "label_en", None), _locale())


def version_name(version) -> str:
    return naming.version_name(version, _locale())


def problem_shown(problem) -> dict:
    """A deployment problem or warning in the reader's language: its msgids translated with
    their values (a text without a msgid, a parser's own words, as it is)."""
    def text(msgid, fallback):
        return _(msgid, **problem.params) if msgid else fallback

    return {"file": problem.file, "element_id": problem.element_id, "line": problem.line,
            "message": text(problem.msgid, problem.message),
            "hint": text(problem.hint_msgid, problem.hint) if problem.hint else None}


def _label(table: dict, key: str | None) -> str:
    return translated(table[key]) if key in table else (key or "—")


def translated(msgid: str) -> str:
    """`_(msgid)` (no parameters), looked up once per request: a page of a hundred rows
    shows the same few labels a hundred times."""
    if not has_request_context():
        return _(msgid)
    cache = g.setdefault("translated_labels", {})
    found = cache.get(msgid)
    if found is None:
        found = cache[msgid] = _(msgid)
    return found


def event_label(key: str | None) -> str:
    """An audit event's kind in the reader's language."""
    return _label(EVENTS, key)


def field_titles() -> dict[str, str]:
    """Every form field's title by field key (top-level fields first, then fields of rows),
    read once per request: pages show many earlier answers."""
    if has_request_context() and "field_titles" in g:
        return g.field_titles
    from .current import engine

    pf = engine()
    top: dict[str, str] = {}
    nested: dict[str, str] = {}
    for form_key in pf.forms.form_keys():
        for key, prop in pf.forms.get(form_key).schema.get("properties", {}).items():
            top.setdefault(key, prop.get("title", key))
            for item_key, item in (prop.get("items", {}).get("properties", {}) or {}).items():
                nested.setdefault(item_key, item.get("title", item_key))
    titles = {**nested, **top}
    if has_request_context():
        g.field_titles = titles
    return titles


def _field_label(key: str) -> str:
    return form_text(field_titles().get(key, key))


def form_text(text):
    """A form definition's text (title, help, instructions...) in the current language.

    Form strings are msgids extracted from forms/*.json by web/i18n_extract.py. No %-formatting
    is applied (unlike `_()` in templates), so a "50 %" in a form cannot break rendering.
    """
    if not text or not isinstance(text, str) or not has_request_context():
        return text
    return _(text)


def _format_date(moment) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if isinstance(moment, datetime):
        # a moment is shown on the user's calendar day (Europe/Paris), not UTC's
        return babel_format_date(as_utc(moment), "medium")
    return babel_format_date(moment, "medium")


# Date and time in each locale's own order: "3 mars 2026 14:05", "Mar 3, 2026, 14:05"; the
# audit's to the second. Always in the site's time zone (PARTNERFLOW_TIMEZONE, Flask-Babel's
# BABEL_DEFAULT_TIMEZONE), whatever the page: stored moments are UTC.
_DATETIME_PATTERNS = {"fr": "d MMM y HH:mm", "en": "MMM d, y, HH:mm"}
_SECONDS_PATTERNS = {"fr": "d MMM y HH:mm:ss", "en": "MMM d, y, HH:mm:ss"}


def _format_datetime(moment, seconds: bool = False) -> str:
    """A moment in the site's time zone and the reader's language (`seconds` for the audit)."""
    if not moment:
        return "—"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if not has_request_context():
        locale = str(get_locale() or "fr").split("_")[0]
        patterns = _SECONDS_PATTERNS if seconds else _DATETIME_PATTERNS
        return format_datetime(as_utc(moment), patterns.get(locale, "medium"))
    zone, locale, pattern = _moment_format(seconds)
    return babel_dates.format_datetime(as_utc(moment), pattern, tzinfo=zone, locale=locale)


def _moment_format(seconds: bool):
    """The site's time zone, the reader's locale and the pattern, worked out once per
    request (what Flask-Babel's format_datetime looks up on every call)."""
    key = "moment_format_seconds" if seconds else "moment_format"
    found = g.get(key)
    if found is None:
        from flask_babel import get_timezone

        locale = get_locale()
        patterns = _SECONDS_PATTERNS if seconds else _DATETIME_PATTERNS
        pattern = patterns.get(str(locale or "fr").split("_")[0], "medium")
        found = (get_timezone(), locale, pattern)
        setattr(g, key, found)
    return found


def time_zone_name() -> str:
    """The site's time zone as the reader's language names it ("heure : France")."""
    from babel.dates import get_timezone_location
    from flask_babel import get_timezone

    return get_timezone_location(get_timezone(), locale=_locale(), return_city=False)


def _format_euros(amount) -> str:
    """Euros as the locale writes them: "1 234,50 €" in French, "€1,234.50" in English."""
    from babel.numbers import format_currency

    if amount in (None, ""):
        return "—"
    if isinstance(amount, str):
        try:
            amount = Decimal(amount.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "")
                             .replace(",", "."))
        except InvalidOperation:
            return amount
    return format_currency(amount, "EUR", locale=str(get_locale() or "fr"))


def _format_day(raw) -> str:
    """A calendar date ("2027-03-31") as the locale writes it: "31 mars 2027"."""
    from datetime import date

    if isinstance(raw, datetime):
        return _format_date(raw)
    try:
        day = date.fromisoformat(str(raw)[:10])
    except ValueError:
        return str(raw)
    return babel_format_date(day, "long" if str(get_locale() or "fr").startswith("fr") else "medium")


def _format_number(raw) -> str:
    from babel.numbers import format_decimal

    if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
        try:
            raw = Decimal(str(raw).replace(",", "."))
        except (InvalidOperation, ValueError):
            return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return format_decimal(raw, locale=str(get_locale() or "fr"))


def erased_text(raw) -> str:
    """« effacé le 2 mars 2026 » for a value erased on a person's request."""
    day = raw.get("$erased") if isinstance(raw, dict) else None
    try:
        return _("effacé le %(day)s", day=_format_day(day)) if day else _("effacé")
    except (TypeError, ValueError):
        return _("effacé")


def shown(raw) -> str:
    """A raw payload value as the audit page writes it (an erased one says when)."""
    if isinstance(raw, dict) and "$erased" in raw:
        return erased_text(raw)
    return str(raw)


def format_value(value) -> str:
    """One typed value of an earlier step (engine/views.Value) as text in the current
    language: dates and amounts in the locale's format, yes/no, choices by their label,
    people by name. Rows and documents are drawn by templates/_sections.html."""
    kind, raw = value.kind, value.raw
    if kind == "date":
        return _format_day(raw)
    if kind == "datetime":
        try:
            return _format_datetime(datetime.fromisoformat(str(raw)))
        except ValueError:
            return str(raw)
    if kind == "euros":
        return _format_euros(raw)
    if kind == "number":
        return _format_number(raw)
    if kind == "boolean":
        return _("Oui") if raw else _("Non")
    if kind == "choice":
        return form_text(value.text)
    if kind == "choices":
        return ", ".join(form_text(label) for label in value.items)
    if kind == "missing_document":
        return _("document introuvable (%(sha)s…)", sha=str(raw)[:12])
    if kind == "erased":
        return erased_text(raw)
    return value.text if value.text is not None else str(raw)


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
    if "inbox_count" in g:  # the inbox page already counted the same tasks
        return g.inbox_count
    pf = engine()
    with pf.read() as db:
        return inbox_page.count(db, current_user.username, pf.inbox_cache)


def _request_translations():
    """Flask-Babel's translations, looked up once per request and locale. A page asks its
    templates for some eighty strings; each of Flask-Babel's lookups walks the request
    context twice and costs more than the translation itself. `g` is read once per string
    (each read of a context proxy costs as much as the translation)."""
    try:
        known = g._get_current_object().__dict__
    except RuntimeError:  # outside an application context
        return get_translations()
    locale = getattr(known.get("_flask_babel"), "babel_locale", None)
    cached = known.get("_partnerflow_translations")
    if cached is not None and locale is not None and cached[0] is locale:
        return cached[1]
    translations = get_translations()
    known["_partnerflow_translations"] = (getattr(known.get("_flask_babel"), "babel_locale", None),
                                          translations)
    return translations


def register(app) -> None:
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _request_translations().ugettext(s),
        ngettext=lambda s, p, n: _request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: _request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _request_translations().unpgettext(c, s, p, n),
        newstyle=True)
    app.jinja_env.globals.update(
        role_label=_role_label, stage_label=_stage_label, format_date=_format_date,
        format_datetime=_format_datetime, format_euros=_format_euros, age=_age,
        as_utc=as_utc, inbox_count=_inbox_count, stage_keys=list(STAGES),
        kind_label=lambda k: _label(KINDS, k), status_label=lambda k: _label(STATUSES, k),
        level_label=lambda k: _label(LEVELS, k), field_label=_field_label,
        event_label=event_label,
        form_text=form_text, form_error=error_text, format_value=format_value,
        shown_name=shown_name, task_title=task_title, in_language=in_language, instance_label=instance_label,
        version_name=version_name, problem_shown=problem_shown, shown=shown,
        current_locale=lambda: str(get_locale() or "fr"), utc=UTC, time_zone_name=time_zone_name)
