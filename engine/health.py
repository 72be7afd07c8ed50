"""Readiness: may this process take traffic? Database reachable, schema at the latest
migration, and the method (every process and decision of the BPMN folder) deployed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from . import spiff
from .bootstrap import Partnerflow
from .deployment import read_documents
from .migrate import alembic_config
from .models import ProcessVersion


@lru_cache(maxsize=1)
def migration_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@lru_cache(maxsize=8)
def _method_keys(folder: str, stamp: tuple) -> frozenset[str]:
    files = [(p.name, p.read_bytes()) for p in sorted(Path(folder).glob("*.bpmn"))
             + sorted(Path(folder).glob("*.dmn"))]
    documents, _problems = read_documents(files, max_bytes=50 * 1024 * 1024)
    keys: set[str] = set()
    for doc in documents:
        if doc.kind == "bpmn":
            keys |= set(spiff.read_processes(doc.root, doc.filename))
        else:
            keys |= set(spiff.read_decisions(doc.root))
    return frozenset(keys)


def method_keys(pf: Partnerflow) -> frozenset[str]:
    """The process and decision ids of the method folder (cached until a file changes)."""
    folder = Path(pf.settings.bpmn_dir)
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.*")))
    return _method_keys(str(folder), stamp)


def readiness_problems(pf: Partnerflow) -> list[str]:
    """Why this process should not take traffic yet; empty when it is ready."""
    try:
        with pf.db.connect() as conn:
            conn.execute(text("SELECT 1"))
            revision = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return [f"database unreachable: {str(exc).splitlines()[0][:200]}"]
    problems = []
    head = migration_head()
    if revision != head:
        problems.append(f"database schema at {revision or 'nothing'}, expected {head}: "
                        "run `partnerflow db upgrade`")
        return problems
    wanted = method_keys(pf)
    with pf.read() as session:
        deployed = set(session.scalars(select(ProcessVersion.process_key).where(
            ProcessVersion.process_key.in_(wanted)).distinct()))
    missing = sorted(wanted - deployed)
    if not wanted:
        problems.append(f"no process found in {pf.settings.bpmn_dir}")
    elif missing:
        problems.append(f"method not deployed ({', '.join(missing[:5])}"
                        f"{'…' if len(missing) > 5 else ''}): run `partnerflow deploy`")
    return problems
