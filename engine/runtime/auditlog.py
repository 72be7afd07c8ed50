"""The audit log as people read it: a filtered timeline per partnership, exports that a
third party can re-verify offline, and what an instance's diagram should show.

CSV cells never run as formulas: a cell starting with `=`, `+`, `-`, `@`, a tab, a carriage
return or a line feed is read as a formula by spreadsheet programs; such a cell is written
with a leading single quote, which makes it text. A cell that already starts with a quote
gets one more, so that `unquote` gives back exactly the value that was exported."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from sqlalchemy import and_, func, or_, select

from partnerflow.engine import audit
from partnerflow.engine.access.groups import stage_for_process
from partnerflow.engine.config import as_utc
from partnerflow.engine.runtime import names as naming
from partnerflow.engine.runtime import views
from partnerflow.engine.store.models import (
    AuditChainHead,
    AuditEvent,
    HumanTask,
    ProcessInstance,
    ProcessVersion,
)

# --- CSV cells that a spreadsheet program never runs as formulas.

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
QUOTE = "'"


def safe_cell(value) -> str:
    """The text of one CSV cell: None is empty, a formula-like text is quoted."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(TRIGGERS) or text.startswith(QUOTE):
        return QUOTE + text
    return text


def safe_row(values) -> list[str]:
    return [safe_cell(value) for value in values]


def unquote_cell(text: str) -> str:
    """The value a `safe_cell` came from (for re-reading an export)."""
    return text[1:] if text.startswith(QUOTE) else text


# --- The audit log as people read it.

EXPORT_FIELDS = ("chain", "seq", "type", "actor", "occurred_at", "partnership_id", "instance_id",
                 "task_uuid", "element_id", "payload", "prev_hash", "hash")


@dataclass(frozen=True)
class TimelineFilter:
    instance_id: int | None = None
    stage: str | None = None
    actor: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class TimelineEvent:
    id: int
    seq: int
    type: str
    actor: str | None
    occurred_at: datetime
    instance_id: int | None
    element_id: str | None
    task_uuid: str | None
    stage: str | None
    payload: dict
    hash: str
    prev_hash: str
    # what the event is about, per language ({"fr": ..., "en": ...}): the task's title, the
    # element's or the process's name; a gateway's path (naming.path_names)
    names: dict = field(default_factory=dict)
    path: list = field(default_factory=list)


def _stage_of(event: AuditEvent, instance_keys: dict[int, str], task_stages: dict[str, str]) -> str | None:
    if event.task_uuid and event.task_uuid in task_stages:
        return task_stages[event.task_uuid]
    process = (event.payload or {}).get("process") or instance_keys.get(event.instance_id or -1)
    return stage_for_process(process) if process else None


def _timeline_query(session, partnership_id: int, filters: TimelineFilter):
    query = select(AuditEvent).where(AuditEvent.chain == audit.chain_for(partnership_id))
    if filters.instance_id:
        query = query.where(AuditEvent.instance_id == filters.instance_id)
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.type:
        query = query.where(AuditEvent.type == filters.type)
    if filters.since:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.occurred_at <= filters.until)
    if filters.stage:
        query = query.where(_stage_clause(session, partnership_id, filters.stage))
    return query


def _stage_clause(session, partnership_id: int, stage: str):
    """Events of one stage, in SQL: a task's events by the task's stage, the others by
    their instance's process (as _stage_of reads them)."""
    tasks = select(HumanTask.task_uuid).where(HumanTask.partnership_id == partnership_id)
    in_stage = tasks.where(HumanTask.stage == stage)
    instances = [i for i, key in session.execute(select(ProcessInstance.id, ProcessInstance.process_key)
                                                 .where(ProcessInstance.partnership_id == partnership_id))
                 if stage_for_process(key) == stage]
    return or_(AuditEvent.task_uuid.in_(in_stage),
               and_(or_(AuditEvent.task_uuid.is_(None), AuditEvent.task_uuid.not_in(tasks)),
                    AuditEvent.instance_id.in_(instances)))


def timeline_count(session, partnership_id: int, filters: TimelineFilter = TimelineFilter()) -> int:
    query = _timeline_query(session, partnership_id, filters)
    return session.scalar(select(func.count()).select_from(query.subquery()))


def timeline_choices(session, partnership_id: int) -> tuple[list[str], list[str]]:
    """The actors and the event types of the partnership's chain (for the filters)."""
    chain = audit.chain_for(partnership_id)
    return _distinct(session, chain, AuditEvent.actor), _distinct(session, chain, AuditEvent.type)


def _distinct(session, chain: str, column) -> list[str]:
    """The distinct values of `column` in the chain, in order, as a loose index scan of
    `(chain, column)`: each step reads the next greater value from the index, so the cost
    is the number of distinct values, not the length of the chain."""
    found = select(func.min(column)).where(AuditEvent.chain == chain).scalar_subquery()
    steps = select(found.label("value")).cte("steps", recursive=True)
    following = select(func.min(column)).where(AuditEvent.chain == chain,
                                               column > steps.c.value).scalar_subquery()
    steps = steps.union_all(select(following).where(steps.c.value.is_not(None)))
    return list(session.scalars(select(steps.c.value).where(steps.c.value.is_not(None))
                                .order_by(steps.c.value)))


def timeline(session, partnership_id: int, filters: TimelineFilter = TimelineFilter(), *,
             limit: int | None = None, offset: int = 0) -> list[TimelineEvent]:
    """The events of the partnership's chain, oldest first, with their stage, filtered;
    `limit` and `offset` give one page (what is read is bounded by the page)."""
    query = _timeline_query(session, partnership_id, filters).order_by(AuditEvent.seq)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    events = session.scalars(query).all()
    uuids = sorted({e.task_uuid for e in events if e.task_uuid})
    instance_keys = dict(session.execute(select(ProcessInstance.id, ProcessInstance.process_key).where(
        ProcessInstance.partnership_id == partnership_id,
        ProcessInstance.id.in_({e.instance_id for e in events if e.instance_id}))).all())
    tasks = session.execute(select(HumanTask.task_uuid, HumanTask.stage, HumanTask.title,
                                   HumanTask.title_en).where(
        HumanTask.partnership_id == partnership_id, HumanTask.task_uuid.in_(uuids))).all()
    task_stages = {uuid: stage for uuid, stage, _fr, _en in tasks}
    titles = {uuid: {k: v for k, v in (("fr", fr), ("en", en)) if v} for uuid, _s, fr, en in tasks}
    catalogues = naming.instance_catalogues(session, {e.instance_id for e in events})
    rows = []
    for e in events:
        payload = e.payload or {}
        catalogue = catalogues.get(e.instance_id or 0, {})
        if e.task_uuid and e.task_uuid in titles:
            names = titles[e.task_uuid]
        elif e.element_id:
            names = _languages(catalogue.get(e.element_id)) or _languages({"fr": payload.get("title")})
        else:
            names = _languages(catalogue.get(payload.get("process_key") or instance_keys.get(
                e.instance_id or -1)))
        path = (naming.path_names(catalogue, e.element_id, payload.get("next") or [])
                if e.type == "gateway_taken" else [])
        rows.append(TimelineEvent(e.id, e.seq, e.type, e.actor, as_utc(e.occurred_at), e.instance_id,
                                  e.element_id, e.task_uuid, _stage_of(e, instance_keys, task_stages),
                                  payload, e.hash, e.prev_hash, names, path))
    return rows


def _languages(entry: dict | None) -> dict:
    """The names of a catalogue entry, languages only."""
    return {lang: entry[lang] for lang in naming.LANGUAGES if entry and entry.get(lang)}


def _export_rows(session, partnership_id: int, audiences: views.Audiences | None = None):
    """The hashed fields of every event plus its hash. With `audiences` (an export for a
    partner representative) internal values are replaced by views.REDACTED and the row's
    `redacted` lists their paths: such a row's content no longer matches its hash."""
    chain = audit.chain_for(partnership_id)
    for e in session.scalars(select(AuditEvent).where(AuditEvent.chain == chain)
                             .order_by(AuditEvent.seq)):
        fields = audit.event_fields(e)
        fields["hash"] = e.hash
        if e.commitments:  # the hash covers these in place of the personal values
            fields["commitments"] = e.commitments
        if audiences is not None:
            fields["payload"], fields["redacted"] = _masked(audiences, e.payload or {})
        yield fields


def _masked(audiences: views.Audiences, payload: dict) -> tuple[dict, list[str]]:
    """The payload with each internal value replaced by views.REDACTED, and the paths."""
    _kept, removed = views.redact_payload(audiences, payload)
    masked = json.loads(json.dumps(payload, default=str))
    for path in removed:
        parts = path.split(".")[1:]  # "payload.data.x" -> ["data", "x"]
        node = masked
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.get(part, {})
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = views.REDACTED
        elif isinstance(node, dict) and last in node:
            node[last] = views.REDACTED
    return masked, removed


EXPORT_FORMAT = "partnerflow-audit-export/1"
NO_EVENT = "0" * 64  # the previous hash of a chain's first event


def _canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def export_trailer(session, chain: str, events: int, head: str, body: str,
                   redacted: bool) -> dict:
    """The signed last line of a JSON-lines export: the chain, how many events it exported
    and the hash of the last one, the SHA-256 of every line before it, signed with the
    audit seal key (Ed25519, docs/audit.md) so that anyone holding its public key can tell
    an export cut at either end, or edited, from the one Partnerflow wrote."""
    import base64
    import hashlib

    keys = session.info.get(audit.KEYS)
    if keys is None:
        raise audit.AuditKeyError("this database session has no audit keys (sessions come "
                                  "from the engine's factory)")
    private = keys.signing_key()
    trailer = {"format": EXPORT_FORMAT, "chain": chain, "events": events, "head": head,
               "lines_sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
               "redacted": redacted, "public_key": audit.public_key_text(private.public_key())}
    trailer["signature"] = base64.b64encode(private.sign(_canonical(trailer))).decode("ascii")
    return trailer


def export_jsonl(session, partnership_id: int, audiences: views.Audiences | None = None) -> str:
    """One JSON object per event (exactly the hashed fields plus the hash), then the head,
    then the signed trailer (`export_trailer`). An export for a partner representative
    (`audiences`) masks internal values and says so: each such row lists them under
    `redacted`, and the head line and the trailer say `redacted: true`."""
    chain = audit.chain_for(partnership_id)
    lines = [json.dumps(row, sort_keys=True, ensure_ascii=False)
             for row in _export_rows(session, partnership_id, audiences)]
    head = session.get(AuditChainHead, chain)
    if head is not None:
        line = {"chain_head": {"chain": head.chain, "last_seq": head.last_seq,
                               "last_hash": head.last_hash}}
        if audiences is not None:
            line["redacted"] = True
        lines.append(json.dumps(line, sort_keys=True))
    body = "".join(line + "\n" for line in lines)
    events, last = (head.last_seq, head.last_hash) if head is not None else (0, NO_EVENT)
    trailer = export_trailer(session, chain, events, last, body, audiences is not None)
    return body + json.dumps({"export_trailer": trailer}, sort_keys=True) + "\n"


def export_csv(session, partnership_id: int, audiences: views.Audiences | None = None) -> str:
    """The same events as CSV; `payload` is the canonical JSON of the payload. No cell of any
    column starts a formula: one starting with = + - @ a tab or a line break (or a quote) is
    written with a leading quote (`unquote_cell` gives the exported value back). An export
    for a partner representative has one more column, `redacted`, as in the JSON lines."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = EXPORT_FIELDS + (("redacted",) if audiences is not None else ())
    writer.writerow(columns)
    for row in _export_rows(session, partnership_id, audiences):
        writer.writerow(safe_row(
            json.dumps(row[f], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            if f == "payload" else " ".join(row[f]) if f == "redacted" else row[f]
            for f in columns))
    return out.getvalue()


def redacted_timeline(events: list[TimelineEvent], audiences: views.Audiences) -> list[TimelineEvent]:
    """The timeline as a partner representative reads it: internal values left out."""
    return [TimelineEvent(e.id, e.seq, e.type, e.actor, e.occurred_at, e.instance_id, e.element_id,
                          e.task_uuid, e.stage, views.redact_payload(audiences, e.payload)[0],
                          e.hash, e.prev_hash, e.names, e.path) for e in events]


def _put(row: dict, path: str, value) -> None:
    """Set the value at `path` (`actor`, `payload.a.0.b`) of an exported row."""
    head, *rest = path.split(".")
    if not rest:
        row[head] = value
        return
    node = row[head]
    for part in rest[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(rest[-1])] = value
    else:
        node[rest[-1]] = value


def _trailer_problems(text: str, trusted_public_key: str | None) -> tuple[dict | None, list[str]]:
    """The export's signed trailer, read from its last line, and what is wrong with it."""
    import base64
    import hashlib

    from cryptography.exceptions import InvalidSignature

    body, _, last = text.rstrip("\n").rpartition("\n")
    body = body + "\n" if body else ""
    try:
        trailer = json.loads(last).get("export_trailer") if last.strip() else None
    except (ValueError, AttributeError):
        trailer = None
    if not isinstance(trailer, dict) or trailer.get("format") != EXPORT_FORMAT:
        return None, ["the export has no signed trailer on its last line: it was cut, or "
                      "it was not written by Partnerflow"]
    try:
        key = audit.load_public_key(trailer["public_key"])
        if trusted_public_key is not None and (audit.public_key_text(key)
                                               != audit.public_key_text(
                                                   audit.load_public_key(trusted_public_key))):
            return None, [f"the trailer was signed by another key ({trailer['public_key']}), "
                          "not by the trusted one"]
        unsigned = {k: v for k, v in trailer.items() if k != "signature"}
        key.verify(base64.b64decode(trailer["signature"], validate=True), _canonical(unsigned))
    except (InvalidSignature, ValueError, KeyError, TypeError, audit.AuditKeyError):
        return None, ["the trailer's signature does not match it: the trailer was altered"]
    if hashlib.sha256(body.encode("utf-8")).hexdigest() != trailer.get("lines_sha256"):
        return trailer, ["the lines before the trailer are not the ones it signed: a line "
                         "was cut, added or altered"]
    return trailer, []


def verify_jsonl(text: str, allow_redacted: bool = False,
                 trusted_public_key: str | None = None) -> list[str]:
    """Re-verify an export with the standard library's hashlib and json, and Ed25519 for
    its trailer (the procedure documented in docs/audit.md). Returns the problems found.

    The export must end with its signed trailer (`export_trailer`) and be exactly the lines
    it signed, from event #1 to the count and head it names: one cut at either end, or
    whose trailer was altered, does not verify. With `trusted_public_key` (the instance's
    seal public key) the trailer must also be signed by that key.

    A row whose values were masked (an export for a partner, its `redacted` list not empty)
    cannot match its hash: it is reported as such, unless `allow_redacted`, which checks only
    that the rows follow one another (sequence and previous hashes) for those rows."""
    trailer, trailer_problems = _trailer_problems(text, trusted_public_key)
    problems: list[str] = []
    previous, expected_seq, head = NO_EVENT, 1, None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            problems.append(f"line {number}: not JSON (cut or altered)")
            continue
        if isinstance(row, dict) and "export_trailer" in row:
            continue
        if isinstance(row, dict) and "chain_head" in row:
            head = row["chain_head"]
            continue
        if not (isinstance(row, dict) and isinstance(row.get("seq"), int) and "hash" in row
                and "prev_hash" in row):
            problems.append(f"line {number}: not an event (seq, hash and prev_hash expected)")
            continue
        problems += _row_problems(number, row, previous, expected_seq, allow_redacted)
        previous, expected_seq = row["hash"], row["seq"] + 1
    if head is not None and (head["last_seq"] != expected_seq - 1 or head["last_hash"] != previous):
        problems.append("the export ends before the chain's last event")
    if trailer is not None and (trailer.get("events") != expected_seq - 1
                                or trailer.get("head") != previous):
        problems.append(f"the trailer signs {trailer.get('events')} events ending with "
                        f"{trailer.get('head')}; the export holds {expected_seq - 1} ending "
                        f"with {previous}")
    return problems + trailer_problems


def _row_problems(number: int, row: dict, previous: str, expected_seq: int,
                  allow_redacted: bool) -> list[str]:
    """What is wrong with one exported event: its hash, its link, its number."""
    import hashlib

    problems = []
    fields = {k: v for k, v in row.items() if k not in ("hash", "redacted", "commitments")}
    for path, digest in (row.get("commitments") or {}).items():
        _put(fields, path, {"$commitment": digest})  # personal values: what the hash covers
    masked = row.get("redacted")
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if masked:
        if not allow_redacted:
            problems.append(f"line {number} (event #{row['seq']}): values masked in this "
                            f"export ({', '.join(masked)}); its content cannot be checked")
    elif hashlib.sha256(canonical.encode("utf-8")).hexdigest() != row["hash"]:
        problems.append(f"line {number} (event #{row['seq']}): content does not match its hash")
    if row["prev_hash"] != previous:
        problems.append(f"line {number} (event #{row['seq']}): does not follow the previous event")
    if row["seq"] != expected_seq:
        problems.append(f"line {number}: event #{expected_seq} expected, found #{row['seq']}")
    return problems


def partnerships_on_version(session, version_id: int) -> set[int]:
    """The partnerships with an instance on a version, or on a version that calls it (a stage
    diagram runs inside the main process's instance): who may read its source."""
    callers = [v.id for v in session.scalars(select(ProcessVersion).where(ProcessVersion.kind == "bpmn"))
               if version_id in (v.dependencies or {}).values()]
    return set(session.scalars(select(ProcessInstance.partnership_id).where(
        ProcessInstance.version_id.in_([version_id, *callers]))))


def instance_diagrams(session, catalog, instance_id: int, run_states: dict) -> list[dict]:
    """The diagrams of an instance's version (its process, then those it called in the order
    its flow reaches them: the method's stages in the method's order) with the elements to
    mark completed, active and in error, and each process's names per language."""
    instance = session.get(ProcessInstance, instance_id)
    version = session.get(ProcessVersion, instance.version_id)
    order = calls_in_flow_order(version.source, version.process_key)
    called = sorted((session.get(ProcessVersion, vid) for vid in version.dependencies.values()),
                    key=lambda v: (order.index(v.process_key) if v and v.process_key in order
                                   else len(order), v.process_key if v else ""))
    diagrams = []
    for v in [version, *called]:
        if v is None or v.kind != "bpmn":
            continue
        states = run_states.get(v.process_key, {"completed": [], "active": [], "errored": []})
        if v is not version and not any(states.values()):
            continue
        diagrams.append({"process_key": v.process_key, "name": v.name, "version": v.version,
                         "names": _languages((v.names or {}).get(v.process_key))
                         or _languages({"fr": v.name}),
                         "version_id": v.id, **states})
    return diagrams


_B = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def calls_in_flow_order(source: str, process_key: str) -> list[str]:
    """The processes a process calls, in the order its flow reaches their call activities
    (breadth first from its start events, through subprocesses and boundary events)."""
    try:
        root = etree.fromstring(source.encode("utf-8"),
                                etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return []
    process = next((p for p in root.iterfind(f"{_B}process") if p.get("id") == process_key), None)
    if process is None:
        return []
    elements = {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}
    following: dict[str, list[str]] = {}
    for flow in process.iter(f"{_B}sequenceFlow"):
        following.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    for boundary in process.iter(f"{_B}boundaryEvent"):
        following.setdefault(boundary.get("attachedToRef"), []).append(boundary.get("id"))
    queue = [s.get("id") for s in process.iterfind(f"{_B}startEvent")]
    seen, calls = set(queue), []
    while queue:
        element = elements.get(queue.pop(0))
        if element is None:
            continue
        tag = etree.QName(element).localname
        nexts = list(following.get(element.get("id"), []))
        if tag == "callActivity" and element.get("calledElement") not in calls:
            calls.append(element.get("calledElement"))
        elif tag in ("subProcess", "transaction", "adHocSubProcess"):
            nexts = [s.get("id") for s in element.iterfind(f"{_B}startEvent")] + nexts
        for next_id in nexts:
            if next_id not in seen:
                seen.add(next_id)
                queue.append(next_id)
    return calls


def executions(session, instance_id: int,
               audiences: views.Audiences | None = None) -> dict[str, list[dict]]:
    """Per element: who did what, when, with which data (from the audit events); with
    `audiences` (a partner representative reads) without the internal values."""
    result: dict[str, list[dict]] = {}
    catalogue = naming.instance_catalogues(session, [instance_id]).get(instance_id, {})
    for e in session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                             .order_by(AuditEvent.seq)):
        if not e.element_id:
            continue
        payload = e.payload or {}
        if audiences is not None:
            payload = views.redact_payload(audiences, payload)[0]
        gateway = e.type == "gateway_taken"
        result.setdefault(e.element_id, []).append({
            "type": e.type, "actor": e.actor, "at": as_utc(e.occurred_at).isoformat(),
            "data": None if gateway else payload.get("data") or payload.get("outputs"),
            "path": naming.path_names(catalogue, e.element_id, payload.get("next") or [])
            if gateway else []})
    return result


def data_diff(before: dict, after: dict) -> list[tuple[str, str, object, object]]:
    """(key, added|changed|removed, old, new) for the keys a task changed."""
    changes = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            changes.append((key, "added", None, after[key]))
        elif key not in after:
            changes.append((key, "removed", before[key], None))
        elif before[key] != after[key]:
            changes.append((key, "changed", before[key], after[key]))
    return changes


@dataclass
class ElementTime:
    element_id: str
    title: str
    count: int
    median_hours: float
    slowest_hours: float
    heat: int  # 1 (quickest) .. 5 (slowest) among this version's tasks
    names: dict = field(default_factory=dict)  # the task's name per language


def version_heatmap(session, version_id: int) -> list[ElementTime]:
    """Time from creation to completion of each user task, across the instances of one
    version (and the processes it called), slowest first."""
    from statistics import median

    version = session.get(ProcessVersion, version_id)
    # a stage runs inside the instances of the versions that call it
    callers = [v.id for v in session.scalars(select(ProcessVersion).where(
        ProcessVersion.kind == "bpmn")) if version_id in (v.dependencies or {}).values()]
    instance_ids = select(ProcessInstance.id).where(
        ProcessInstance.version_id.in_([version_id, *callers]))
    elements = {el.get("id") for el in etree.fromstring(version.source.encode("utf-8")).iter(
        "{http://www.omg.org/spec/BPMN/20100524/MODEL}userTask")}
    rows = session.execute(select(HumanTask.element_id, HumanTask.title, HumanTask.created_at,
                                  HumanTask.completed_at)
                           .where(HumanTask.instance_id.in_(instance_ids),
                                  HumanTask.element_id.in_(elements),
                                  HumanTask.state == "completed",
                                  HumanTask.completed_at.is_not(None))).all()
    spans: dict[str, list[float]] = {}
    titles: dict[str, str] = {}
    for element_id, title, created, completed in rows:
        hours = (as_utc(completed) - as_utc(created)).total_seconds() / 3600
        spans.setdefault(element_id, []).append(max(hours, 0.0))
        titles[element_id] = title
    if not spans:
        return []
    medians = {k: median(v) for k, v in spans.items()}
    top = max(medians.values()) or 1.0
    catalogue = version.names or {}
    result = [ElementTime(k, titles[k], len(v), round(medians[k], 1), round(max(v), 1),
                          min(5, 1 + int(4 * medians[k] / top)),
                          _languages(catalogue.get(k)) or {"fr": titles[k]})
              for k, v in spans.items()]
    return sorted(result, key=lambda e: -e.median_hours)


# ---------------------------------------------------------------- task data before a step


def _digest(data) -> str:
    import hashlib

    canonical = json.dumps(data or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def context_reference(task: HumanTask) -> dict:
    """What a `task_completed` event records of the data the task started from: the task row
    that keeps it and its SHA-256, not a copy (the data grows with every step)."""
    return {"task_id": task.id, "sha256": _digest(task.context)}


@dataclass
class TaskData:
    """The data a task started from, read back through its audit reference."""

    data: dict
    verified: bool | None  # True: matches the audited hash; False: altered; None: no reference


def data_before(session, task: HumanTask) -> TaskData:
    """The task's data before it ran, checked against what its `task_completed` event recorded
    (an older event holds a full copy, a newer one the reference)."""
    event = session.scalar(select(AuditEvent).where(AuditEvent.task_uuid == task.task_uuid,
                                                    AuditEvent.type == "task_completed")
                           .order_by(AuditEvent.seq.desc()).limit(1))
    before = (event.payload or {}).get("before") if event is not None else None
    if isinstance(before, dict) and set(before) == {"task_id", "sha256"}:
        row = session.get(HumanTask, before["task_id"]) if before["task_id"] != task.id else task
        data = (row.context if row is not None else None) or {}
        return TaskData(data, row is not None and _digest(data) == before["sha256"])
    if isinstance(before, dict):
        return TaskData(before, _digest(before) == _digest(task.context))
    return TaskData(task.context or {}, None)
