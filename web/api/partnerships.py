"""Partnerships and the map: read the partnerships a user may read (as the pages do), the
map's relationships and graph; create and update relationships (the map's editors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from partnerflow.engine import access
from partnerflow.engine.errors import Forbidden, NotFound
from partnerflow.engine.method import registry
from partnerflow.engine.runtime import queries
from partnerflow.engine.store.models import Partnership

from ..current import engine
from .common import Strict, columns, created, ok
from .instances import FIELDS as INSTANCE_FIELDS
from .instances import InstanceSummary
from .security import SECURITY, actor, protect, responses

bp = APIBlueprint("api_partnerships", __name__, url_prefix="/api", abp_security=SECURITY,
                  abp_tags=[Tag(name="partenariats", description="Partenariats et carte")])
protect(bp)

PARTNERSHIP = ("id", "title", "kind", "stage", "formalisation_level", "status", "created_by", "created_at")
RELATIONSHIP = ("id", "organisation_id", "partner_id", "kind", "since", "agreement", "convention_start",
                "convention_end", "renewal_date", "formalisation_level", "referents", "notes",
                "partnership_id", "external_ref", "convention_document", "archived")


class PartnershipOut(BaseModel):
    id: int
    title: str
    kind: str
    stage: str
    formalisation_level: str | None = None
    status: str
    created_by: str | None = None
    created_at: datetime
    open_tasks: int


class Partnerships(BaseModel):
    items: list[PartnershipOut]


class Person(BaseModel):
    username: str
    full_name: str
    role: str | None = None


class PartnershipDetail(PartnershipOut):
    people: list[Person]
    instances: list[InstanceSummary]


class PartnershipPath(BaseModel):
    partnership_id: int = Field(ge=1, le=2**31 - 1)


class RelationshipOut(BaseModel):
    id: int
    organisation_id: int
    partner_id: int
    partner_name: str | None = None
    kind: str
    since: datetime | None = None
    agreement: str | None = None
    convention_start: datetime | None = None
    convention_end: datetime | None = None
    renewal_date: datetime | None = None
    formalisation_level: str | None = None
    referents: str | None = None
    notes: str | None = None
    partnership_id: int | None = None
    external_ref: str | None = None
    convention_document: str | None = None
    archived: bool


class Relationships(BaseModel):
    items: list[RelationshipOut]


class MapQuery(BaseModel):
    kind: Literal[registry.KINDS] | None = None  # type: ignore[valid-type]
    level: Literal[registry.LEVELS] | None = None  # type: ignore[valid-type]
    archived: bool = False


class RelationshipPath(BaseModel):
    relationship_id: int = Field(ge=1, le=2**31 - 1)


Scalar = str | int | None


class RelationshipIn(Strict):
    """The map's form, as JSON: dates as 2026-12-31; a missing field is emptied (PUT)."""

    partner_id: int = Field(ge=1, le=2**31 - 1)
    kind: Literal[registry.KINDS]  # type: ignore[valid-type]
    since: str | None = Field(None, max_length=10)
    agreement: str | None = Field(None, max_length=10, description="oral ou written")
    convention_start: str | None = Field(None, max_length=10)
    convention_end: str | None = Field(None, max_length=10)
    renewal_date: str | None = Field(None, max_length=10)
    formalisation_level: Literal[registry.LEVELS] | None = None  # type: ignore[valid-type]
    referents: str | None = Field(None, max_length=2000)
    notes: str | None = Field(None, max_length=5000)
    partnership_id: int | None = Field(None, ge=1, le=2**31 - 1)
    external_ref: str | None = Field(None, max_length=120)


GRAPH_SIZE = 100  # relationships per answer of /api/map/graph at most, as the page's graph


class GraphQuery(MapQuery):
    limit: int = Field(GRAPH_SIZE, ge=1, le=GRAPH_SIZE,
                       description="Nombre de relations au plus (100 au plus)")
    offset: int = Field(0, ge=0, le=1_000_000, description="Relations à sauter, dans l'ordre de la liste")


class Graph(BaseModel):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    total: int = Field(description="Nombre de relations qui passent les filtres")
    limit: int
    offset: int


def _me(db):
    return access.actor(db, actor())


@bp.get("/partnerships", summary="Lister les partenariats que je peux lire",
        responses=responses(Partnerships))
def list_partnerships():
    with engine().read() as db:
        rows = queries.partnerships_for(db, access.readable_partnerships(_me(db)))
        return ok({"items": [{**columns(p, PARTNERSHIP), "open_tasks": n} for p, n in rows]})


@bp.get("/partnerships/<int:partnership_id>", summary="Lire un partenariat, ses personnes et ses instances",
        responses=responses(PartnershipDetail, 404))
def read_partnership(path: PartnershipPath):
    with engine().read() as db:
        partnership = db.get(Partnership, path.partnership_id)
        if partnership is None:
            raise NotFound(f"partnership {path.partnership_id} does not exist")
        if not access.may(_me(db), "read_partnership", partnership.id):
            raise Forbidden(f"{actor()} may not read partnership {partnership.id}")
        people, _actors = queries.partnership_people(db, partnership.id)
        [(_p, open_tasks)] = queries.partnerships_for(db, [partnership.id])
        instances = [columns(i, INSTANCE_FIELDS) for i in queries.instances_of(db, partnership.id)]
        return ok({**columns(partnership, PARTNERSHIP), "open_tasks": open_tasks,
                   "people": [{"username": u, "full_name": n, "role": r} for u, n, r in people],
                   "instances": instances})


def _map_readers(db) -> None:
    if not access.may(_me(db), "read_map"):
        raise Forbidden(f"{actor()} may not read the map")


def _relationship_body(rel, partner_name: str | None) -> dict:
    return {**columns(rel, RELATIONSHIP), "partner_name": partner_name}


@bp.get("/map/relationships", summary="Les relations de la carte", responses=responses(Relationships))
def list_relationships(query: MapQuery):
    with engine().read() as db:
        _map_readers(db)
        rows = registry.relationships(db, registry.MapFilter(kind=query.kind, level=query.level,
                                                             include_archived=query.archived))
        return ok({"items": [_relationship_body(rel, partner.name) for rel, partner in rows]})


@bp.get("/map/relationships/<int:relationship_id>", summary="Lire une relation",
        responses=responses(RelationshipOut, 404))
def read_relationship(path: RelationshipPath):
    with engine().read() as db:
        _map_readers(db)
        rel = registry.relationship(db, path.relationship_id)
        return ok(_relationship_body(rel, registry.organisation(db, rel.partner_id).name))


def _form(body: RelationshipIn) -> dict:
    return {k: "" if v is None else str(v) for k, v in body.model_dump().items()}


@bp.post("/map/relationships", summary="Créer une relation", responses=responses(RelationshipOut, 404,
                                                                                  ok_status=201))
def create_relationship(body: RelationshipIn):
    with engine().uow() as uow:
        rid = registry.create_relationship(uow, actor=actor(), data=_form(body))
    response = read_relationship(RelationshipPath(relationship_id=rid))
    return created(response.get_json(), url_for("api_partnerships.read_relationship", relationship_id=rid))


@bp.put("/map/relationships/<int:relationship_id>", summary="Mettre à jour une relation (tous ses champs)",
        responses=responses(RelationshipOut, 404))
def update_relationship(path: RelationshipPath, body: RelationshipIn):
    with engine().uow() as uow:
        registry.update_relationship(uow, relationship_id=path.relationship_id, actor=actor(),
                                     data=_form(body))
    return read_relationship(path)


@bp.get("/map/graph", summary="Le graphe de la carte (organisations et relations)",
        responses=responses(Graph))
def graph(query: GraphQuery):
    """One page of the map's relationships (`limit`, at most 100, from `offset`, in the
    list's order) with their organisations, and how many pass the filters (`total`)."""
    with engine().read() as db:
        _map_readers(db)
        data = registry.graph(db, registry.MapFilter(kind=query.kind, level=query.level,
                                                     include_archived=query.archived),
                              limit=query.limit, offset=query.offset)
        return ok({**data, "limit": query.limit, "offset": query.offset})
