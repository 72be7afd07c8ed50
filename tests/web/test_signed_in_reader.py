"""A signed-in reader is kept by each web process while nothing about their account moved:
whatever changes it, through this process or another one on the same database, takes effect
at their next request (an account deactivated or signed out everywhere is refused at once,
a group or an absence shows at once), and a kept reader costs one statement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from partnerflow.engine import access
from partnerflow.engine.access import accounts
from partnerflow.engine.runtime import discussion
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import User
from tests.web.support import text_of


@pytest.fixture
def elsewhere(fixture_pf):
    """The admin's side: another engine and application on the same database, as another
    gunicorn worker or host would be."""
    other = Partnerflow(fixture_pf.settings, clock=fixture_pf.clock)
    yield other
    other.dispose()


def _signed_in(client) -> bool:
    response = client.get("/")
    return response.status_code == 200


def _statements(pf, fn):
    seen = []

    def on(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(pf.db, "before_cursor_execute", on)
    try:
        fn()
    finally:
        event.remove(pf.db, "before_cursor_execute", on)
    return seen


def test_a_kept_reader_costs_one_statement_and_sees_their_inbox(world, as_user):
    client = as_user("claire")
    client.get("/")
    reads = _statements(world.pf, lambda: client.get("/"))
    assert not [s for s in reads if "FROM app_user" in s or "FROM partnership_member" in s]
    assert len([s for s in reads if "inbox_version" in s]) == 1
    assert "Relire le document" in text_of(client.get("/"))


@pytest.mark.parametrize("change", ["deactivated", "signed_out_everywhere", "epoch_by_statement"])
def test_an_account_refused_elsewhere_is_refused_at_its_next_request(world, as_user, elsewhere, change):
    client = as_user("sophie")
    assert _signed_in(client) and _signed_in(client)  # kept from here on
    with elsewhere.uow() as uow:
        user = uow.session.scalar(select(User).where(User.username == "sophie"))
        if change == "deactivated":
            accounts.set_active(uow, username="sophie", active=False, actor="ines")
        elif change == "signed_out_everywhere":
            accounts.end_sessions(uow, user_id=user.id)
        else:
            uow.session.execute(update(User).where(User.id == user.id)
                                .values(session_epoch=User.session_epoch + 1))
        uow.commit()
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/connexion")


def test_a_group_given_elsewhere_and_an_absence_show_at_the_next_request(world, as_user, elsewhere):
    client = as_user("sophie")
    assert "Tableau de bord" not in text_of(client.get("/"))
    client.get("/")
    with elsewhere.uow() as uow:
        accounts.set_roles(uow, username="sophie", roles=["professional", "direction"], actor="ines")
        uow.commit()
    page = text_of(client.get("/"))
    assert "Relire le document" in page  # the direction's review, offered to her group now
    with elsewhere.uow() as uow:
        today = access.today(uow.session)
        discussion.declare_absence(uow, actor="sophie", starts_on=today,
                                   ends_on=today + timedelta(days=2), deputy="sarah")
    assert "Vous êtes absent(e) du" in text_of(client.get("/"))


def test_another_day_reads_the_reader_again(world, as_user):
    client = as_user("claire")
    client.get("/")
    world.pf.clock.advance(days=1)
    reads = _statements(world.pf, lambda: client.get("/"))
    assert any("app_user.session_epoch" in s for s in reads)
