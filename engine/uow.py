"""The unit of work: one session, one transaction, one commit per use case."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    """`with engine.uow() as uow: ...; uow.commit()` — rolled back unless committed."""

    def __init__(self, session_factory: sessionmaker[Session], write: bool = True):
        self._factory = session_factory
        self._write = write
        self.session: Session
        # instances that stopped on an error during this unit of work (stepping.Incident)
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

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
        self.incidents.clear()
        if self._write:
            # the next transaction writes again (on SQLite: BEGIN IMMEDIATE once more)
            self.session.connection(execution_options={"partnerflow_write": True})
