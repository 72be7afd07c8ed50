"""Deployed versions as runnable specs, parsed once per version and cached."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import spiff
from .assignment import resolve_groups
from .errors import NotFound
from .models import Group, ProcessVersion
from .roles import GroupNames
from .xmlsafe import parse_xml


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
                                                 names=names, mapping=mapping))
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
