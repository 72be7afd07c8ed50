"""Fixtures: a migrated database (SQLite file, or PostgreSQL with --db=postgresql), an
engine with a hand-moved clock, users, and the deployment helpers."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from partnerflow.engine.access import accounts
from partnerflow.engine.config import ManualClock, Settings
from partnerflow.engine.runtime import deployment, inbox_actions, notifications
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store import upgrade
from partnerflow.engine.store.models import Base

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# an explicit key of the required length: the built-in one is refused by the serving entry points
TEST_SECRET_KEY = "test-session-key-" + "k" * 32
PG_ADMIN_URL = os.environ.get("PARTNERFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pytest_addoption(parser):
    parser.addoption("--db", default="sqlite", choices=("sqlite", "postgresql"),
                     help="database the integration tests run on")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: only meaningful on SQLite")


@pytest.fixture(scope="session")
def db_kind(request) -> str:
    return request.config.getoption("--db")


@pytest.fixture(scope="session")
def database_url(db_kind, tmp_path_factory):
    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'partnerflow.db'}"
        upgrade(url)
        yield url
        return
    import psycopg

    name = f"partnerflow_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # a throwaway database: commits need not wait for the disk (a crash loses the test run,
        # never a result the tests check)
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                     (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _wipe(pf: Partnerflow) -> None:
    with pf.db.begin() as conn:
        if pf.db.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    with pf.uow() as uow:  # the method's groups, as the migration seeds them
        accounts.ensure_method_groups(uow.session)
        inbox_actions.ensure_shared_filters(uow.session, datetime.now(UTC))
        uow.commit()


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url):
    return Settings(database_url=database_url, step_time_limit_s=2.0, secret_key=TEST_SECRET_KEY)


@pytest.fixture
def pf(settings, clock):
    engine = Partnerflow(settings, clock=clock)
    _wipe(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def fixture_pf(settings, clock):
    """An engine whose forms come from tests/fixtures/forms (small test diagrams)."""
    engine = Partnerflow(settings.with_(forms_dir=FIXTURES / "forms", bpmn_dir=FIXTURES), clock=clock)
    _wipe(engine)
    yield engine
    engine.dispose()


def deploy(pf: Partnerflow, files, actor: str = "designer"):
    """Deploy (name, bytes) pairs or paths; returns the DeployResult."""
    payload = [(Path(f).name, Path(f).read_bytes()) if not isinstance(f, tuple) else f for f in files]
    with pf.uow() as uow:
        result = deployment.deploy(uow.session, payload, actor=actor, at=uow.clock(),
                                   forms=pf.forms, max_bytes=pf.settings.max_upload_bytes)
        uow.commit()
    return result


def announce(pf: Partnerflow) -> int:
    """What the worker does after each step: tell whoever may act on each new task."""
    with pf.uow() as uow:
        return notifications.announce_new_tasks(uow, limit=10_000)


def make_user(pf: Partnerflow, username: str, *roles: str, password: str | None = None) -> str:
    with pf.uow() as uow:
        accounts.create_user(uow, username=username, full_name=username.replace(".", " ").title(),
                             roles=list(roles), actor=None, password=password)
    return username


@pytest.fixture
def signing(pf):
    """A convention written by claire (direction, with the web tests' password),
    waiting for her signature: (engine, id of the signature task)."""
    from partnerflow.engine.runtime import queries, services
    from tests.integration.test_convention import CONVENTION
    from tests.web.support import PASSWORD

    deploy(pf, [FIXTURES / "signing.bpmn"])
    make_user(pf, "claire", "direction", password=PASSWORD)
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Consultations avancées", actor="claire")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="signing", actor="claire")

    def open_tasks():
        with pf.read() as db:
            return [t.id for t in queries.tasks_of_partnership(db, pid)]

    [write] = open_tasks()
    with pf.uow() as uow:
        services.complete_task(uow, task_id=write, actor="claire", data=CONVENTION)
    [sign] = open_tasks()
    return pf, sign
