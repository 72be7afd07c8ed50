"""The demo organisation: an association running an EHPAD and an IME, its people, its
partners, and partnerships at several stages of the method. Loading twice changes nothing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from partnerflow.engine import audit
from partnerflow.engine.access import accounts
from partnerflow.engine.method import plan
from partnerflow.engine.runtime import deployment, queries
from partnerflow.engine.store.models import Organisation, Partnership, ProcessVersion, User

DEMO_PASSWORD = "demo"

# the document unique de délégation the board adopted: what the director commits alone
DELEGATED_CEILING_EUR, DELEGATION_DATE = 15000, date(2025, 6, 26)

ORGANISATIONS = [
    # name, kind, own, siret, finess
    ("Association Les Tilleuls (EHPAD et IME)", "association", True, "77567227200017", "750000123"),
    ("Centre hospitalier de Montreuil", "hospital", False, "26930001100012", "930110051"),
    ("Mairie de Bagnolet", "town_hall", False, "21930006000017", None),
    ("Lycée professionnel Jean Jaurès", "school", False, "19930123400015", None),
]

USERS = [
    # username, full name, roles, organisation index
    ("claire.martin", "Claire Martin", ["direction"], 0),
    ("karim.benali", "Karim Benali", ["professional"], 0),
    ("sophie.durand", "Sophie Durand", ["professional"], 0),
    ("paul.lefevre", "Paul Lefèvre", ["partner"], 1),
    ("nadia.haddad", "Nadia Haddad", ["partner"], 2),
    ("anne.roux", "Anne Roux", ["board"], 0),
    ("lucas.moreau", "Lucas Moreau", ["steering"], 0),
    ("ines.garcia", "Inès Garcia", ["designer", "admin"], 0),
    ("marc.petit", "Marc Petit", ["auditor"], 0),
]


def demo_accounts() -> list[tuple[str, str, list[str]]]:
    """The demo logins, for the login page when the demo is loaded."""
    return [(u, name, roles) for u, name, roles, _ in USERS]


# the map an organisation already keeps: networks, cooperations and written conventions
MAP = [
    # partner index, kind, agreement, since, convention start, end, renewal, level, referents
    (1, "partnership", "written", "2019-09-01", "2025-01-01", "2027-01-31", "2026-12-15", "L2",
     "Dr Awa Ba (gériatrie) ; Claire Martin"),
    (2, "cooperation", "oral", "2021-03-15", None, None, None, None, "Service des aînés"),
    (3, "network", "oral", "2018-06-01", None, None, None, None, "Proviseure adjointe"),
]
EXTRA_PARTNERS = [
    ("SSIAD du Val de Montreuil", "social_service", "930000456", "partnership", "written",
     "2020-01-01", "2024-01-01", "2026-12-31", None, "L2"),
    ("Centre social Les Ruffins", "association", None, "cooperation", "written",
     "2022-05-01", "2023-05-01", "2027-04-30", None, "L1"),
    ("Pharmacie du Marché", "company", None, "partnership", "written",
     "2017-01-01", "2024-07-01", "2027-06-30", None, "L2"),
    ("CLIC de l'Est parisien", "association", None, "network", "oral",
     "2016-01-01", None, None, None, None),
]


def _demo_map(pf, org_ids: list[int]) -> None:
    from partnerflow.engine.method import registry

    actor = "claire.martin"
    for index, kind, agreement, since, start, end, renewal, level, referents in MAP:
        with pf.uow() as uow:
            registry.create_relationship(uow, actor=actor, data={
                "partner_id": org_ids[index], "kind": kind, "agreement": agreement, "since": since,
                "convention_start": start, "convention_end": end, "renewal_date": renewal,
                "formalisation_level": level, "referents": referents})
    for name, kind, finess, rel_kind, agreement, since, start, end, renewal, level in EXTRA_PARTNERS:
        with pf.uow() as uow:
            partner_id = registry.create_organisation(uow, actor=actor, data={
                "name": name, "kind": kind, "finess": finess})
        with pf.uow() as uow:
            registry.create_relationship(uow, actor=actor, data={
                "partner_id": partner_id, "kind": rel_kind, "agreement": agreement, "since": since,
                "convention_start": start, "convention_end": end, "renewal_date": renewal,
                "formalisation_level": level})


def load_demo(pf) -> str:
    """Create what is missing of the demo; report what exists."""
    with pf.uow() as uow:
        session = uow.session
        orgs = [accounts.ensure_organisation(session, name=n, kind=k, is_own=own, siret=s, finess=f)
                for n, k, own, s, f in ORGANISATIONS]
        ours = orgs[0]
        if ours.delegated_ceiling_eur is None:  # the director's délégation, set once
            ours.delegated_ceiling_eur, ours.delegation_date = DELEGATED_CEILING_EUR, DELEGATION_DATE
        uow.commit()
        org_ids = [o.id for o in orgs]
    for username, full_name, roles, org in USERS:
        with pf.uow() as uow:
            if uow.session.scalar(select(User).where(User.username == username)) is None:
                accounts.create_user(uow, username=username, full_name=full_name, roles=roles,
                                     actor="demo", password=DEMO_PASSWORD,
                                     organisation_id=org_ids[org])
    with pf.uow() as uow:
        if not uow.session.scalar(select(func.count()).select_from(ProcessVersion)):
            deployment.deploy(uow.session, pf.method_files(), actor="ines.garcia",
                              at=uow.clock(), forms=pf.forms,
                              max_bytes=pf.settings.max_upload_bytes)
            uow.commit()
    with pf.read() as session:
        existing = session.scalar(select(func.count()).select_from(Partnership))
    if not existing:
        from partnerflow.engine.method.demo_walk import walk_demo_partnerships

        walk_demo_partnerships(pf, org_ids)
        _demo_map(pf, org_ids)
    plan.load_demo_plan(pf)  # the organisation's approved partnership plan (engine/method/plan.py)
    with pf.uow() as uow:
        if not queries.demo_loaded(uow.session):
            audit.append(uow.session, type="demo_loaded", actor="demo", at=uow.clock(),
                         payload={"accounts": [u for u, *_ in USERS]})
            uow.commit()
    with pf.read() as session:
        partnerships = session.scalar(select(func.count()).select_from(Partnership))
        users = session.scalar(select(func.count()).select_from(User))
    with pf.read() as session:
        organisations = session.scalar(select(func.count()).select_from(Organisation))
    return (f"demo ready: {organisations} organisations, {users} users, {partnerships} "
            f"partnerships (password for every demo account: '{DEMO_PASSWORD}')")
