"""A partnership's steering committee: joint, with members from each party, as the
convention composes it (the `steering_committee` rows of the convention form).

The `partnership.committee` connector records it on the partnership when the action sheets
begin and reads it back in the processes that come later (an action sheet's evaluation);
the steering tasks of the diagrams are offered to its members who have an account
(`camunda:candidateUsers="${steering_committee_users}"`) and to the direction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from partnerflow.engine import access, audit
from partnerflow.engine.store.models import CommitteeMember, User

SIDES = {"ours": "Notre organisation", "partner": "Partenaire"}


class CommitteeProblem(ValueError):
    """What is wrong with a committee as given, in French."""


@dataclass(frozen=True)
class Member:
    full_name: str
    side: str
    organisation: str | None
    function: str | None
    username: str | None

    @property
    def party(self) -> str:
        return self.organisation or SIDES.get(self.side, self.side)


def _text(value, limit: int) -> str | None:
    text = " ".join(str(value).split()) if value not in (None, "") else ""
    return text[:limit] or None


def parse(rows) -> list[Member]:
    """The members as the convention gives them; CommitteeProblem names the first fault."""
    if not isinstance(rows, list) or not rows:
        raise CommitteeProblem("la convention ne compose pas de comité de pilotage "
                               "(champ « Comité de pilotage : ses membres »)")
    members = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise CommitteeProblem(f"le membre n° {number} du comité n'est pas une ligne du formulaire")
        name = _text(row.get("full_name"), 200)
        side = row.get("side")
        if not name:
            raise CommitteeProblem(f"le membre n° {number} du comité n'a pas de nom")
        if side not in SIDES:
            raise CommitteeProblem(f"le membre « {name} » du comité n'est d'aucune partie "
                                   "(notre organisation ou le partenaire)")
        members.append(Member(name, side, _text(row.get("organisation"), 200),
                              _text(row.get("function"), 200), _text(row.get("account"), 80)))
    if len({m.side for m in members}) < 2:
        raise CommitteeProblem("le comité de pilotage est paritaire : il lui faut au moins un "
                               "membre de notre organisation et un membre du partenaire")
    return members


def record(session: Session, *, partnership_id: int, rows, actor: str | None, at,
           instance_id: int | None = None, element_id: str | None = None) -> list[str]:
    """Write the committee on the partnership (replacing the one before when it changed)
    and return the accounts of its members. An account must be an active user; a partner
    representative must be attached to the partnership, or the committee's tasks would be
    offered to someone who may not open them."""
    members = parse(rows)
    users: dict[str, User] = {}
    for member in members:
        if member.username is None:
            continue
        user = session.scalar(select(User).where(User.username == member.username))
        if user is None or not user.active:
            raise CommitteeProblem(f"le compte « {member.username} » de {member.full_name} "
                                   "n'existe pas ou est désactivé")
        who = access.actor_of(session, user)
        if access.is_partner_representative(who) and partnership_id not in who.partnership_ids:
            raise CommitteeProblem(
                f"{member.full_name} ({member.username}) n'est pas rattaché(e) au partenariat : "
                "rattachez son compte depuis la page du partenariat, puis relancez")
        if access.is_partner_representative(who) and member.side != "partner":
            raise CommitteeProblem(f"{member.full_name} ({member.username}) a un compte partenaire "
                                   "mais figure pour notre organisation")
        users[member.username] = user
    before = members_of(session, partnership_id)
    if before != members:
        session.execute(delete(CommitteeMember).where(CommitteeMember.partnership_id == partnership_id))
        for position, member in enumerate(members, start=1):
            user = users.get(member.username or "")
            session.add(CommitteeMember(partnership_id=partnership_id, position=position,
                                        full_name=member.full_name, party=member.party,
                                        side=member.side, function=member.function,
                                        user_id=user.id if user else None))
        audit.append(session, type="committee_recorded", actor=actor, at=at,
                     partnership_id=partnership_id, instance_id=instance_id, element_id=element_id,
                     payload={"members": [{"full_name": m.full_name, "party": m.party,
                                           "function": m.function, "user": m.username}
                                          for m in members]})
        session.flush()
    return accounts(members)


def accounts(members: list[Member]) -> list[str]:
    return list(dict.fromkeys(m.username for m in members if m.username))


def members_of(session: Session, partnership_id: int) -> list[Member]:
    """The committee recorded on the partnership, in the convention's order."""
    rows = session.execute(
        select(CommitteeMember, User.username).outerjoin(User, User.id == CommitteeMember.user_id)
        .where(CommitteeMember.partnership_id == partnership_id)
        .order_by(CommitteeMember.position)).all()
    return [Member(m.full_name, m.side, m.party if m.party != SIDES.get(m.side) else None,
                   m.function, username) for m, username in rows]

