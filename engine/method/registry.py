"""The map: organisations and the relationships (network, cooperation, partnership) between
them. Created, edited and archived, never deleted; every change is in the audit trail."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from partnerflow.engine import access, audit
from partnerflow.engine.errors import Forbidden, InvalidInput, NotFound
from partnerflow.engine.runtime import search
from partnerflow.engine.store.models import Organisation, Partnership, Relationship, User

SIRET = re.compile(r"^[0-9]{14}$")
FINESS = re.compile(r"^(?:[0-9]{2}|2[AB])[0-9]{7}$")
KINDS = ("network", "cooperation", "partnership")
AGREEMENTS = ("oral", "written")
LEVELS = ("L0", "L1", "L2", "L3", "L4")
# organisation types the interface offers; a spreadsheet may bring others, kept as written
ORGANISATION_KINDS: dict[str, str] = {
    "association": "Association",
    "ehpad": "EHPAD",
    "ime": "IME",
    "hospital": "Hôpital",
    "town_hall": "Mairie",
    "school": "Établissement scolaire",
    "social_service": "Service social ou médico-social",
    "public_body": "Administration",
    "company": "Entreprise",
    "other": "Autre",
}

ORGANISATION_FIELDS = ("name", "kind", "siret", "finess", "address", "contacts", "is_own")
# our organisation's délégation: what the director may commit alone (CASF D312-176-5)
DELEGATION_FIELDS = ("delegated_ceiling_eur", "delegation_date")
RELATIONSHIP_FIELDS = ("partner_id", "kind", "since", "agreement", "convention_start",
                       "convention_end", "renewal_date", "formalisation_level", "referents",
                       "notes", "partnership_id", "external_ref")
DATE_FIELDS = ("since", "convention_start", "convention_end", "renewal_date")


# ---------------------------------------------------------------- values


def fold(text: str | None) -> str:
    """Lower case, no accents, single spaces: how names and labels are compared."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def parse_date(value) -> date | None:
    """A date from dd/mm/yyyy, yyyy-mm-dd (or a date/datetime); None when empty.

    Raises ValueError on anything else."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]", text):
        return datetime.fromisoformat(text).date()
    raise ValueError(text)


def as_moment(day: date | None) -> datetime | None:
    """The column value for a calendar day: midnight UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


def as_day(moment: datetime | None) -> date | None:
    return moment.date() if moment else None


def _text(value, limit: int | None = None) -> str | None:
    text = " ".join(str(value).split()) if value not in (None, "") else ""
    if not text:
        return None
    return text[:limit] if limit else text


def _multiline(value) -> str | None:
    text = str(value).strip() if value not in (None, "") else ""
    return text or None


def _digits(value) -> str | None:
    """SIRET and FINESS as typed in a spreadsheet: spaces dropped, upper case (2A, 2B)."""
    text = re.sub(r"[\s.]+", "", str(value or "")).upper()
    return text or None


def organisation_kind(value) -> str:
    """A known type key from its key or French label; other text is kept as written."""
    text = _text(value, 60)
    if not text:
        return "association"
    folded = fold(text)
    for key, label in ORGANISATION_KINDS.items():
        if folded in (fold(key), fold(label)):
            return key
    return text


def relationship_kind(value) -> str | None:
    folded = fold(str(value or ""))
    labels = {"reseau": "network", "network": "network", "cooperation": "cooperation",
              "partenariat": "partnership", "partnership": "partnership"}
    return labels.get(folded)


def agreement_of(value) -> str | None:
    folded = fold(str(value or ""))
    if not folded:
        return "oral"
    return {"oral": "oral", "orale": "oral", "ecrit": "written", "ecrite": "written",
            "written": "written"}.get(folded)


def clean_organisation(data: dict) -> tuple[dict, dict[str, list[str]]]:
    """Validated organisation fields, and the problems in French by field."""
    errors: dict[str, list[str]] = {}
    values = {"name": _text(data.get("name"), 200), "kind": organisation_kind(data.get("kind")),
              "siret": _digits(data.get("siret")), "finess": _digits(data.get("finess")),
              "address": _multiline(data.get("address")), "contacts": _multiline(data.get("contacts")),
              "is_own": bool(data.get("is_own"))}
    if not values["name"]:
        errors["name"] = ["Le nom est obligatoire."]
    if values["siret"] and not SIRET.match(values["siret"]):
        errors["siret"] = ["SIRET invalide (14 chiffres attendus)."]
    if values["finess"] and not FINESS.match(values["finess"]):
        errors["finess"] = ["FINESS invalide (9 caractères : 2 chiffres ou 2A/2B, puis 7 chiffres)."]
    return values, errors


def clean_delegation(data: dict, *, is_own: bool) -> tuple[dict, dict[str, list[str]]]:
    """The délégation's ceiling (whole euros, typed the French way: « 15 000 ») and the date of
    the document unique de délégation; only our organisation has them."""
    errors: dict[str, list[str]] = {}
    raw_ceiling = re.sub(r"[\s\u00a0\u202f€]+", "", str(data.get("delegated_ceiling_eur") or ""))
    raw_date = str(data.get("delegation_date") or "").strip()
    if not is_own:
        if raw_ceiling or raw_date:
            errors["delegated_ceiling_eur"] = [
                "Le plafond délégué ne se renseigne que pour notre organisation."]
        return {}, errors
    ceiling = None
    if raw_ceiling:
        if not re.fullmatch(r"[0-9]{1,12}(?:[.,]0{1,2})?", raw_ceiling):
            errors["delegated_ceiling_eur"] = [
                "Plafond invalide : un montant en euros entiers, positif (par exemple 15 000)."]
        else:
            ceiling = int(re.split(r"[.,]", raw_ceiling)[0])
    try:
        day = parse_date(raw_date)
    except ValueError:
        day = None
        errors["delegation_date"] = ["Date invalide (jj/mm/aaaa)."]
    return {"delegated_ceiling_eur": ceiling, "delegation_date": day}, errors


def clean_relationship(data: dict) -> tuple[dict, dict[str, list[str]]]:
    """Validated relationship fields (dates as days), and the problems in French by field."""
    errors: dict[str, list[str]] = {}
    values: dict = {"kind": relationship_kind(data.get("kind")),
                    "agreement": agreement_of(data.get("agreement")),
                    "formalisation_level": _text(data.get("formalisation_level"), 2),
                    "referents": _multiline(data.get("referents")),
                    "notes": _multiline(data.get("notes")),
                    "external_ref": _text(data.get("external_ref"), 120)}
    if values["kind"] is None:
        errors["kind"] = (["Type de relation inconnu (réseau, coopération ou partenariat)."]
                          if data.get("kind") else ["Le type de relation est obligatoire."])
    if values["agreement"] is None:
        errors["agreement"] = ["Accord inconnu (oral ou écrit)."]
    level = (values["formalisation_level"] or "").upper() or None
    values["formalisation_level"] = level
    if level and level not in LEVELS:
        errors["formalisation_level"] = ["Niveau de formalisation inconnu (L0 à L4)."]
    for name in DATE_FIELDS:
        try:
            values[name] = parse_date(data.get(name))
        except ValueError:
            errors[name] = ["Date invalide (jj/mm/aaaa attendu)."]
            values[name] = None
    start, end = values["convention_start"], values["convention_end"]
    if start and end and end < start:
        errors.setdefault("convention_end", []).append(
            "La fin de la convention précède son début.")
    for key in ("partner_id", "partnership_id"):
        values[key] = _int(data.get(key))
    return values, errors


def _int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- actors


def _editor(session: Session, actor: str) -> User:
    user = session.scalar(select(User).where(User.username == actor)) if actor else None
    if user is None or not user.active:
        raise Forbidden(f"unknown or inactive user '{actor}'")
    if not access.may(access.actor_of(session, user), "edit_map"):  # access.GRANTS
        raise Forbidden(f"{actor} may not edit the map (direction or admin only)")
    return user


def own_organisation_id(session: Session, actor: str | None = None) -> int:
    """Our organisation: the actor's, else the one marked as ours."""
    if actor:
        org_id = session.scalar(select(User.organisation_id).where(User.username == actor))
        if org_id is not None:
            return org_id
    org_id = session.scalar(select(Organisation.id).where(Organisation.is_own.is_(True),
                                                          Organisation.archived.is_(False))
                            .order_by(Organisation.id).limit(1))
    if org_id is None:
        raise InvalidInput("no organisation is marked as ours",
                           {"organisation": ["Enregistrez d'abord votre propre organisation "
                                             "(cochez « notre organisation »)."]})
    return org_id


# ---------------------------------------------------------------- organisations


def _organisation_values(data: dict) -> tuple[dict, dict[str, list[str]]]:
    """An organisation as its form gives it: its fields, and the délégation when it is ours."""
    values, errors = clean_organisation(data)
    delegation, delegation_errors = clean_delegation(data, is_own=values["is_own"])
    return {**values, **delegation}, {**errors, **delegation_errors}


def delegation_of(session: Session, organisation_id: int | None = None) -> Organisation | None:
    """The organisation whose délégation applies: the one given, else the one marked as ours."""
    if organisation_id is not None:
        org = session.get(Organisation, organisation_id)
        if org is not None and org.is_own:
            return org
    return session.scalar(select(Organisation).where(
        Organisation.is_own.is_(True), Organisation.archived.is_(False)).order_by(Organisation.id).limit(1))


def create_organisation(uow, *, actor: str, data: dict) -> int:
    """Register an organisation (ours or a partner)."""
    session = uow.session
    _editor(session, actor)
    values, errors = _organisation_values(data)
    if errors:
        raise InvalidInput("the organisation has invalid fields", errors)
    org = Organisation(**values, archived=False)
    session.add(org)
    session.flush()
    audit.append(session, type="organisation_created", actor=actor, at=uow.clock(),
                 payload={"organisation_id": org.id, **_public(values)})
    uow.commit()
    return org.id


def update_organisation(uow, *, organisation_id: int, actor: str, data: dict) -> None:
    session = uow.session
    _editor(session, actor)
    org = _organisation(session, organisation_id)
    values, errors = _organisation_values(data)
    if errors:
        raise InvalidInput("the organisation has invalid fields", errors)
    changes = _apply(org, values)
    if changes:
        audit.append(session, type="organisation_updated", actor=actor, at=uow.clock(),
                     payload={"organisation_id": org.id, "changes": changes})
    uow.commit()


def archive_organisation(uow, *, organisation_id: int, actor: str) -> None:
    """Archive an organisation and its relationships; nothing is deleted."""
    session = uow.session
    _editor(session, actor)
    org = _organisation(session, organisation_id)
    org.archived = True
    now = uow.clock()
    for rel in session.scalars(select(Relationship).where(
            or_(Relationship.partner_id == org.id, Relationship.organisation_id == org.id),
            Relationship.archived.is_(False))):
        rel.archived = True
        audit.append(session, type="relationship_archived", actor=actor, at=now,
                     payload={"relationship_id": rel.id, "with_organisation": org.id})
    audit.append(session, type="organisation_archived", actor=actor, at=now,
                 payload={"organisation_id": org.id, "name": org.name})
    uow.commit()


def _organisation(session: Session, organisation_id: int) -> Organisation:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"organisation {organisation_id} does not exist")
    return org


# ---------------------------------------------------------------- relationships


def create_relationship(uow, *, actor: str, data: dict) -> int:
    """Record a relationship between our organisation and a partner."""
    session = uow.session
    _editor(session, actor)
    values = _relationship_values(session, data)
    rel = Relationship(organisation_id=own_organisation_id(session, actor), archived=False,
                       **_stored(values))
    session.add(rel)
    session.flush()
    audit.append(session, type="relationship_created", actor=actor, at=uow.clock(),
                 partnership_id=rel.partnership_id,
                 payload={"relationship_id": rel.id, **_public(values)})
    uow.commit()
    return rel.id


def update_relationship(uow, *, relationship_id: int, actor: str, data: dict) -> None:
    session = uow.session
    _editor(session, actor)
    rel = _relationship(session, relationship_id)
    values = _relationship_values(session, data)
    changes = _apply(rel, _stored(values))
    if changes:
        audit.append(session, type="relationship_updated", actor=actor, at=uow.clock(),
                     partnership_id=rel.partnership_id,
                     payload={"relationship_id": rel.id, "changes": changes})
    uow.commit()


def archive_relationship(uow, *, relationship_id: int, actor: str) -> None:
    session = uow.session
    _editor(session, actor)
    rel = _relationship(session, relationship_id)
    if not rel.archived:
        rel.archived = True
        audit.append(session, type="relationship_archived", actor=actor, at=uow.clock(),
                     partnership_id=rel.partnership_id, payload={"relationship_id": rel.id})
    uow.commit()


def link_partner_organisation(uow, *, partnership_id: int, organisation_id: int,
                              actor: str) -> None:
    """Record an organisation of the map as a partner of the partnership (the map's editors:
    direction, administrators); the next `map.update` step draws its relationship. Audited;
    linking it twice changes nothing."""
    from partnerflow.engine.store.models import PartnershipOrganisation

    session = uow.session
    _editor(session, actor)
    partnership = session.get(Partnership, partnership_id)
    if partnership is None:
        raise NotFound(f"partnership {partnership_id} does not exist")
    org = _organisation(session, organisation_id)
    if org.archived or org.is_own:
        raise InvalidInput("not a partner organisation", {"organisation_id": [
            "Choisissez une organisation partenaire de la carte (ni archivée, ni la nôtre)."]})
    if session.get(PartnershipOrganisation, (partnership_id, organisation_id)) is None:
        session.add(PartnershipOrganisation(partnership_id=partnership_id,
                                            organisation_id=organisation_id))
        audit.append(session, type="partnership_organisation_added", actor=actor, at=uow.clock(),
                     partnership_id=partnership_id,
                     payload={"organisation_id": org.id, "name": org.name, "source": "page"})
        session.flush()
        search.reindex(session, uow.forms, partnership_id)  # found by the organisation's name
    uow.commit()


class MapIncomplete(InvalidInput):
    """What a process should put on the map cannot be drawn: the message says, in French,
    what to do before retrying (the `map.update` connector turns it into an incident)."""


class OrganisationIndex:
    """Organisations indexed the way a partner is recognised: by SIRET, then FINESS, then
    name (folded: case, accents and punctuation ignored). The spreadsheet import and the
    parties a process names are matched this way."""

    def __init__(self, organisations=()):
        self.by_siret: dict[str, Organisation] = {}
        self.by_finess: dict[str, Organisation] = {}
        self.by_name: dict[str, Organisation] = {}
        for org in organisations:
            self.add(org)

    def add(self, org: Organisation) -> None:
        self.by_name[fold(org.name)] = org
        if org.siret:
            self.by_siret[org.siret] = org
        if org.finess:
            self.by_finess[org.finess] = org

    def match(self, values: dict) -> Organisation | None:
        """The organisation with this SIRET, else this FINESS, else this name."""
        return ((values.get("siret") and self.by_siret.get(values["siret"]))
                or (values.get("finess") and self.by_finess.get(values["finess"]))
                or (values.get("name") and self.by_name.get(fold(values["name"])))) or None

    @staticmethod
    def matched_by(org: Organisation, values: dict) -> str:
        for key in ("siret", "finess"):
            if values.get(key) and getattr(org, key) == values[key]:
                return key
        return "name"


def party_organisation(row) -> dict | None:
    """The organisation a row of process data names, as the map keeps it: a party of the
    convention (`legal_name`, `siret`, `finess`, `address`, its representative) or a member
    of a network (`organisation_name` and its contact). None when the row names none; an
    identifier that is not a valid SIRET or FINESS is left out."""
    if not isinstance(row, dict):
        return None
    name = row.get("legal_name") or row.get("organisation_name") or row.get("name")
    contact = ", ".join(str(row[k]).strip() for k in (
        "legal_representative", "representative_quality", "contact_name", "contact_role",
        "contact_email", "contact_phone") if row.get(k) not in (None, ""))
    values, errors = clean_organisation({
        "name": name, "kind": row.get("kind") or "other", "siret": row.get("siret"),
        "finess": row.get("finess"), "address": row.get("address"), "contacts": contact})
    if "name" in errors:
        return None
    for key in ("siret", "finess"):
        if key in errors:
            values[key] = None
    return {k: v for k, v in values.items() if k != "is_own"}


def _named_partners(uow, partnership: Partnership, rows, own: int, actor: str | None,
                    element_id: str | None) -> list[int]:
    """The organisations the process data names (the convention's partner parties, the
    network's members), found on the map (SIRET, then FINESS, then name) or added to it,
    each linked to the partnership, in the audit trail; our own organisation left out."""
    from partnerflow.engine.store.models import PartnershipOrganisation

    session = uow.session
    named = [found for found in (party_organisation(row) for row in rows) if found]
    if not named:
        return []
    index = OrganisationIndex(session.scalars(select(Organisation).where(
        Organisation.archived.is_(False)).order_by(Organisation.id)))
    linked: list[int] = []
    for values in named:
        org = index.match(values)
        how = OrganisationIndex.matched_by(org, values) if org is not None else "created"
        if org is None:
            org = Organisation(**values, is_own=False, archived=False)
            session.add(org)
            session.flush()
            index.add(org)
            # the map's own chain, as any organisation (its contacts may come from internal
            # rows, the network's members); the partnership's chain records the link
            audit.append(session, type="organisation_created", actor=actor, at=uow.clock(),
                         payload={"organisation_id": org.id, "source": "process",
                                  "partnership_id": partnership.id, "from_task": element_id,
                                  **_public(values)})
        if org.id == own or org.id in linked:
            continue
        if session.get(PartnershipOrganisation, (partnership.id, org.id)) is None:
            session.add(PartnershipOrganisation(partnership_id=partnership.id,
                                                organisation_id=org.id))
            audit.append(session, type="partnership_organisation_added", actor=actor,
                         at=uow.clock(), partnership_id=partnership.id,
                         payload={"organisation_id": org.id, "name": org.name,
                                  "matched_by": how, "from_task": element_id})
        linked.append(org.id)
    return linked


def record_for_partnership(uow, *, partnership: Partnership, actor: str | None, values: dict,
                           element_id: str | None = None) -> list[int]:
    """What a process puts on the map (the `map.update` connector): the relationship with
    each partner organisation of the partnership, created or updated with the values given
    (kind, level, convention dates and document; None leaves a value as it is). Part of the
    step's transaction; returns the relationship ids.

    The partner organisations are those recorded on the partnership and those of the partner
    representatives attached to it. When the partnership names none (a partnership proposed
    from an idea records none), they are the organisations the process data names (`parties`:
    the convention's partner parties, the network's members), found on the map by SIRET,
    FINESS or name, or added to it, and linked to the partnership. Still none, or our own
    organisation unknown: MapIncomplete, saying what to do. Our side is the partnership's
    organisation, else the one marked as ours, never the organisation of the user whose task
    led here (the partner who signed last)."""
    from partnerflow.engine.store.models import PartnershipMember, PartnershipOrganisation

    session = uow.session
    recorded = session.scalars(select(PartnershipOrganisation.organisation_id).where(
        PartnershipOrganisation.partnership_id == partnership.id)).all()
    represented = session.scalars(select(User.organisation_id).join(
        PartnershipMember, PartnershipMember.user_id == User.id).where(
        PartnershipMember.partnership_id == partnership.id, PartnershipMember.role == "partner",
        User.organisation_id.is_not(None))).all()
    try:
        own = partnership.organisation_id or own_organisation_id(session)
    except InvalidInput:
        raise MapIncomplete(
            "notre organisation n'est pas sur la carte : enregistrez-la (Carte → Organisations, "
            "case « notre organisation »), puis relancez le processus depuis les incidents"
        ) from None
    partners = sorted({org for org in (*recorded, *represented) if org != own})
    if not partners:
        partners = sorted(set(_named_partners(uow, partnership, values.get("parties") or [],
                                              own, actor, element_id)))
    if not partners:
        raise MapIncomplete(
            "aucune organisation partenaire n'est connue pour ce partenariat (aucune n'y est "
            "rattachée, aucun contact partenaire rattaché n'a d'organisation, et le processus "
            "ne nomme aucune partie) : rattachez l'organisation partenaire au partenariat (sur "
            "sa page, « Rattacher une organisation partenaire »), puis relancez le processus "
            "depuis les incidents")
    given = {"kind": values.get("kind"), "formalisation_level": values.get("formalisation_level"),
             "convention_start": as_moment(parse_date(values.get("convention_start"))),
             "convention_end": as_moment(parse_date(values.get("convention_end"))),
             "renewal_date": as_moment(parse_date(values.get("renewal_date"))),
             "convention_document": values.get("convention_document")}
    given = {k: v for k, v in given.items() if v is not None}
    if given.get("convention_document"):
        given["agreement"] = "written"
    ids = []
    for partner_id in partners:
        rel = session.scalar(select(Relationship).where(
            Relationship.organisation_id == own, Relationship.partner_id == partner_id,
            Relationship.partnership_id == partnership.id).order_by(Relationship.id).limit(1))
        if rel is None:
            rel = Relationship(organisation_id=own, partner_id=partner_id, partnership_id=partnership.id,
                               kind=given.get("kind") or partnership.kind, archived=False,
                               agreement=given.get("agreement", "oral"))
            session.add(rel)
            session.flush()
            _apply(rel, given)
            audit.append(session, type="relationship_created", actor=actor, at=uow.clock(),
                         partnership_id=partnership.id,
                         payload={"relationship_id": rel.id, "from_task": element_id,
                                  **_public({"partner_id": partner_id, **given})})
        else:
            changes = _apply(rel, {**given, "archived": False})
            if changes:
                audit.append(session, type="relationship_updated", actor=actor, at=uow.clock(),
                             partnership_id=partnership.id,
                             payload={"relationship_id": rel.id, "changes": changes,
                                      "from_task": element_id})
        ids.append(rel.id)
    return ids


def apply_renewal_decision(uow, *, relationship_id: int, decision: str,
                           new_convention_end: str | None, actor: str | None,
                           element_id: str | None = None) -> None:
    """A renewal decision reaches the map (the `renewal.apply` connector): a new end date
    (renewed or renegotiated convention) or the relationship archived (ended). Part of the
    step's transaction."""
    session = uow.session
    rel = session.get(Relationship, relationship_id)
    if rel is None:
        raise NotFound(f"relationship {relationship_id} does not exist")
    changes: dict = {}
    if decision in ("renew", "renegotiate") and new_convention_end:
        new_end = as_moment(parse_date(new_convention_end))
        changes = _apply(rel, {"convention_end": new_end, "renewal_date": None})
    elif decision == "end" and not rel.archived:
        rel.archived = True
        changes = {"archived": [False, True]}
    if changes:
        audit.append(session, type="relationship_updated", actor=actor, at=uow.clock(),
                     partnership_id=rel.partnership_id,
                     payload={"relationship_id": rel.id, "changes": changes,
                              "from_task": element_id, "decision": decision})


def _relationship(session: Session, relationship_id: int) -> Relationship:
    rel = session.get(Relationship, relationship_id)
    if rel is None:
        raise NotFound(f"relationship {relationship_id} does not exist")
    return rel


def _relationship_values(session: Session, data: dict) -> dict:
    values, errors = clean_relationship(data)
    if values["partner_id"] is None or session.get(Organisation, values["partner_id"]) is None:
        errors["partner_id"] = ["Choisissez l'organisation partenaire."]
    if values["partnership_id"] is not None and session.get(Partnership, values["partnership_id"]) is None:
        errors["partnership_id"] = ["Ce partenariat n'existe pas."]
    if errors:
        raise InvalidInput("the relationship has invalid fields", errors)
    return values


def _stored(values: dict) -> dict:
    """Relationship values as columns: days become midnight-UTC moments."""
    return {k: (as_moment(v) if k in DATE_FIELDS else v) for k, v in values.items()
            if k in RELATIONSHIP_FIELDS}


def _comparable(value):
    if isinstance(value, datetime):
        return value.date()
    return value


def _apply(row, values: dict) -> dict:
    """Set the values that differ; return {field: [before, after]} for the audit trail."""
    changes = {}
    for key, value in values.items():
        before = getattr(row, key)
        if _comparable(before) != _comparable(value):
            changes[key] = [_public_value(before), _public_value(value)]
            setattr(row, key, value)
    return changes


def _public_value(value):
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _public(values: dict) -> dict:
    return {k: _public_value(v) for k, v in values.items()}


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class MapFilter:
    kind: str | None = None
    level: str | None = None
    include_archived: bool = False


def organisations(session: Session, include_archived: bool = False):
    query = select(Organisation).order_by(Organisation.is_own.desc(), Organisation.name)
    if not include_archived:
        query = query.where(Organisation.archived.is_(False))
    return session.scalars(query).all()


def _filtered(query, filters: MapFilter):
    if filters.kind:
        query = query.where(Relationship.kind == filters.kind)
    if filters.level:
        query = query.where(Relationship.formalisation_level == filters.level)
    if not filters.include_archived:
        query = query.where(Relationship.archived.is_(False))
    return query


def relationships(session: Session, filters: MapFilter = MapFilter(), *, limit: int | None = None,
                  offset: int = 0):
    """The map's rows: each relationship with its partner organisation; `limit` and
    `offset` give one page."""
    partner = aliased(Organisation)
    query = _filtered(select(Relationship, partner).join(partner, partner.id == Relationship.partner_id)
                      .order_by(partner.name, Relationship.kind, Relationship.id), filters)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return session.execute(query).all()


def relationships_count(session: Session, filters: MapFilter = MapFilter()) -> int:
    return session.scalar(_filtered(select(func.count(Relationship.id)), filters))


def organisation(session: Session, organisation_id: int) -> Organisation:
    return _organisation(session, organisation_id)


def relationship(session: Session, relationship_id: int) -> Relationship:
    return _relationship(session, relationship_id)


def graph(session: Session, filters: MapFilter = MapFilter(), *, limit: int | None = None,
          offset: int = 0) -> dict:
    """Nodes (organisations) and edges (relationships) for the graph view, as plain data;
    at most `limit` relationships (in the list's order, from `offset`), `total` says how many
    pass the filters.

    Our organisation is always a node; a partner is a node when one of its relationships
    passes the filters (or, without a kind or level filter, whenever it is in the map)."""
    rows = relationships(session, filters, limit=limit, offset=offset)
    counted = limit is not None and (len(rows) >= limit or (offset and not rows))
    total = relationships_count(session, filters) if counted else offset + len(rows)
    orgs: dict[int, Organisation] = {}
    edges = []
    for rel, partner in rows:
        orgs[partner.id] = partner
        edges.append({"id": f"r{rel.id}", "relationship_id": rel.id,
                      "source": f"o{rel.organisation_id}", "target": f"o{rel.partner_id}",
                      "kind": rel.kind, "level": rel.formalisation_level or "",
                      "agreement": rel.agreement, "archived": rel.archived,
                      "partnership_id": rel.partnership_id})
    involved = {int(e["source"][1:]) for e in edges}
    own = session.scalars(select(Organisation).where(
        or_(Organisation.is_own.is_(True), Organisation.id.in_(involved or {-1})))).all()
    for org in own:
        orgs.setdefault(org.id, org)
    nodes = [{"id": f"o{o.id}", "organisation_id": o.id, "label": o.name, "kind": o.kind,
              "own": o.is_own, "archived": o.archived}
             for o in sorted(orgs.values(), key=lambda o: (not o.is_own, o.name))]
    return {"nodes": nodes, "edges": edges, "total": total}


# ---------------------------------------------------------------- reminders
