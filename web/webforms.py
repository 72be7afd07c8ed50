"""JSON Schema form definitions rendered as HTML fields, and HTML submissions read back.

Field names: `name` at the top level, `rows-0-name` inside repeatable rows, nested as
deep as the schema goes. Boolean checkboxes send nothing when unticked, so every
boolean field is read as present/absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import has_request_context
from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from partnerflow.engine.runtime.forms import alternatives

WIDGETS = {"text", "textarea", "number", "euros", "date", "select", "radio", "checkboxes",
           "checkbox", "user", "organisation", "plan_objective", "rows", "file"}
# widgets whose options come from data, given to build_fields as `choices` (by widget, then
# by x-role; a value may be a function, called the first time a form uses the widget); each
# is drawn as a select
CHOICE_WIDGETS = ("user", "organisation", "plan_objective")


@dataclass
class Field:
    name: str
    key: str
    widget: str
    label: str
    help: str | None
    required: bool
    value: object
    errors: list[str]
    options: list[tuple[str, str]] = field(default_factory=list)
    schema: dict = field(default_factory=dict)
    rows: list[list[Field]] = field(default_factory=list)
    template: list[Field] = field(default_factory=list)
    # the engine's path of this field's errors ("parties.0.siret"), the errors of each row
    # as a whole ("parties.0": neither SIRET nor FINESS), and the fields of a row such an
    # error concerns (drawn in error beside the row's message)
    path: str = ""
    row_errors: list[list[str]] = field(default_factory=list)
    concerned: list[str] = field(default_factory=list)

    @property
    def input_id(self) -> str:
        return "f-" + self.name.replace("_", "-")

    def row_id(self, index: int) -> str:
        return f"{self.input_id}-{index}"


@dataclass(frozen=True)
class ErrorLink:
    """One line of the error summary: where the field is (`href`, None when the error names
    no field on the page), what it is called, what is wrong."""

    href: str | None
    label: str
    message: str


def widget_of(schema: dict) -> str:
    declared = schema.get("x-widget")
    if declared in WIDGETS:
        return declared
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        return "rows" if items.get("type") == "object" else "checkboxes"
    if schema.get("oneOf") or schema.get("enum"):
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("number", "integer"):
        return "number"
    if schema.get("format") == "date":
        return "date"
    return "text"


def tr(text):
    """A form definition's text in the current language (msgids extracted by web/i18n_extract.py).

    Outside a request (unit tests, the CLI) the French text is returned as it is; no
    %-formatting is applied, so a "50 %" in a form is shown as written.
    """
    if not text or not isinstance(text, str) or not has_request_context():
        return text
    return gettext(text)


def N_(message: str) -> str:
    """Mark a string for extraction (pybabel's `N_` keyword); translated later by `error_text`."""
    return message


# The engine (engine/forms.py) reports validation errors in French; they are fixed strings,
# some with one number or name formatted in. They are translated here, when shown.
_FIXED_ERRORS = (
    N_("Ce champ est obligatoire."), N_("Valeur attendue : un texte."),
    N_("Valeur attendue : un nombre."), N_("Valeur attendue : un nombre entier."),
    N_("Valeur attendue : oui ou non."), N_("Valeur attendue : une liste."),
    N_("Valeur attendue : un ensemble de champs."), N_("Choisissez une des valeurs proposées."),
    N_("Cette case doit être cochée."), N_("Date attendue au format AAAA-MM-JJ."),
    N_("Adresse électronique invalide."), N_("Date et heure attendues."),
    N_("Le format de cette valeur est incorrect."), N_("Ajoutez au moins une ligne."),
    N_("Valeur invalide."), N_("Cette date doit suivre la précédente."),
    N_("Les données du formulaire doivent être un objet."),
)
# (pattern of the French message, msgid with the captured value as %(v)s)
_PATTERN_ERRORS = (
    (re.compile(r"^Au moins (\d+) caractères\.$"), N_("Au moins %(v)s caractères.")),
    (re.compile(r"^Au plus (\d+) caractères\.$"), N_("Au plus %(v)s caractères.")),
    (re.compile(r"^La valeur doit être supérieure ou égale à (.+)\.$"),
     N_("La valeur doit être supérieure ou égale à %(v)s.")),
    (re.compile(r"^La valeur doit être strictement supérieure à (.+)\.$"),
     N_("La valeur doit être strictement supérieure à %(v)s.")),
    (re.compile(r"^La valeur doit être inférieure ou égale à (.+)\.$"),
     N_("La valeur doit être inférieure ou égale à %(v)s.")),
    (re.compile(r"^Ajoutez au moins (\d+) ligne\(s\)\.$"), N_("Ajoutez au moins %(v)s ligne(s).")),
    (re.compile(r"^Au plus (\d+) lignes\.$"), N_("Au plus %(v)s lignes.")),
    (re.compile(r"^Format (\S+) attendu\.$"), N_("Format %(v)s attendu.")),
    (re.compile(r"^Champ inconnu : (.*)$"), N_("Champ inconnu : %(v)s")),
    # named groups: each is formatted in under its name; `field` is a form's title, translated
    (re.compile(r"^Caractère de contrôle interdit \((?P<code>U\+[0-9A-F]{4})\) dans « (?P<field>.*) » : "
                r"retirez-le\.$"),
     N_("Caractère de contrôle interdit (%(code)s) dans « %(field)s » : retirez-le.")),
    (re.compile(r"^Caractère invalide \((?P<code>U\+[0-9A-F]{4})\) dans « (?P<field>.*) » : retirez-le\.$"),
     N_("Caractère invalide (%(code)s) dans « %(field)s » : retirez-le.")),
    (re.compile(r"^Les données envoyées sont trop volumineuses \((?P<size>\d+) Ko\) : (?P<limit>\d+) Ko "
                r"au plus\. Raccourcissez les textes ou joignez-les en document\.$"),
     N_("Les données envoyées sont trop volumineuses (%(size)s Ko) : %(limit)s Ko au plus. "
        "Raccourcissez les textes ou joignez-les en document.")),
    (re.compile(r"^Trop de mots de passe erronés\. Réessayez dans (\d+) minute\(s\)\.$"),
     N_("Trop de mots de passe erronés. Réessayez dans %(v)s minute(s).")),
)


_ONE_OF_THESE = re.compile(r"^Renseignez au moins un de ces champs : (?P<fields>« .+ »)\.$")


def error_text(message):
    """An engine validation message (or a form's x-rules message) in the current language."""
    if not message or not isinstance(message, str) or not has_request_context():
        return message
    these = _ONE_OF_THESE.match(message)
    if these:
        titles = re.findall(r"« (.+?) »", these.group("fields"))
        return gettext("Renseignez au moins un de ces champs : %(fields)s.",
                       fields=gettext(" ou ").join(f"« {tr(t)} »" for t in titles))
    for pattern, msgid in _PATTERN_ERRORS:
        found = pattern.match(message)
        if found and found.groupdict():
            named = found.groupdict()
            if "field" in named:
                named["field"] = tr(named["field"])
            return gettext(msgid, **named)
        if found:
            return gettext(msgid, v=found.group(1))
    return gettext(message)


def options_of(schema: dict) -> list[tuple[str, str]]:
    source = schema.get("items", schema) if schema.get("type") == "array" else schema
    if source.get("oneOf"):
        return [(str(o.get("const")), tr(o.get("title")) or str(o.get("const")))
                for o in source["oneOf"] if "const" in o]
    if source.get("enum"):
        labels = source.get("x-enum-labels", {})
        return [(str(v), tr(labels.get(str(v))) or str(v)) for v in source["enum"]]
    return []


def ordered(schema: dict) -> list[tuple[str, dict]]:
    props = schema.get("properties", {})
    keys = list(props)
    return sorted(props.items(), key=lambda kv: (kv[1].get("x-order", 10_000), keys.index(kv[0])))


def build_fields(schema: dict, values: dict | None, errors: dict[str, list[str]] | None,
                 prefix: str = "", error_prefix: str = "", choices: dict | None = None) -> list[Field]:
    """The fields of an object schema with their current values and errors."""
    values = values or {}
    errors = errors or {}
    choices = choices or {}
    required = set(schema.get("required", []))
    fields = []
    for key, prop in ordered(schema):
        name = f"{prefix}{key}"
        err_key = f"{error_prefix}{key}"
        widget = widget_of(prop)
        options = options_of(prop)
        if widget in CHOICE_WIDGETS:
            if callable(choices.get(widget)):
                choices[widget] = choices[widget]()
            options = choices.get(widget, {}).get(prop.get("x-role"), choices.get(widget, {}).get(None, []))
        f = Field(name=name, key=key, widget="select" if widget == "plan_objective" else widget,
                  label=tr(prop.get("title")) or key,
                  help=tr(prop.get("x-help") or prop.get("description")), required=key in required,
                  value=values.get(key), errors=[error_text(m) for m in errors.get(err_key, [])],
                  options=options, schema=prop, path=err_key)
        if widget == "rows":
            _build_rows(f, prop.get("items", {}), values.get(key), errors, choices)
        fields.append(f)
    return fields


def _build_rows(f: Field, item_schema: dict, rows, errors: dict, choices: dict) -> None:
    """The rows of a repeating field, each with its own errors; an error on a row as a whole
    is also drawn at the fields it concerns."""
    rows = rows if isinstance(rows, list) else []
    if not rows and f.required:
        rows = [{}]
    f.concerned = alternatives(item_schema)
    for i, row in enumerate(rows):
        sub = build_fields(item_schema, row if isinstance(row, dict) else {}, errors,
                           f"{f.name}-{i}-", f"{f.path}.{i}.", choices)
        row_errors = [error_text(m) for m in errors.get(f"{f.path}.{i}", [])]
        for child in sub:
            if child.key in f.concerned:
                child.errors = [*child.errors, *(m for m in row_errors if m not in child.errors)]
        f.rows.append(sub)
        f.row_errors.append(row_errors)
    f.template = build_fields(item_schema, {}, {}, f"{f.name}-__index__-", "", choices)


def error_summary(fields: list[Field], errors: dict[str, list[str]] | None, root: str = "_form",
                  extra: dict[str, tuple[str, str]] | None = None) -> list[ErrorLink]:
    """Every error of a submission in the order of the form, each linked to its field: a field
    inside a row is named with its row ("Parties, ligne 1 : SIRET"); an error on a row as a
    whole links to the first field it concerns, else to the row. An error whose path names
    nothing on the page is listed under the nearest field that is, never dropped."""
    anchors: dict[str, tuple[str, str]] = {}

    def walk(fields: list[Field], trail: str) -> None:
        for f in fields:
            label = gettext("%(label)s : %(text)s", label=trail, text=f.label) if trail else f.label
            anchors[f.path] = (f.input_id, label)
            for i, row in enumerate(f.rows):
                row_label = gettext("%(field)s, ligne %(n)s", field=label, n=i + 1)
                first = next((child for child in row if child.key in f.concerned), None)
                anchors[f"{f.path}.{i}"] = (first.input_id if first else f.row_id(i), row_label)
                walk(row, row_label)

    walk(fields, "")
    anchors.update({path: anchor for path, anchor in (extra or {}).items() if path not in anchors})
    errors = {path: msgs for path, msgs in (errors or {}).items() if path != root}
    ordered_paths = [p for p in anchors if p in errors] + [p for p in errors if p not in anchors]
    links = []
    for path in ordered_paths:
        near = path
        while near and near not in anchors:
            near = near.rpartition(".")[0]
        href, label = (f"#{anchors[near][0]}", anchors[near][1]) if near else (None, path)
        links.extend(ErrorLink(href, label, error_text(m)) for m in errors[path])
    return links


def plan_objective_choices(session) -> dict:
    """The options of the `plan_objective` widget, read from `session`: "aucun / hors plan",
    then the objectives of the latest approved partnership plan, labelled as every page
    shows them read-only (engine/method/plan.py `objective_naming`)."""
    from partnerflow.engine.method import plan

    return {None: [(value, tr(label))
                   for value, label in plan.objective_naming(session).labels.items()]}


_INDEX = re.compile(r"^(\d{1,6})-")  # a row number, never thousands of digits


def _parse_rows(name: str, prop: dict, form: MultiDict, files, store_file) -> list[dict]:
    indexes = sorted({int(m.group(1)) for k in form if k.startswith(f"{name}-")
                      for m in [_INDEX.match(k[len(name) + 1:])] if m})
    rows = []
    for i in indexes:
        row = parse_submission(prop.get("items", {}), form, files, store_file, f"{name}-{i}-")
        if any(v not in (None, "", [], False) for v in row.values()):
            rows.append(row)
    return rows


_ABSENT = object()


TRUE_WORDS = frozenset({"on", "true", "1", "oui", "yes"})


def _parse_boolean(name: str, form: MultiDict):
    if name in form:
        # a checkbox sends "on"; a yes/no radio sends its option's value, "True" or "False"
        return (form.get(name) or "").strip().lower() in TRUE_WORDS
    # an unticked box sends nothing: the hidden marker says the box was on the page
    return False if f"{name}__present" in form else _ABSENT


def _parse_file(name: str, form: MultiDict, files, store_file):
    upload = files.get(name) if files is not None else None
    if upload is not None and upload.filename and store_file is not None:
        return store_file(upload)
    return form.get(f"{name}__existing") or _ABSENT


def parse_submission(schema: dict, form: MultiDict, files=None, store_file=None,
                     prefix: str = "") -> dict:
    """Read an HTML submission back into the nested data the schema describes."""
    data: dict = {}
    for key, prop in ordered(schema):
        name = f"{prefix}{key}"
        widget = widget_of(prop)
        if widget == "rows":
            value = _parse_rows(name, prop, form, files, store_file)
        elif widget == "checkboxes":
            value = form.getlist(name)
        elif widget == "checkbox" or prop.get("type") == "boolean":
            value = _parse_boolean(name, form)
        elif widget == "file":
            value = _parse_file(name, form, files, store_file)
        else:
            value = form.get(name) if name in form else _ABSENT
        if value is not _ABSENT:
            data[key] = value
    return data


def prefill(schema: dict, context: dict) -> dict:
    """The values a new form starts from: what the process prepared for it (`context` is the
    task's data without the earlier answers to the same form, engine/views.prepared_data).

    Read-only fields always show it. Other fields start from it when the process prepared a
    value for them (the indicator rows of an evaluation, the idea to complete), except
    choices, yes/no answers and files: a decision or consent is always given again."""
    values = {}
    for key, prop in schema.get("properties", {}).items():
        if key not in context or context[key] in (None, ""):
            continue
        answered_again = (options_of(prop) or prop.get("type") == "boolean"
                          or widget_of(prop) in ("file", "checkbox"))
        if prop.get("readOnly") or not answered_again:
            values[key] = context[key]
    return values


def keep_read_only(schema: dict, data: dict, context: dict) -> dict:
    """Read-only fields come from the task's data, whatever the browser sent back."""
    kept = dict(data)
    for key, prop in schema.get("properties", {}).items():
        if prop.get("readOnly"):
            if key in context:
                kept[key] = context[key]
            else:
                kept.pop(key, None)
    return kept
