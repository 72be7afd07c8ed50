"""The web application on the fixture engine, with CSRF on, and a world of users of every role."""

from __future__ import annotations

import pytest

from partnerflow.web import create_app
from tests.web.support import build_world, fast_passwords, login


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


@pytest.fixture
def world(fixture_pf):
    return build_world(fixture_pf)


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
