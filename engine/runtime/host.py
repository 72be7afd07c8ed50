"""The host: the engine built from settings (database, catalog, forms, clock, plugins), whether
it may take traffic, and the background worker.

Liveness asks whether the database answers; readiness whether this process may take
traffic: database reachable, schema at the latest migration, the method (every process and
decision of the BPMN folder) deployed, and a session signing key fit to serve.

The worker fires due timers, marks overdue tasks, runs the plugins' scheduled jobs (the
method's reminders), sends e-mails and digests. Every unit of work is a short transaction
of its own: one instance per timer firing, one e-mail per delivery. A worker killed at any
moment loses nothing and duplicates nothing: the transaction in flight rolls back and the
row is still due for the next worker (an e-mail handed to the SMTP server just before the
kill may be sent again: at-least-once).

PostgreSQL: run as many workers as you like; they claim due instances and e-mails with
SELECT ... FOR UPDATE SKIP LOCKED and re-check the claimed row under its lock.
SQLite: has no SKIP LOCKED; every write transaction starts with BEGIN IMMEDIATE, which
serialises writers, so several workers are safe but pointless (they take turns). Run one.

SIGTERM or SIGINT asks the worker to stop: it finishes the instance it is firing, then
`run()` returns (the command exits 0).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from partnerflow.engine import access, config, spiff
from partnerflow.engine.audit import AuditKeys, bind_keys
from partnerflow.engine.config import Settings, SystemClock
from partnerflow.engine.runtime import notifications, services
from partnerflow.engine.runtime.deployment import Catalog
from partnerflow.engine.runtime.diagrams import read_documents
from partnerflow.engine.runtime.events import HANDLERS
from partnerflow.engine.runtime.forms import FormRegistry
from partnerflow.engine.runtime.inbox_cache import InboxCache
from partnerflow.engine.runtime.queries import saved_forms
from partnerflow.engine.store import UnitOfWork, alembic_config, make_engine, make_session_factory
from partnerflow.engine.store.models import ProcessInstance, ProcessVersion, WorkerHeartbeat

# --- Builds a Partnerflow engine: database, catalog, forms, clock and plugins, from settings.

SAVED_FORMS_TTL_S = 5.0
PLUGIN_GROUP = "partnerflow.plugins"


@dataclass(frozen=True)
class Plugin:
    """What a plugin adds to the host, declared by an installed package under the entry-point
    group `partnerflow.plugins` (the partnership method is one: `partnerflow.engine.method`).

    Its module registers its connectors (runtime/connectors.py) when it is imported; `jobs`
    are the scheduled jobs the worker runs every round, each given a unit of work and
    returning how many things it started; `handlers` listen to the engine's events
    (runtime/events.py) after the host's own handlers, in the same transaction (the
    projections a plugin keeps)."""

    name: str
    jobs: dict[str, Callable[[EngineUnitOfWork], int]] = field(default_factory=dict)
    handlers: dict[type, list[Callable]] = field(default_factory=dict)


def all_handlers(plugins: tuple[Plugin, ...]) -> dict[type, list[Callable]]:
    """The host's event handlers, then each plugin's, by event type."""
    merged = {kind: list(found) for kind, found in HANDLERS.items()}
    for plugin in plugins:
        for kind, found in plugin.handlers.items():
            merged.setdefault(kind, []).extend(found)
    return merged


@lru_cache(maxsize=1)
def load_plugins() -> tuple[Plugin, ...]:
    """Every installed plugin, loaded once per process, in name order."""
    found = []
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        plugin = entry.load()
        if not isinstance(plugin, Plugin):
            raise TypeError(f"the entry point {entry.name} = {entry.value} of the group "
                            f"{PLUGIN_GROUP} must name a Plugin object")
        found.append(plugin)
    return tuple(found)


class _SharedReads:
    """The one read session of a request (Partnerflow.shared_reads), opened at its first read."""

    def __init__(self, owner: Partnerflow):
        self.owner = owner
        self._session: Session | None = None

    def session(self) -> Session:
        if self._session is None:
            self._session = self.owner.sessions()
        return self._session

    def renew(self) -> None:
        """After a write: the next read starts a new transaction (SQLite keeps a read's
        snapshot until its transaction ends), so it sees what was just committed."""
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


_shared_reads: ContextVar[_SharedReads | None] = ContextVar("partnerflow_shared_reads", default=None)


class EngineUnitOfWork(UnitOfWork):
    """A unit of work that also carries what the use cases need besides the database."""

    def __init__(self, partnerflow: Partnerflow, write: bool = True):
        super().__init__(partnerflow.sessions, write=write, handlers=partnerflow.handlers)
        self.settings = partnerflow.settings
        self.catalog = partnerflow.catalog
        self.forms = partnerflow.forms
        self.clock = partnerflow.clock
        self._owner = partnerflow

    def commit(self) -> None:
        super().commit()
        shared = _shared_reads.get()
        if shared is not None and shared.owner is self._owner:
            shared.renew()


class Partnerflow:
    """Everything the engine's use cases run against; made by a factory, never at import."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None):
        self.settings = settings
        self.db = make_engine(settings.database_url, echo=settings.sql_echo)
        self.sessions = make_session_factory(self.db)
        self.audit_keys = AuditKeys(settings)
        bind_keys(self.sessions, self.audit_keys)
        self.clock = clock or SystemClock()
        access.bind_clock(self.sessions, self.clock)  # the day absences are read on
        self.catalog = Catalog()
        self.forms = FormRegistry(settings.forms_dir, saved=self._saved_forms)
        self._saved_forms_cache: tuple[float, dict[str, dict]] = (0.0, {})
        self.plugins = load_plugins()
        # what each reader's inbox showed, while the versions of its keys hold (inbox_cache)
        self.inbox_cache = InboxCache(settings.inbox_cache_entries)
        self.handlers = all_handlers(self.plugins)
        spiff.configure_sandbox(settings.sandbox_workers, settings.sandbox_memory_mb)

    def _saved_forms(self) -> dict[str, dict]:
        """The newest browser-saved version of each form, cached for a few seconds so that
        every web process sees a save quickly without a query per field."""
        loaded_at, forms = self._saved_forms_cache
        if time.monotonic() - loaded_at < SAVED_FORMS_TTL_S:
            return forms
        with self.read() as session:
            forms = saved_forms(session)
        self._saved_forms_cache = (time.monotonic(), forms)
        return forms

    def forget_saved_forms(self) -> None:
        self._saved_forms_cache = (0.0, {})

    def uow(self, write: bool = True) -> EngineUnitOfWork:
        """A unit of work; `write=False` for use cases that only read (no write lock)."""
        return EngineUnitOfWork(self, write=write)

    def read(self) -> AbstractContextManager[Session]:
        """A session for queries: `with pf.read() as session: ...`; within `shared_reads`,
        the same session each time."""
        shared = _shared_reads.get()
        if shared is not None and shared.owner is self:
            return nullcontext(shared.session())
        return self.sessions()

    @contextmanager
    def shared_reads(self) -> Iterator[None]:
        """Every `read()` inside shares one session, so one connection from the pool: a web
        request's user, page and header are read together (a write in between renews it)."""
        shared = _SharedReads(self)
        token = _shared_reads.set(shared)
        try:
            yield
        finally:
            _shared_reads.reset(token)
            shared.close()

    def method_files(self) -> list[tuple[str, bytes]]:
        """The BPMN and DMN files shipped in bpmn/, as deployed by `make run`."""
        folder = Path(self.settings.bpmn_dir)
        paths = sorted(folder.glob("*.bpmn")) + sorted(folder.glob("*.dmn"))
        return [(p.name, p.read_bytes()) for p in paths]

    def dispose(self) -> None:
        self.db.dispose()


# --- Liveness and readiness.

health_log = logging.getLogger("partnerflow.health")


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
        health_log.warning("health check: the database does not answer: %s", error)
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
    key_problem = config.problem(key)
    problems = _database_and_method_problems(pf)
    if not problems and pf.settings.worker_stale_s > 0:
        problems += _worker_problems(pf)
    return problems + ([key_problem] if key_problem else [])


def _worker_problems(pf: Partnerflow) -> list[str]:
    """Timers, reminders and e-mails need a worker: the latest heartbeat must be recent."""
    with pf.read() as session:
        last = session.scalar(select(WorkerHeartbeat.beat_at).order_by(
            WorkerHeartbeat.beat_at.desc()).limit(1))
    if last is None:
        return ["no worker has reported yet: start `partnerflow worker`"]
    age = (pf.clock() - config.as_utc(last)).total_seconds()
    if age > pf.settings.worker_stale_s:
        return [f"the worker last reported {int(age)} s ago (more than "
                f"{int(pf.settings.worker_stale_s)} s): is `partnerflow worker` running?"]
    return []


def _database_and_method_problems(pf: Partnerflow) -> list[str]:
    try:
        with pf.db.connect() as conn:
            conn.execute(text("SELECT 1"))
            revision = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        # the driver's message names hosts and users: the log gets it, the public answer not
        health_log.warning("readiness check: the database does not answer: %s",
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


# --- The background worker: due timers, overdue tasks, scheduled reminders, e-mails, digests.

log = logging.getLogger("partnerflow.worker")

POISON_BACKOFF_S = 300.0


@dataclass
class RoundReport:
    """What one round did."""

    timers: int = 0
    timer_failures: int = 0
    announced: int = 0
    overdue: int = 0
    jobs: int = 0
    emails: int = 0
    digests: int = 0

    @property
    def busy(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


PURGE_EVERY_S = 3600.0
VERIFY_EVERY_S = 24 * 3600.0


class Worker:
    """Runs rounds until asked to stop; each step of a round is guarded on its own."""

    def __init__(self, pf: Partnerflow, *, mailer: notifications.Mailer | None = None,
                 timer_batch: int = 500, mail_batch: int = 200,
                 stop: threading.Event | None = None):
        self.pf = pf
        self.mailer = mailer if mailer is not None else notifications.mailer_for(pf.settings)
        self.timer_batch = timer_batch
        self.mail_batch = mail_batch
        self.stop = stop or threading.Event()
        self._failed: dict[int, float] = {}  # instance id -> monotonic time of its failure
        self.name = f"{socket.gethostname()}:{os.getpid()}"[:120]
        self._purged_at = -PURGE_EVERY_S  # the first round purges
        self._verified_at = -VERIFY_EVERY_S  # and verifies the audit log

    # ------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT finish the current instance, then stop the loop."""
        def ask_to_stop(signum, _frame) -> None:
            log.info("signal %s received: stopping after the current instance", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, ask_to_stop)
        signal.signal(signal.SIGINT, ask_to_stop)

    def run(self, *, interval_s: float = 5.0, once: bool = False) -> None:
        log.info("worker started (database %s)", self.pf.db.dialect.name)
        while not self.stop.is_set():
            report = self.run_round()
            if report.busy:
                log.info("round: %s", _describe(report), extra={"fired": report.timers})
            if once:
                break
            # a full batch means more may be due: go again at once
            if report.timers < self.timer_batch and report.emails < self.mail_batch:
                self.stop.wait(interval_s)
        log.info("worker stopped")

    def run_round(self) -> RoundReport:
        report = RoundReport()
        began = time.perf_counter()
        try:
            self._run_round(report)
        finally:
            self._guarded("heartbeat", 0, lambda: self._beat(report, began))
        return report

    def _beat(self, report: RoundReport, began: float) -> int:
        """Tell /ready and the metrics that this worker is alive, and how its round went."""
        with self.pf.uow() as uow:
            row = uow.session.get(WorkerHeartbeat, self.name)
            if row is None:
                row = WorkerHeartbeat(worker=self.name)
                uow.session.add(row)
            row.beat_at = uow.clock()
            row.round_ms = int((time.perf_counter() - began) * 1000)
            row.timers, row.emails = report.timers, report.emails
            uow.commit()
        return 0

    def _run_round(self, report: RoundReport) -> RoundReport:
        self._fire_timers(report)
        if self.stop.is_set():
            return report
        report.overdue = self._guarded("overdue", 0, self._flag_overdue)
        for plugin in self.pf.plugins:
            for name, job in plugin.jobs.items():
                report.jobs += self._guarded(f"{plugin.name}: {name}", 0,
                                             lambda job=job: self._run_job(job))
        # after the timers and the jobs, whose steps open tasks too; before the e-mails
        report.announced = self._guarded("announcements", 0, self._announce_tasks)
        if self.mailer is not None:
            report.emails = self._guarded("e-mails", 0, self._deliver_emails)
            report.digests = self._guarded("digests", 0, self._send_digests)
        if time.monotonic() - self._purged_at >= PURGE_EVERY_S:
            self._guarded("sign-in retention", 0, self._purge_sign_ins)
        if time.monotonic() - self._verified_at >= VERIFY_EVERY_S:
            self._guarded("audit verification", 0, self._verify_audit)
        return report

    def _verify_audit(self) -> int:
        """Verify every audit chain once a day (and at start): the audit pages show the
        result instead of verifying on each view. A broken chain is logged as an error."""
        from partnerflow.engine import audit

        with self.pf.uow() as uow:
            breaks = audit.verify_and_record(uow.session, actor="worker", at=uow.clock())
            uow.commit()
        self._verified_at = time.monotonic()
        for item in breaks:
            log.error("audit chain broken: %s", item)
        return len(breaks)

    def _purge_sign_ins(self) -> int:
        """Sign-in attempts and addresses are kept PARTNERFLOW_SIGN_IN_RETENTION_DAYS."""
        from partnerflow.engine.runtime import privacy

        with self.pf.uow() as uow:
            done = privacy.purge_sign_ins(uow, older_than_days=self.pf.settings.sign_in_retention_days)
        self._purged_at = time.monotonic()
        return done["attempts"]

    # ------------------------------------------------------------ steps

    def _skipped(self) -> frozenset[int]:
        now = time.monotonic()
        self._failed = {i: t for i, t in self._failed.items() if now - t < POISON_BACKOFF_S}
        return frozenset(self._failed)

    def _fire_timers(self, report: RoundReport) -> None:
        while report.timers < self.timer_batch and not self.stop.is_set():
            claimed: list[int] = []
            began = time.perf_counter()
            try:
                with self.pf.uow() as uow:
                    fired = services.fire_next_due_timer(uow, skip=self._skipped(), claimed=claimed)
            except Exception as exc:  # noqa: BLE001 - one instance must not stop the others
                report.timer_failures += 1
                instance_id = claimed[-1] if claimed else None
                if instance_id is None:
                    log.exception("claiming a due timer failed")
                    return
                self._failed[instance_id] = time.monotonic()
                log.error("firing the timer of instance %s failed: %s", instance_id, exc,
                          extra={"instance_id": instance_id, "error": str(exc)[:500]}, exc_info=True)
                continue
            if fired is None:
                return
            report.timers += 1
            self._log_fired(fired, began)

    def _log_fired(self, instance_id: int, began: float) -> None:
        with self.pf.read() as session:
            row = session.get(ProcessInstance, instance_id)
            partnership_id, status = (row.partnership_id, row.status) if row else (None, None)
        log.info("timer fired on instance %s (now %s)", instance_id, status,
                 extra={"instance_id": instance_id, "partnership_id": partnership_id,
                        "duration_ms": round((time.perf_counter() - began) * 1000, 1)})

    def _announce_tasks(self) -> int:
        announced = 0
        while not self.stop.is_set():
            with self.pf.uow() as uow:
                done = notifications.announce_new_tasks(uow, limit=self.mail_batch)
            announced += done
            if done < self.mail_batch:
                return announced
        return announced

    def _flag_overdue(self) -> int:
        with self.pf.uow() as uow:
            return notifications.flag_overdue(uow)

    def _run_job(self, job: Callable[[EngineUnitOfWork], int]) -> int:
        with self.pf.uow() as uow:
            started = job(uow)
            uow.commit()
        return started

    def _deliver_emails(self) -> int:
        sent = 0
        while sent < self.mail_batch and not self.stop.is_set():
            with self.pf.uow() as uow:
                if not notifications.deliver_next(uow, self.mailer):
                    break
            sent += 1
        return sent

    def _send_digests(self) -> int:
        with self.pf.read() as session:
            users = notifications.digest_recipients(session, self.pf.clock(),
                                                    self.pf.settings.digest_hour_utc)
        mailed = 0
        for username in users:
            if self.stop.is_set():
                break
            with self.pf.uow() as uow:
                mailed += notifications.send_digest(uow, self.mailer, username)
        return mailed

    def _guarded(self, what: str, default: int, fn) -> int:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the worker keeps running; the next round retries
            log.exception("worker step '%s' failed", what, extra={"error": str(exc)[:500]})
            return default


def _describe(report: RoundReport) -> str:
    return ", ".join(f"{f.name}={getattr(report, f.name)}" for f in fields(report)
                     if getattr(report, f.name))
