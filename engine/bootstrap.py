"""Builds a Partnerflow engine: database, catalog, forms and clock, from settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from . import spiff
from .audit import bind_keys
from .auditkeys import AuditKeys
from .catalog import Catalog
from .clock import SystemClock
from .config import Settings
from .db import make_engine, make_session_factory
from .forms import FormRegistry
from .handlers import HANDLERS
from .queries import saved_forms
from .uow import UnitOfWork

SAVED_FORMS_TTL_S = 5.0


class EngineUnitOfWork(UnitOfWork):
    """A unit of work that also carries what the use cases need besides the database."""

    def __init__(self, partnerflow: Partnerflow, write: bool = True):
        super().__init__(partnerflow.sessions, write=write, handlers=HANDLERS)
        self.settings = partnerflow.settings
        self.catalog = partnerflow.catalog
        self.forms = partnerflow.forms
        self.clock = partnerflow.clock


class Partnerflow:
    """Everything the engine's use cases run against; made by a factory, never at import."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None):
        self.settings = settings
        self.db = make_engine(settings.database_url, echo=settings.sql_echo)
        self.sessions = make_session_factory(self.db)
        self.audit_keys = AuditKeys(settings)
        bind_keys(self.sessions, self.audit_keys)
        self.catalog = Catalog()
        self.forms = FormRegistry(settings.forms_dir, saved=self._saved_forms)
        self._saved_forms_cache: tuple[float, dict[str, dict]] = (0.0, {})
        self.clock = clock or SystemClock()
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

    def read(self) -> Session:
        """A session for queries: `with pf.read() as session: ...`."""
        return self.sessions()

    def method_files(self) -> list[tuple[str, bytes]]:
        """The BPMN and DMN files shipped in bpmn/, as deployed by `make run`."""
        folder = Path(self.settings.bpmn_dir)
        paths = sorted(folder.glob("*.bpmn")) + sorted(folder.glob("*.dmn"))
        return [(p.name, p.read_bytes()) for p in paths]

    def dispose(self) -> None:
        self.db.dispose()
