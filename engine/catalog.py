"""Deployed versions as runnable specs, parsed once per version and cached."""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import spiff
from .errors import NotFound
from .models import ProcessVersion
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
        with self._lock:
            self._cache[version_id] = compiled
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return compiled

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
