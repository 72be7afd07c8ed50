"""Liveness (does the database answer?) and readiness (may this process take traffic?
Database reachable, schema at the latest migration, the method (every process and decision
of the BPMN folder) deployed, and a session signing key fit to serve)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from . import signing_key, spiff
from .bootstrap import Partnerflow
from .diagrams import read_documents
from .migrate import alembic_config
from .models import ProcessVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Liveness:
    """Whether the database answers; the figures and the error are for administrators only."""

    ok: bool
    figures: dict = field(default_factory=dict)
    error: str | None = None


def liveness(pf: Partnerflow) -> Liveness:
    try:
        with pf.read() as db:
            def count(table: str, where: str = "") -> int:
                return db.execute(text(f"SELECT count(*) FROM {table} {where}")).scalar_one()

            figures = {"db": pf.db.dialect.name, "versions": count("process_version"),
                       "partnerships": count("partnership"),
                       "open_tasks": count("human_task", "WHERE state = 'open'")}
    except Exception as exc:  # noqa: BLE001 - health reports, it does not crash
        error = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        log.warning("health check: the database does not answer: %s", error)
        return Liveness(False, error=error)
    return Liveness(True, figures)


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


def readiness_problems(pf: Partnerflow, secret_key: str | bytes | None = None) -> list[str]:
    """Why this process should not take traffic yet; empty when it is ready. `secret_key` is
    the key that signs the sessions (the settings' one when not given)."""
    key = pf.settings.secret_key if secret_key is None else secret_key
    key_problem = signing_key.problem(key)
    problems = _database_and_method_problems(pf)
    return problems + ([key_problem] if key_problem else [])


def _database_and_method_problems(pf: Partnerflow) -> list[str]:
    try:
        with pf.db.connect() as conn:
            conn.execute(text("SELECT 1"))
            revision = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        # the driver's message names hosts and users: the log gets it, the public answer not
        log.warning("readiness check: the database does not answer: %s",
                    (str(exc).splitlines() or [type(exc).__name__])[0][:200])
        return ["database unreachable (the reason is in the server log)"]
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
