"""/health tells an anonymous caller `ok` or `unavailable`, nothing more; the figures and the
database error are for administrators (and the server log)."""

from __future__ import annotations

import logging

import pytest

from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.web import create_app

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


@pytest.fixture
def down(fixture_pf):
    engine = Partnerflow(fixture_pf.settings.with_(database_url=UNREACHABLE))
    yield engine
    engine.dispose()


def test_an_anonymous_caller_gets_ok_only_and_an_administrator_the_figures(client, world,
                                                                            as_user):
    response = client.get("/health")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
    body = as_user("ines").get("/health").get_json()
    assert body["status"] == "ok" and body["partnerships"] == 2 and "open_tasks" in body


def test_an_anonymous_caller_gets_unavailable_without_the_database_error(down, caplog):
    with caplog.at_level(logging.WARNING):
        response = create_app(partnerflow=down, TESTING=True).test_client().get("/health")
    assert (response.status_code, response.get_json()) == (503, {"status": "unavailable"})
    assert "127.0.0.1" not in response.get_data(as_text=True)
    # the operator still learns why, from the log
    assert any("127.0.0.1" in r.getMessage()
               for r in caplog.records if r.name == "partnerflow.health")


@pytest.mark.parametrize("username", ["paul", "claire", "alice"])
def test_signed_in_users_who_do_not_administer_get_the_same_short_answer(as_user, world, username):
    response = as_user(username).get("/health")
    assert response.get_json() == {"status": "ok"}


def test_ready_does_not_hand_out_the_database_error_either(down):
    response = create_app(partnerflow=down, TESTING=True).test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["reasons"][0].startswith("database unreachable")
    assert "127.0.0.1" not in response.get_data(as_text=True)
