"""Deploying BPMN/DMN: refuse anything unsafe or broken, then version what changed.

SpiffWorkflow finds a broken condition, a missing form or an unknown decision only
when an instance reaches it. Everything that can be checked before is checked
(diagrams.py), and every problem names the file, the element and what to change. Deployed
versions are parsed once into runnable specs and cached (the catalog); what changed
between two versions is listed element by element."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnerflow.engine import audit, spiff
from partnerflow.engine.access import groups
from partnerflow.engine.access.groups import GroupNames, resolve_groups, role_for_lane
from partnerflow.engine.errors import N_, DeploymentRejected, NotFound, Problem
from partnerflow.engine.runtime.diagrams import (
    B,
    Document,
    is_executable,
    lint_bpmn,
    lint_dmn,
    parse_xml,
    read_documents,
    warnings_for,
)
from partnerflow.engine.runtime.forms import FormRegistry
from partnerflow.engine.store.models import Group, ProcessVersion

# --- Deployed versions as runnable specs, parsed once per version and cached.

class Catalog:
    """Maps a version id to its CompiledProcess; the XML is stored once per version."""

    def __init__(self, max_entries: int = 64):
        self._cache: OrderedDict[int, spiff.CompiledProcess] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def compiled(self, session: Session, version_id: int) -> spiff.CompiledProcess:
        with self._lock:
            if version_id in self._cache:
                self._cache.move_to_end(version_id)
                return self._cache[version_id]
        version = session.get(ProcessVersion, version_id)
        if version is None:
            raise NotFound(f"process version {version_id} does not exist")
        documents = self._documents(session, version)
        compiled = spiff.compile_process(version.process_key, documents)
        _resolve_groups(session, compiled, self._lane_mapping(session, version))
        with self._lock:
            self._cache[version_id] = compiled
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return compiled

    def _lane_mapping(self, session: Session, version: ProcessVersion) -> dict[str, str]:
        """The lane mappings of the version and of what it calls (its own win)."""
        mapping: dict[str, str] = {}
        for dep_id in version.dependencies.values():
            dep = session.get(ProcessVersion, dep_id)
            if dep is not None and dep.id != version.id:
                mapping.update(self._lane_mapping(session, dep))
        return {**mapping, **(version.lane_mapping or {})}

    def _documents(self, session: Session, version: ProcessVersion):
        files: dict[str, object] = {}
        stack, seen = [version], set()
        while stack:
            current = stack.pop()
            if current.id in seen:
                continue
            seen.add(current.id)
            files.setdefault(current.source_hash,
                             (current.filename, parse_xml(current.source.encode(), current.filename)))
            for dep_id in current.dependencies.values():
                dep = session.get(ProcessVersion, dep_id)
                if dep is not None:
                    stack.append(dep)
        return list(files.values())


def _resolve_groups(session: Session, compiled: spiff.CompiledProcess, mapping: dict[str, str]) -> None:
    """Each user and manual task of the version gets the group keys it is offered to."""
    names = group_names(session)
    compiled.user_tasks = {
        key: replace(meta, groups=resolve_groups(lane=meta.lane, candidate_groups=meta.candidate_groups,
                                                 names=names, mapping=mapping),
                     lane_group=role_for_lane(meta.lane, names, mapping))
        for key, meta in compiled.user_tasks.items()}


def group_names(session: Session) -> GroupNames:
    """The organisation's groups, for reading lane and candidate group names."""
    return GroupNames([tuple(r) for r in session.execute(
        select(Group.key, Group.label_fr, Group.label_en)).all()])


def latest_version(session: Session, process_key: str) -> ProcessVersion:
    version = session.scalar(
        select(ProcessVersion).where(ProcessVersion.process_key == process_key)
        .order_by(ProcessVersion.version.desc()).limit(1))
    if version is None:
        raise NotFound(f"no deployed process '{process_key}'; run `partnerflow deploy` first")
    return version


def version_for_start_message(session: Session, message: str) -> ProcessVersion | None:
    """The latest version of the process whose message start event catches `message`."""
    latest = (select(ProcessVersion.process_key, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_key).subquery())
    return session.scalar(
        select(ProcessVersion).join(latest, (ProcessVersion.process_key == latest.c.process_key)
                                    & (ProcessVersion.version == latest.c.v))
        .where(ProcessVersion.start_message == message).limit(1))


# --- What changed between two versions of a process: elements added, removed and changed.

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass
class VersionDiff:
    added: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (id, name): not drawable
    changed: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


def _elements(source: str, filename: str) -> dict[str, etree._Element]:
    """Every semantic element with an id (the diagram's drawing is left out)."""
    root = parse_xml(source.encode("utf-8"), filename)
    found = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN:
            continue
        element_id = element.get("id")
        if element_id and etree.QName(element).localname not in ("definitions", "laneSet"):
            found[element_id] = element
    return found


def _signature(element: etree._Element) -> bytes:
    """The element's own content: its attributes and children, ids of nested elements aside."""
    copy = etree.fromstring(etree.tostring(element))
    for child in list(copy):
        if isinstance(child.tag, str) and child.get("id") and etree.QName(child).localname not in (
                "conditionExpression", "timerEventDefinition", "messageEventDefinition"):
            copy.remove(child)  # nested flow elements are compared on their own
    return etree.tostring(copy, method="c14n")


def diff_sources(old: str, new: str, filename: str) -> VersionDiff:
    before, after = _elements(old, filename), _elements(new, filename)
    result = VersionDiff()
    for element_id, element in after.items():
        result.names[element_id] = element.get("name") or element_id
        if element_id not in before:
            result.added.append(element_id)
        elif _signature(before[element_id]) != _signature(element):
            result.changed.append(element_id)
    result.removed = [(eid, el.get("name") or eid) for eid, el in before.items() if eid not in after]
    return result


# --- Deploying BPMN/DMN: refuse anything unsafe or broken, then version what changed.

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
    # the names of the file's elements per language (spiff.read_names)
    names: dict = field(default_factory=dict)


def _items(documents: list[Document]) -> tuple[dict[str, _Item], list[Problem]]:
    items: dict[str, _Item] = {}
    problems = []
    for doc in documents:
        if doc.kind == "bpmn":
            names = spiff.read_names(doc.root)
            found = {k: _Item(k, "bpmn", i.name, doc, i.calls | i.decisions, i.start_message, names)
                     for k, i in spiff.read_processes(doc.root, doc.filename).items()
                     if i.executable}
        else:
            decisions = spiff.read_decisions(doc.root)
            names = {k: {"fr": n} for k, n in decisions.items() if n}
            found = {k: _Item(k, "dmn", n, doc, set(), names=names) for k, n in decisions.items()}
        for key, item in found.items():
            if key in items:
                problems.append(Problem.of(
                    doc.filename, N_("« %(key)s » est aussi défini dans %(other)s"), element_id=key,
                    key=key, other=items[key].doc.filename,
                    hint=N_("donnez à chaque processus et à chaque décision un identifiant unique")))
            items[key] = item
    return items, problems


def _order(items: dict[str, _Item]) -> tuple[list[str], list[Problem]]:
    order, state, problems = [], {}, []

    def visit(key, path):
        if state.get(key) == "done" or key not in items:
            return
        if state.get(key) == "visiting":
            problems.append(Problem.of(
                items[key].doc.filename, N_("des processus s’appellent en cycle : %(path)s"),
                element_id=key, path=" -> ".join([*path, key]),
                hint=N_("cassez le cycle ; modélisez la répétition par une boucle")))
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
        problems.append(Problem.of("(envoi)", N_("aucun fichier à déployer")))
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
        mapping = (groups.mapping_for(groups.process_element(item.doc.root, key), lane_mapping)
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
            start_message=item.start_message, lane_mapping=mapping, names=item.names,
            deployed_by=actor, deployed_at=at)
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
                 problems: list[Problem]) -> list[groups.UnmappedLane]:
    """Who each user and manual task is offered to (groups.lint); the lanes left to map."""
    names = group_names(session)
    problems.extend(groups.check_mapping(lane_mapping, names))
    unmapped: list[groups.UnmappedLane] = []
    for doc in documents:
        if doc.kind != "bpmn":
            continue
        for process in doc.root.iterfind(f"{B}process"):
            if is_executable(process):
                found, left = groups.lint(doc.filename, process, names, lane_mapping)
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
                                   version.start_message, spiff.read_names(root))
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
