"""Deploying BPMN/DMN: refuse anything unsafe or broken, then version what changed.

SpiffWorkflow finds a broken condition, a missing form or an unknown decision only
when an instance reaches it. Everything that can be checked before is checked here,
and every problem names the file, the element and what to change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, lanes, spiff
from .catalog import group_names
from .diagrams import B, Document, is_executable, lint_bpmn, lint_dmn, read_documents, warnings_for
from .errors import DeploymentRejected, Problem
from .forms import FormRegistry
from .models import ProcessVersion
from .xmlsafe import parse_xml


@dataclass
class DeployedItem:
    process_key: str
    kind: str
    version: int
    version_id: int
    created: bool
    filename: str


@dataclass
class DeployResult:
    items: list[DeployedItem] = field(default_factory=list)
    # what was deployed but behaves differently from the diagram's intent (a Camunda form
    # shown as a generic form, a process left out because it is not executable...)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def created(self) -> list[DeployedItem]:
        return [i for i in self.items if i.created]


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# ---------------------------------------------------------------- versioning


def _deployed_latest(session: Session) -> dict[str, ProcessVersion]:
    latest = (select(ProcessVersion.process_key, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_key).subquery())
    rows = session.scalars(select(ProcessVersion).join(
        latest, (ProcessVersion.process_key == latest.c.process_key)
        & (ProcessVersion.version == latest.c.v)))
    return {row.process_key: row for row in rows}


@dataclass
class _Item:
    key: str
    kind: str
    name: str | None
    doc: Document
    deps: set[str]
    start_message: str | None = None


def _items(documents: list[Document]) -> tuple[dict[str, _Item], list[Problem]]:
    items: dict[str, _Item] = {}
    problems = []
    for doc in documents:
        if doc.kind == "bpmn":
            found = {k: _Item(k, "bpmn", i.name, doc, i.calls | i.decisions, i.start_message)
                     for k, i in spiff.read_processes(doc.root, doc.filename).items()
                     if i.executable}
        else:
            found = {k: _Item(k, "dmn", n, doc, set()) for k, n in spiff.read_decisions(doc.root).items()}
        for key, item in found.items():
            if key in items:
                problems.append(Problem(doc.filename, f"'{key}' is also defined in "
                                        f"{items[key].doc.filename}", element_id=key,
                                        hint="give each process and decision a unique id"))
            items[key] = item
    return items, problems


def _order(items: dict[str, _Item]) -> tuple[list[str], list[Problem]]:
    order, state, problems = [], {}, []

    def visit(key, path):
        if state.get(key) == "done" or key not in items:
            return
        if state.get(key) == "visiting":
            problems.append(Problem(items[key].doc.filename, "processes call each other in a "
                                    "cycle: " + " -> ".join([*path, key]), element_id=key,
                                    hint="break the cycle; model repetition with a loop instead"))
            return
        state[key] = "visiting"
        for dep in sorted(items[key].deps):
            visit(dep, [*path, key])
        state[key] = "done"
        order.append(key)

    for key in sorted(items):
        visit(key, [])
    return order, problems


def deploy(session: Session, files: list[tuple[str, bytes]], *, actor: str | None,
           at: datetime, forms: FormRegistry, max_bytes: int,
           lane_mapping: dict[str, str] | None = None) -> DeployResult:
    """Validate every file, then record a new version of each process that changed.

    `lane_mapping` (lane name -> group key) gives a group to lanes whose name is no group's;
    each version keeps the entries naming its lanes. A refusal because of such lanes lists
    them in `DeploymentRejected.unmapped_lanes`."""
    lane_mapping = dict(lane_mapping or {})
    documents, problems = read_documents(files, max_bytes)
    if not files:
        problems.append(Problem("(upload)", "no file to deploy"))
    items, item_problems = _items(documents)
    problems.extend(item_problems)
    deployed = _deployed_latest(session)
    known_processes = {k for k, i in items.items() if i.kind == "bpmn"} | {
        k for k, v in deployed.items() if v.kind == "bpmn"}
    known_decisions = {k for k, i in items.items() if i.kind == "dmn"} | {
        k for k, v in deployed.items() if v.kind == "dmn"}
    not_executable = {p.get("id") for doc in documents if doc.kind == "bpmn"
                      for p in doc.root.iterfind(f"{B}process") if not is_executable(p)}
    warnings: list[Problem] = []
    for doc in documents:
        problems.extend(lint_bpmn(doc, forms, known_processes, known_decisions, not_executable)
                        if doc.kind == "bpmn" else lint_dmn(doc))
        warnings.extend(warnings_for(doc))
    unmapped = _lint_offers(session, documents, lane_mapping, problems)
    if problems:
        raise DeploymentRejected(problems, unmapped_lanes=unmapped)
    uploaded = set(items)
    # Processes already deployed that call what changes get a version pinned to the new one.
    items.update(_dependents(items, deployed, max_bytes))
    order, cycle_problems = _order(items)
    problems.extend(cycle_problems)
    if problems:
        raise DeploymentRejected(problems)

    # Let SpiffWorkflow build every process before anything is written.
    for key in order:
        item = items[key]
        if item.kind != "bpmn":
            continue
        docs = _documents_for(key, items, deployed)
        try:
            spiff.compile_process(key, docs)
        except spiff.ParserErrors as exc:
            problems.append(spiff.translate_parser_error(exc, item.doc.filename))
    if problems:
        raise DeploymentRejected(problems)

    result = DeployResult(warnings=warnings)
    hashes: dict[str, str] = {k: v.content_hash for k, v in deployed.items()}
    version_ids: dict[str, int] = {k: v.id for k, v in deployed.items()}
    for key in order:
        item = items[key]
        source_hash = _sha(item.doc.content)
        dep_hashes = "".join(f"{d}={hashes[d]};" for d in sorted(item.deps))
        # the lane mapping is part of what a version does: another mapping, another version
        mapping = (lanes.mapping_for(lanes.process_element(item.doc.root, key), lane_mapping)
                   if key in uploaded else dict(deployed[key].lane_mapping or {}))
        lanes_hash = f":lanes={sorted(mapping.items())}" if mapping else ""
        content_hash = _sha(f"{item.kind}:{key}:{source_hash}:{dep_hashes}{lanes_hash}")
        existing = session.scalar(select(ProcessVersion).where(
            ProcessVersion.process_key == key, ProcessVersion.content_hash == content_hash))
        if existing is not None:
            hashes[key], version_ids[key] = content_hash, existing.id
            result.items.append(DeployedItem(key, item.kind, existing.version, existing.id, False,
                                             item.doc.filename))
            continue
        number = (session.scalar(select(func.max(ProcessVersion.version)).where(
            ProcessVersion.process_key == key)) or 0) + 1
        version = ProcessVersion(
            process_key=key, kind=item.kind, name=item.name, version=number,
            filename=item.doc.filename, source=item.doc.content.decode("utf-8"),
            source_hash=source_hash, content_hash=content_hash,
            dependencies={d: version_ids[d] for d in sorted(item.deps)},
            start_message=item.start_message, lane_mapping=mapping, deployed_by=actor,
            deployed_at=at)
        session.add(version)
        session.flush()
        hashes[key], version_ids[key] = content_hash, version.id
        result.items.append(DeployedItem(key, item.kind, number, version.id, True, item.doc.filename))
        audit.append(session, type="version_deployed", actor=actor, at=at, payload={
            "process_key": key, "kind": item.kind, "version": number,
            "content_hash": content_hash, "filename": item.doc.filename,
            "dependencies": version.dependencies})
    return result


def _lint_offers(session: Session, documents: list[Document], lane_mapping: dict[str, str],
                 problems: list[Problem]) -> list[lanes.UnmappedLane]:
    """Who each user and manual task is offered to (lanes.lint); the lanes left to map."""
    names = group_names(session)
    problems.extend(lanes.check_mapping(lane_mapping, names))
    unmapped: list[lanes.UnmappedLane] = []
    for doc in documents:
        if doc.kind != "bpmn":
            continue
        for process in doc.root.iterfind(f"{B}process"):
            if is_executable(process):
                found, left = lanes.lint(doc.filename, process, names, lane_mapping)
                problems.extend(found)
                unmapped.extend(left)
    return unmapped


def _dependents(items: dict[str, _Item], deployed: dict[str, ProcessVersion],
                max_bytes: int) -> dict[str, _Item]:
    """Deployed processes that call, directly or not, something in this deployment."""
    extra: dict[str, _Item] = {}
    changed = set(items)
    grew = True
    while grew:
        grew = False
        for key, version in deployed.items():
            if key in items or key in extra or version.kind != "bpmn":
                continue
            if set(version.dependencies) & changed:
                content = version.source.encode("utf-8")
                root = parse_xml(content, version.filename, max_bytes=max_bytes)
                doc = Document(version.filename, content, root, "bpmn")
                extra[key] = _Item(key, "bpmn", version.name, doc, set(version.dependencies),
                                   version.start_message)
                changed.add(key)
                grew = True
    return extra


def _documents_for(key: str, items: dict[str, _Item], deployed: dict[str, ProcessVersion]):
    """The parsed documents a process needs: its own file and those of what it calls."""
    seen_files: dict[str, etree._Element] = {}
    stack, visited = [key], set()
    while stack:
        current = stack.pop()
        if current in visited:
            continue
        visited.add(current)
        if current in items:
            item = items[current]
            seen_files.setdefault(item.doc.filename, item.doc.root)
            stack.extend(item.deps)
        elif current in deployed:
            version = deployed[current]
            seen_files.setdefault(f"{version.filename}#v{version.version}",
                                  parse_xml(version.source.encode(), version.filename))
            stack.extend(version.dependencies)
    return list(seen_files.items())
