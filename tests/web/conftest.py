"""The web application on the fixture engine, with CSRF on, and a world of users of every role."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from partnerflow.web import create_app
from tests.web.support import build_world, fast_passwords, login

# The world each test starts from, built once per worker and database: a copy of its SQLite
# file (and the diagrams it compiled) is laid over the test's database instead of building it
# again (deploying three diagrams, eleven users, two partnerships: most of a web test's time).
_WORLDS: dict[tuple, tuple] = {}


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    fast_passwords(monkeypatch)


@pytest.fixture
def app(fixture_pf):
    app = create_app(partnerflow=fixture_pf, TESTING=True)
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def _sqlite_copy(pf, path, *, keep: bool) -> None:
    """`keep`: copy the engine's database into `path`; else lay `path` over the database."""
    raw = pf.db.raw_connection()
    other = sqlite3.connect(path)
    try:
        if keep:
            raw.driver_connection.backup(other)
        else:
            other.backup(raw.driver_connection)
    finally:
        other.close()
        raw.close()


@pytest.fixture
def world(fixture_pf, tmp_path_factory):
    pf = fixture_pf
    if pf.db.dialect.name != "sqlite":
        return build_world(pf)
    key = (pf.settings.database_url, str(pf.settings.forms_dir), pf.clock())
    kept = _WORLDS.get(key)
    if kept is None:
        built = build_world(pf)
        path = tmp_path_factory.mktemp("world") / "world.db"
        _sqlite_copy(pf, path, keep=True)
        _WORLDS[key] = (path, replace(built, pf=None, extra={}), dict(pf.catalog._cache))
        return built
    path, template, compiled = kept
    _sqlite_copy(pf, path, keep=False)
    pf.catalog._cache.update(compiled)
    return replace(template, pf=pf, extra={})


@pytest.fixture
def as_user(app, world):
    """`as_user("claire")`: a fresh client signed in as that user (None: anonymous)."""

    def make(username: str | None):
        client = app.test_client()
        if username is not None:
            response = login(client, username)
            assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make
