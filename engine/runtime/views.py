"""Task views: what a task shows of the earlier steps, and who may read which field.

A form declares what its task shows from earlier steps with a top-level `x-shows`, a list of
`{"form": <form key>}` or `{"element": <user task id>}` entries, each with an optional
`"fields"` list (every field of that step when absent). A diagram without a form file says
the same with a `shows` property (`camunda:properties`) on the user task: the same JSON, or
the short text `draft:draft_purposes,draft_document; draft_comments`.

Every field has an audience (`x-audience`): `internal` (the default), `partner` or
`everyone`. A partner representative (access.is_partner_representative) reads only the
`partner` and `everyone` fields, wherever the data leaves the engine: task pages, the
partnership page, the audit pages, task histories and exports. Fields of repeating rows
inherit their row field's audience unless they declare a stricter one.

This module decides what is shown to whom and types each value (a date, an amount, a
choice by its label, a person by name, rows as a table, a document as a link); the web
layer decides how it looks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select

from partnerflow.engine import access
from partnerflow.engine.audit import personal
from partnerflow.engine.store.models import AuditEvent, Document, HumanTask, ProcessInstance, User

INTERNAL, PARTNER, EVERYONE = "internal", "partner", "everyone"
AUDIENCES = (INTERNAL, PARTNER, EVERYONE)
SHARED = frozenset({PARTNER, EVERYONE})  # what a partner representative reads
REDACTED = "[masqué]"  # what an export to a partner writes instead of an internal value


# ---------------------------------------------------------------- who reads what


def reads_internal(who) -> bool:
    """Does this reader see internal fields? Everyone but a partner representative."""
    return not access.is_partner_representative(who)


def audience_of(prop: dict | None) -> str:
    """A top-level field's audience: its `x-audience`, internal when absent."""
    return _prop_audience(prop or {}, None)


def fillable(schema: dict, who) -> dict:
    """The form as this person fills it: a partner representative gets only the fields
    shared with the partner (a row keeps only its shared fields), so an internal field is
    neither shown to them, prefilled for them, nor accepted from them; a rule on a field
    they do not get is dropped with it. Everyone else gets the whole form."""
    if reads_internal(who) or not isinstance(schema, dict):
        return schema
    return _shared_part(schema, None)


def _shared_part(node: dict, inherited: str | None) -> dict:
    props = node.get("properties") or {}
    kept: dict = {}
    for key, prop in props.items():
        aud = _prop_audience(prop, inherited)
        if aud not in SHARED:
            continue
        items = prop.get("items") if isinstance(prop, dict) else None
        if isinstance(items, dict) and isinstance(items.get("properties"), dict):
            prop = {**prop, "items": _shared_part(items, aud)}
        kept[key] = prop
    out = {**node, "properties": kept}
    if isinstance(node.get("required"), list):
        out["required"] = [k for k in node["required"] if k in kept]
    if isinstance(node.get("x-rules"), list):
        def keeps(rule) -> bool:
            scope = kept if not rule.get("in") else (
                (kept.get(rule["in"]) or {}).get("items", {}).get("properties", {}))
            named = [rule.get(k) for k in ("field", "other") if isinstance(rule.get(k), str)]
            return (not rule.get("in") or rule["in"] in kept) and all(n in scope for n in named)
        out["x-rules"] = [r for r in node["x-rules"] if isinstance(r, dict) and keeps(r)]
    return out


def _prop_audience(prop: dict, inherited: str | None) -> str:
    own = prop.get("x-audience") if isinstance(prop, dict) else None
    if inherited is None:  # a top-level field
        return own if own in AUDIENCES else INTERNAL
    if own == INTERNAL:
        return INTERNAL  # a row's field may be stricter than its row, never looser
    return inherited


def _items_of(prop: dict) -> dict:
    items = prop.get("items") if isinstance(prop, dict) else None
    return items.get("properties", {}) if isinstance(items, dict) else {}


def filter_object(schema_props: dict, data: dict, fallback: dict[str, str],
                  inherited: str | None = None, path: str = "") -> tuple[dict, list[str]]:
    """The data a partner representative may read, and the paths left out. A key the schema
    does not declare takes its audience from `fallback` (every form's fields), else internal."""
    kept: dict = {}
    removed: list[str] = []
    for key, value in data.items():
        prop = schema_props.get(key)
        if prop is not None:
            aud = _prop_audience(prop, inherited)
        elif inherited is None:
            aud = fallback.get(key, INTERNAL)
        else:
            aud = inherited
        where = f"{path}{key}"
        if aud not in SHARED:
            removed.append(where)
            continue
        items = _items_of(prop or {})
        if isinstance(value, list) and items:
            rows = []
            for index, row in enumerate(value):
                if isinstance(row, dict):
                    sub, gone = filter_object(items, row, {}, aud, f"{where}.{index}.")
                    rows.append(sub)
                    removed.extend(gone)
                else:
                    rows.append(row)
            kept[key] = rows
        else:
            kept[key] = value
    return kept, removed


class Audiences:
    """The audience of every field of every form, by key (a key that some form keeps
    internal is internal everywhere), for data that is not tied to one form."""

    def __init__(self, forms):
        self.forms = forms
        by_key: dict[str, str] = {}
        for key in forms.form_keys():
            try:
                props = forms.get(key).schema.get("properties", {})
            except Exception:  # noqa: BLE001 - a broken form file shares nothing
                continue
            for name, prop in props.items():
                aud = _prop_audience(prop, None)
                if by_key.get(name, aud) == INTERNAL or aud == INTERNAL:
                    by_key[name] = INTERNAL
                else:
                    by_key[name] = aud
        self.by_key = by_key

    def schema_props(self, form_key: str | None) -> dict:
        if not form_key:
            return {}
        try:
            return self.forms.get(form_key).schema.get("properties", {})
        except Exception:  # noqa: BLE001 - an unknown form: the keys' common audience applies
            return {}

    def filter(self, data, form_key: str | None = None, path: str = "") -> tuple[dict, list[str]]:
        if not isinstance(data, dict):
            return {}, [path.rstrip(".") or "*"]
        return filter_object(self.schema_props(form_key), data, self.by_key, None, path)


def visible_data(who, forms, data: dict, form_key: str | None = None) -> dict:
    """The data as this reader may see it (whole for staff and auditors)."""
    if reads_internal(who) or not data:
        return data or {}
    return Audiences(forms).filter(data, form_key)[0]


# ---------------------------------------------------------------- audit payloads

# payload entries holding process data (filtered field by field), and free texts that may
# quote any value (left out whole for a partner)
_DATA_ENTRIES = ("data", "inputs", "outputs", "before", "variables", "payload")
_TEXT_ENTRIES = ("error", "reasons", "message_text")
# a comment's or an opinion's own words: left out for a partner unless shared with them
_DISCUSSION_ENTRIES = ("text", "question", "opinion", "recommendation")


def redact_payload(audiences: Audiences, payload: dict) -> tuple[dict, list[str]]:
    """An audit event's payload for a partner representative: internal fields left out;
    returns the payload and the paths of what was left out (`payload.data.our_interests`)."""
    payload = dict(payload or {})
    removed: list[str] = []
    form_key = payload.get("form_key") if isinstance(payload.get("form_key"), str) else None
    for entry in _DATA_ENTRIES:
        value = payload.get(entry)
        if entry == "before" and isinstance(value, dict) and set(value) == {"task_id", "sha256"}:
            continue  # a reference to the task row, no data
        if isinstance(value, dict):
            kept, gone = audiences.filter(value, form_key if entry == "data" else None,
                                          f"payload.{entry}.")
            payload[entry] = kept
            removed.extend(gone)
        elif value is not None and entry in ("inputs", "outputs", "variables", "payload"):
            payload.pop(entry)
            removed.append(f"payload.{entry}")
    for entry in _TEXT_ENTRIES:
        if entry in payload:
            payload.pop(entry)
            removed.append(f"payload.{entry}")
    if "visibility" in payload and payload.get("visibility") != access.SHARED:
        for entry in _DISCUSSION_ENTRIES:
            if entry in payload:
                payload.pop(entry)
                removed.append(f"payload.{entry}")
    return payload, removed


# ---------------------------------------------------------------- what a task shows


@dataclass(frozen=True)
class Show:
    """One earlier step a task shows: by form key or by user task id, some fields or all."""

    form: str | None = None
    element: str | None = None
    fields: tuple[str, ...] | None = None

    def matches(self, task: HumanTask) -> bool:
        return (self.form is not None and task.form_key == self.form) or (
            self.element is not None and task.element_id == self.element)


_SHORT = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(?::\s*([a-z0-9_,\s]*))?$", re.IGNORECASE)


def parse_shows(value) -> list[Show]:
    """`x-shows` (a list) or a `shows` property (that JSON, or `form:f1,f2; other`), read
    into Show entries; raises ValueError naming what is wrong."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"shows: not readable JSON ({exc})") from None
        else:
            entries = []
            for part in filter(None, (p.strip() for p in text.split(";"))):
                found = _SHORT.match(part)
                if not found:
                    raise ValueError(f"shows: « {part} » is not « form_or_task:field,field »")
                names = tuple(f.strip() for f in (found.group(2) or "").split(",") if f.strip())
                entries.append({"form": found.group(1), **({"fields": list(names)} if names else {})})
            value = entries
    if not isinstance(value, list):
        raise ValueError("x-shows must be a list of {\"form\": ...} or {\"element\": ...}")
    shows = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or not (isinstance(entry.get("form"), str)
                                               or isinstance(entry.get("element"), str)):
            raise ValueError(f"x-shows[{index}] must name a \"form\" or an \"element\"")
        unknown = set(entry) - {"form", "element", "fields"}
        if unknown:
            raise ValueError(f"x-shows[{index}]: unknown entry {', '.join(sorted(unknown))}")
        names = entry.get("fields")
        if names is not None and (not isinstance(names, list)
                                  or not all(isinstance(n, str) for n in names)):
            raise ValueError(f"x-shows[{index}].fields must be a list of field names")
        shows.append(Show(entry.get("form"), entry.get("element"),
                          tuple(names) if names is not None else None))
    return shows


@dataclass
class Value:
    """A typed value: `kind` tells the web how to write it.

    kinds: text, multiline, number, euros, date, datetime, boolean, choice (text is the
    label), choices (items are labels), person (text is the name), document (document has
    sha256, filename, label), rows (table), missing_document, erased (text is the day of the
    erasure). `note` (French, a msgid) says
    something of the value beside it: a choice that is no longer among the options."""

    kind: str
    raw: object = None
    text: str | None = None
    items: list[str] = field(default_factory=list)
    document: dict | None = None
    table: Table | None = None
    note: str | None = None


@dataclass
class Table:
    columns: list[tuple[str, str]]  # (key, title)
    rows: list[list[Value | None]]


@dataclass
class Item:
    key: str
    title: str
    value: Value


@dataclass
class Section:
    """One earlier step as the task shows it."""

    title: str  # the step's title ("Commenter la version 2")
    form_title: str | None
    task_id: int | None
    element_id: str | None
    completed_by: str | None
    completed_by_name: str | None
    completed_at: datetime | None
    items: list[Item]
    latest: bool = True  # the newest round of this step; older rounds are folded away


@dataclass(frozen=True)
class Naming:
    """How the values of a widget whose options come from the data read (the idea's
    `plan_objective`: the objectives of the approved plan): each known value's label, and the
    note shown beside a value that is not among them (written as it is)."""

    labels: dict[str, str]
    unlisted: str | None = None


# widget -> the function reading its Naming from a session; a plugin registers its own
# (engine/method/plan.py names the plan's objectives), the host knows none
NAMINGS: dict[str, Callable[..., Naming]] = {}


def naming(widget: str):
    """Register the function that names the values of `widget` (given a session): every
    page that shows such a value read-only writes it with its label (task sections, the
    partnership page), and a form offers the same labels as its options."""

    def register(function):
        NAMINGS[widget] = function
        return function

    return register


class _Lookups:
    """People, documents and named values (NAMINGS) of one partnership, read once per page."""

    def __init__(self, session, partnership_id: int | None):
        self.session, self.partnership_id = session, partnership_id
        self._people: dict[str, str] | None = None
        self._docs: dict[str, Document] | None = None
        self._namings: dict[str, Naming] = {}

    def person(self, username: str) -> str:
        if self._people is None:
            self._people = dict(self.session.execute(select(User.username, User.full_name)).all())
        return self._people.get(username) or username

    def document(self, sha256: str) -> Document | None:
        if self._docs is None:
            self._docs = {d.sha256: d for d in self.session.scalars(
                select(Document).where(Document.partnership_id == self.partnership_id))}
        return self._docs.get(sha256)

    def named(self, widget: str, value) -> Value:
        """A value of a named widget: its label, or as written with the widget's note."""
        if widget not in self._namings:
            self._namings[widget] = NAMINGS[widget](self.session)
        found = self._namings[widget]
        label = found.labels.get(str(value))
        if label is not None:
            return Value("choice", value, text=label)
        return Value("choice", value, text=str(value), note=found.unlisted)


def _options(prop: dict) -> dict[str, str]:
    source = prop.get("items", prop) if prop.get("type") == "array" else prop
    if not isinstance(source, dict):
        return {}
    if source.get("oneOf"):
        return {str(o.get("const")): o.get("title") or str(o.get("const"))
                for o in source["oneOf"] if isinstance(o, dict) and "const" in o}
    if source.get("enum"):
        labels = source.get("x-enum-labels", {})
        return {str(v): labels.get(str(v)) or str(v) for v in source["enum"]}
    return {}


def _widget(prop: dict) -> str | None:
    return prop.get("x-widget")


def ordered(props: dict) -> list[tuple[str, dict]]:
    keys = list(props)
    return sorted(props.items(), key=lambda kv: (kv[1].get("x-order", 10_000)
                                                 if isinstance(kv[1], dict) else 10_000,
                                                 keys.index(kv[0])))


def empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def typed(prop: dict, value, lookups: _Lookups, partner_only: bool,
          inherited: str = INTERNAL) -> Value:
    """One value typed by its field's definition."""
    prop = prop if isinstance(prop, dict) else {}
    if personal.is_erased(value):  # a person's value erased on request (RGPD)
        return Value("erased", value, text=str(value.get(personal.ERASED)) if isinstance(value, dict)
                     else str(value))
    widget, kind = _widget(prop), prop.get("type")
    options = _options(prop)
    if isinstance(value, list) and _items_of(prop):
        return Value("rows", value, table=_table(_items_of(prop), value, lookups, partner_only,
                                                 inherited))
    if widget in NAMINGS and isinstance(value, list):
        return Value("choices", value, items=[lookups.named(widget, v).text or "" for v in value])
    if isinstance(value, list):
        labels = [options.get(str(v), str(v)) for v in value]
        return Value("choices", value, items=labels)
    if widget in NAMINGS and not isinstance(value, (bool, dict)):
        return lookups.named(widget, value)
    if isinstance(value, bool) or kind == "boolean":
        if options and str(value) in options:
            return Value("choice", value, text=options[str(value)])
        return Value("boolean", bool(value))
    if options:
        return Value("choice", value, text=options.get(str(value), str(value)))
    return _scalar(prop, widget, kind, value, lookups)


def _scalar(prop: dict, widget: str | None, kind, value, lookups: _Lookups) -> Value:
    if widget == "file":
        doc = lookups.document(str(value))
        if doc is None:
            return Value("missing_document", value)
        return Value("document", value, document={"sha256": doc.sha256, "filename": doc.filename,
                                                  "label": doc.label})
    if widget == "user":
        return Value("person", value, text=lookups.person(str(value)))
    if widget == "euros":
        return Value("euros", value)
    if kind in ("number", "integer") or widget == "number":
        return Value("number", value)
    if prop.get("format") == "date" or widget == "date":
        return Value("date", value)
    if prop.get("format") == "date-time":
        return Value("datetime", value)
    if isinstance(value, dict):
        return Value("text", value, text=json.dumps(value, ensure_ascii=False, default=str))
    if widget == "textarea" or (isinstance(value, str) and "\n" in value):
        return Value("multiline", value, text=str(value))
    return Value("text", value, text=str(value))


def _table(items: dict, rows: list, lookups: _Lookups, partner_only: bool,
           inherited: str) -> Table:
    columns = [(k, p) for k, p in ordered(items)
               if not partner_only or _prop_audience(p, inherited) in SHARED]
    used = [(k, p) for k, p in columns
            if any(isinstance(r, dict) and not empty(r.get(k)) for r in rows)]
    body = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        body.append([typed(p, row.get(k), lookups, partner_only, _prop_audience(p, inherited))
                     if not empty(row.get(k)) else None for k, p in used])
    return Table([(k, p.get("title") or k) for k, p in used], body)


def items_of(props: dict, data: dict, names: tuple[str, ...] | None, lookups: _Lookups,
             partner_only: bool) -> list[Item]:
    """The labelled, typed values of one step's data (only the fields named, in the form's
    order; only what a partner may read when `partner_only`)."""
    chosen = [(k, props.get(k, {})) for k in names] if names else ordered(props)
    result = []
    for key, prop in chosen:
        if key not in props or empty(data.get(key)):
            continue
        aud = _prop_audience(prop, None)
        if partner_only and aud not in SHARED:
            continue
        result.append(Item(key, prop.get("title") or key,
                           typed(prop, data[key], lookups, partner_only, aud)))
    return result


def shows_of(forms, task: HumanTask, meta_shows: str | None = None) -> list[Show]:
    """What a task declares it shows: its form's `x-shows`, else its diagram's `shows`."""
    schema = _schema_of(forms, task)
    declared = schema.get("x-shows") if schema else None
    try:
        return parse_shows(declared if declared is not None else meta_shows)
    except ValueError:
        return []  # refused when the form or diagram is saved; never a page error


def _schema_of(forms, task: HumanTask) -> dict:
    if task.form_key:
        try:
            return forms.get(task.form_key).schema
        except Exception:  # noqa: BLE001 - a form removed since: nothing to show from it
            return {}
    return task.inline_schema or {}


def task_sections(session, forms, task: HumanTask, who, shows: list[Show]) -> list[Section]:
    """The earlier steps a task shows, as labelled sections: for each declared step its newest
    round (in the order the steps were done), then its older rounds (newest first,
    `latest=False`). A step that is a start form (no task row) is read from the task's own
    data. Only partner and everyone fields reach a partner representative."""
    if not shows:
        return []
    partner_only = not reads_internal(who)
    lookups = _Lookups(session, task.partnership_id)
    earlier = session.scalars(select(HumanTask).where(
        HumanTask.partnership_id == task.partnership_id, HumanTask.state == "completed",
        HumanTask.id != task.id).order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())).all()
    latest: list[Section] = []
    older: list[Section] = []
    for show in shows:
        rows = [t for t in earlier if show.matches(t)]
        if not rows and show.form:
            section = _start_form_section(forms, show, task, lookups, partner_only)
            if section is not None:
                latest.append(section)
            continue
        for index, row in enumerate(rows):
            schema = _schema_of(forms, row)
            items = items_of(schema.get("properties", {}), row.result or {}, show.fields, lookups,
                             partner_only)
            if not items:
                continue
            section = Section(row.title, schema.get("title"), row.id, row.element_id,
                              row.completed_by, lookups.person(row.completed_by)
                              if row.completed_by else None, row.completed_at, items,
                              latest=index == 0)
            (latest if index == 0 else older).append(section)
    latest.sort(key=lambda s: (s.completed_at is not None, s.completed_at or datetime.min,
                               s.task_id or 0))
    return latest + older


def _start_form_section(forms, show: Show, task: HumanTask, lookups, partner_only) -> Section | None:
    """A start form's answers (the idea) live in the process data only."""
    try:
        schema = forms.get(show.form).schema
    except Exception:  # noqa: BLE001 - an unknown form shows nothing
        return None
    items = items_of(schema.get("properties", {}), task.context or {}, show.fields, lookups,
                     partner_only)
    if not items:
        return None
    return Section(schema.get("title") or show.form, schema.get("title"), None, None, None, None,
                   None, items)


def _readable_prop(forms, form_key: str, field_key: str, who) -> tuple[dict, str] | None:
    """A top-level field of a form and its audience, when this reader may read it."""
    try:
        prop = forms.get(form_key).schema.get("properties", {}).get(field_key)
    except Exception:  # noqa: BLE001 - an unknown form shows nothing
        return None
    if not prop:
        return None
    aud = _prop_audience(prop, None)
    if not reads_internal(who) and aud not in SHARED:
        return None
    return prop, aud


def form_table(session, forms, form_key: str, field_key: str, rows: list, who,
               partnership_id: int) -> Table | None:
    """The rows of one repeating field (the action sheets of a partnership) as a table."""
    found = _readable_prop(forms, form_key, field_key, who)
    if found is None:
        return None
    prop, aud = found
    return _table(_items_of(prop), rows, _Lookups(session, partnership_id),
                  not reads_internal(who), aud)


def form_value(session, forms, form_key: str, field_key: str, value, who,
               partnership_id: int) -> Value | None:
    """One answer of a form typed as a task section shows it (the objective a partnership's
    idea serves, on its page); None when empty or when this reader may not read the field."""
    found = _readable_prop(forms, form_key, field_key, who)
    if found is None or empty(value):
        return None
    prop, aud = found
    return typed(prop, value, _Lookups(session, partnership_id), not reads_internal(who), aud)


def meta_shows(session, catalog, task: HumanTask) -> str | None:
    """The `shows` property of the task in its diagram, if the diagram declares one."""
    instance = session.get(ProcessInstance, task.instance_id)
    if instance is None:
        return None
    try:
        meta = catalog.compiled(session, instance.version_id).user_task_meta(task.process_key,
                                                                           task.element_id)
    except Exception:  # noqa: BLE001 - a version that no longer compiles shows nothing more
        return None
    return getattr(meta, "shows", None)


# ---------------------------------------------------------------- documents a partner reads


def shared_documents(session, forms, partnership_id: int, who) -> set[str] | None:
    """The documents this reader may open: None for all; for a partner representative those
    a shared field of a completed step points to, and those they uploaded themselves."""
    if reads_internal(who):
        return None
    audiences = Audiences(forms)
    found: set[str] = set()
    for task in session.scalars(select(HumanTask).where(
            HumanTask.partnership_id == partnership_id, HumanTask.state.in_(("completed", "open")))):
        for data, form_key in ((task.result, task.form_key), (task.context, None)):
            if not data:
                continue
            kept, _gone = audiences.filter(data, form_key)
            schema_props = audiences.schema_props(task.form_key)
            found |= _file_values(schema_props, kept, audiences)
    found |= set(session.scalars(select(Document.sha256).where(
        Document.partnership_id == partnership_id, Document.uploaded_by == who.username)))
    return found


def _file_values(props: dict, data: dict, audiences: Audiences) -> set[str]:
    found: set[str] = set()
    for key, value in data.items():
        prop = props.get(key) or _any_prop(audiences, key)
        if not prop:
            continue
        if prop.get("x-widget") == "file" and isinstance(value, str):
            found.add(value)
        elif isinstance(value, list) and _items_of(prop):
            for row in value:
                if isinstance(row, dict):
                    found |= _file_values(_items_of(prop), row, audiences)
    return found


def _any_prop(audiences: Audiences, key: str) -> dict | None:
    for form_key in audiences.forms.form_keys():
        prop = audiences.schema_props(form_key).get(key)
        if prop:
            return prop
    return None


# ---------------------------------------------------------------- what a new round starts from


def prepared_data(session, task: HumanTask) -> dict:
    """The task's data as the process prepared it for this round: a value still there from
    an earlier answer to the same form (same form key, or same task for a diagram's own
    form) is left out, so that a new round never starts from the previous round's answers;
    unless a service task wrote it again since that answer (a connector's output, recorded
    by its `connector_ran` event: the approved plan a yearly review starts from)."""
    context = dict(task.context or {})
    if not context:
        return context
    same = (HumanTask.form_key == task.form_key) if task.form_key else (
        HumanTask.element_id == task.element_id)
    earlier = session.execute(select(HumanTask.task_uuid, HumanTask.result).where(
        HumanTask.partnership_id == task.partnership_id, HumanTask.state == "completed",
        HumanTask.id != task.id, same)).all()
    if not earlier:
        return context
    answered, written = _answered_and_written(session, task, [uuid for uuid, _r in earlier])
    for uuid, result in earlier:
        since = answered.get(uuid, 0)
        for key, value in (result or {}).items():
            if key in context and context[key] == value and not any(
                    at > since and key in names for at, names in written):
                context.pop(key)
    return context


def _answered_and_written(session, task: HumanTask, uuids: list[str]):
    """From the audit trail, in its order: when each earlier answer was given (uuid -> event
    id), and what the service tasks of this task's instance wrote before it opened."""
    answered: dict[str, int] = {}
    written: list[tuple[int, set[str]]] = []
    opened: int | None = None
    for event_id, kind, uuid, payload in session.execute(
            select(AuditEvent.id, AuditEvent.type, AuditEvent.task_uuid, AuditEvent.payload)
            .where(AuditEvent.partnership_id == task.partnership_id, or_(
                and_(AuditEvent.type == "task_completed", AuditEvent.task_uuid.in_(uuids)),
                and_(AuditEvent.type == "task_created", AuditEvent.task_uuid == task.task_uuid),
                and_(AuditEvent.type == "connector_ran",
                     AuditEvent.instance_id == task.instance_id)))
            .order_by(AuditEvent.id)):
        if kind == "task_completed":
            answered[uuid] = event_id
        elif kind == "task_created" and opened is None:
            opened = event_id
        elif kind == "connector_ran" and opened is None:
            names = (payload or {}).get("wrote")
            if isinstance(names, list) and names:
                written.append((event_id, {str(n) for n in names}))
    return answered, written
