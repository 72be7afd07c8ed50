"""The unit of work: one session, one transaction, one commit per use case.

It also carries what happened during the use case (events.py): `publish` records an
event, and `commit` hands every recorded event, in order, to its handlers in the same
transaction before committing (a handler may publish more). A rollback forgets them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session, sessionmaker

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
