"""Who the engine reads a person as, from the database: today's absences (the colleagues a
deputy stands in for, and who is away), and why a diagram's assignee cannot be given a task
of a partnership."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from partnerflow.engine import access
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import Absence, User
from tests.conftest import make_user


def _user_id(session, username: str) -> int:
    return session.scalar(select(User.id).where(User.username == username))


def _absence(pf, clock, absent: str, deputy: str, days: int = 3) -> None:
    with pf.uow() as uow:
        session = uow.session
        today = access.today(session)
        session.add(Absence(user_id=_user_id(session, absent), deputy_id=_user_id(session, deputy),
                            starts_on=today, ends_on=today + timedelta(days=days),
                            created_by="claire", created_at=clock()))
        uow.commit()


def test_a_deputy_stands_in_today_for_the_colleagues_who_named_them_only(pf, clock):
    for username, role in (("claire", "direction"), ("hugo", "direction"),
                           ("sophie", "professional"), ("karim", "professional")):
        make_user(pf, username, role)
    _absence(pf, clock, "claire", "sophie")
    _absence(pf, clock, "hugo", "karim")  # another deputy: not sophie's to cover
    with pf.read() as session:
        sophie = access.actor(session, "sophie")
        assert [a.username for a in sophie.standing_in_for] == ["claire"]
        # the colleague stood in for is read with their own groups
        assert sophie.standing_in_for[0].roles == frozenset({"direction"})
        assert not sophie.absent
        claire = access.actor(session, "claire")
        assert claire.absent and claire.standing_in_for == ()
        assert access.actor_of(session, session.scalar(
            select(User).where(User.username == "karim"))).standing_in_for[0].username == "hugo"


def test_an_assignee_is_refused_by_name_when_unknown_deactivated_or_outside_the_partnership(pf):
    make_user(pf, "claire", "direction")
    make_user(pf, "paul", "partner")
    make_user(pf, "nadia", "partner")
    make_user(pf, "ancien", "professional")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Réseau santé", actor="claire")
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=pid, username="paul", actor="claire")
    with pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == "ancien")).active = False
        uow.commit()
    with pf.read() as session:
        assert access.unassignable(session, "personne", pid) == "compte inconnu"
        assert access.unassignable(session, "ancien", pid) == "compte désactivé"
        assert access.unassignable(session, "nadia", pid) == \
            "compte partenaire non rattaché au partenariat"
        assert access.unassignable(session, "paul", pid) is None
        assert access.unassignable(session, "claire", pid) is None


def test_what_is_told_to_someone_away_goes_to_their_active_deputy_until_the_absence_ends(pf, clock):
    for username, role in (("claire", "direction"), ("hugo", "direction"),
                           ("sophie", "professional"), ("karim", "professional")):
        make_user(pf, username, role)
    _absence(pf, clock, "claire", "sophie", days=3)
    _absence(pf, clock, "hugo", "karim", days=5)
    with pf.uow() as uow:  # a deputy whose account was closed since is told nothing
        uow.session.scalar(select(User).where(User.username == "karim")).active = False
        uow.commit()
    with pf.read() as session:
        found = access.deputies_of(session, ["claire", "hugo", "sophie", "claire"])
        assert list(found) == ["claire"]
        deputy, ends_on = found["claire"]
        assert deputy.username == "sophie" and ends_on == access.today(session) + timedelta(days=3)
        assert access.deputies_of(session, []) == {}
