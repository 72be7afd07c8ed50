"""The store: database engines and sessions (SQLite in WAL mode with a busy timeout), the unit
of work, and the migrations run from code (`partnerflow db upgrade`, tests, startup).

The unit of work is one session, one transaction, one commit per use case. It also carries
what happened during the use case (runtime/events.py): `publish` records an event, and
`commit` hands every recorded event, in order, to its handlers in the same transaction
before committing (a handler may publish more). A rollback forgets them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# --- Database engines and sessions; SQLite runs in WAL mode with a busy timeout.

def make_engine(url: str, echo: bool = False) -> Engine:
    """Create a SQLAlchemy engine; a SQLite file's folder is created when missing."""
    parsed = make_url(url)
    kwargs: dict = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver callback
        # pysqlite's own transaction handling defers BEGIN; take the write lock at BEGIN
        # instead so two writers queue on busy_timeout rather than failing mid-transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - driver callback
        # Writers take the lock at BEGIN (they queue on busy_timeout); readers stay deferred
        # so WAL lets them read while a writer works.
        mode = "IMMEDIATE" if conn.get_execution_options().get("partnerflow_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


# --- The unit of work: one session, one transaction, one commit per use case.

MAX_EVENTS_PER_COMMIT = 100_000  # a handler publishing in a loop stops with a clear error


class UnitOfWork:
    """`with engine.uow() as uow: ...; uow.commit()` — rolled back unless committed."""

    def __init__(self, session_factory: sessionmaker[Session], write: bool = True,
                 handlers: Mapping[type, list[Callable]] | None = None):
        self._factory = session_factory
        self._write = write
        self._handlers = handlers or {}
        self._pending: list = []
        self.session: Session
        # instances that stopped on an error during this unit of work (events.IncidentRaised)
        self.incidents: list = []

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        if self._write:
            # On SQLite this takes the write lock at BEGIN (see db.py); elsewhere a no-op.
            self.session.connection(execution_options={"partnerflow_write": True})
        return self

    def __exit__(self, *exc) -> None:
        self.session.rollback()
        self.session.close()

    def publish(self, *events) -> None:
        self._pending.extend(events)

    def handle_events(self) -> None:
        """Hand the recorded events to their handlers, oldest first, until none is left."""
        handled = 0
        while self._pending:
            event = self._pending.pop(0)
            handled += 1
            if handled > MAX_EVENTS_PER_COMMIT:
                raise RuntimeError(f"more than {MAX_EVENTS_PER_COMMIT} events in one unit of work")
            for handler in self._handlers.get(type(event), ()):
                handler(self, event)

    def commit(self) -> None:
        self.handle_events()
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
        self._pending.clear()
        self.incidents.clear()
        if self._write:
            # the next transaction writes again (on SQLite: BEGIN IMMEDIATE once more)
            self.session.connection(execution_options={"partnerflow_write": True})


# --- Running the Alembic migrations from code (`partnerflow db upgrade`, tests, startup).

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev
