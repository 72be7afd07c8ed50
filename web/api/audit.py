"""A partnership's audit log: its events (the timeline, masked for a partner as on the
pages), whether its chain is intact, and the exports a third party re-verifies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from partnerflow.engine import access, audit
from partnerflow.engine.errors import Forbidden, NotFound
from partnerflow.engine.runtime import auditlog, views
from partnerflow.engine.store.models import Partnership

from ..current import engine
from .common import jsonable, ok
from .security import SECURITY, actor, protect, responses

bp = APIBlueprint("api_audit", __name__, url_prefix="/api/partnerships", abp_security=SECURITY,
                  abp_tags=[Tag(name="audit", description="Journal d'audit et exports")])
protect(bp)


class Event(BaseModel):
    id: int
    seq: int
    type: str
    actor: str | None = None
    occurred_at: datetime
    instance_id: int | None = None
    element_id: str | None = None
    task_uuid: str | None = None
    stage: str | None = None
    payload: dict[str, Any]
    hash: str
    prev_hash: str
    names: dict[str, Any]
    path: list[Any]


class Timeline(BaseModel):
    partnership_id: int
    chain_intact: bool
    first_break: str | None = None
    redacted: bool = Field(description="Des valeurs internes sont masquées pour ce lecteur")
    events: list[Event]


class AuditPath(BaseModel):
    partnership_id: int = Field(ge=1, le=2**31 - 1)


class TimelineQuery(BaseModel):
    instance_id: int | None = Field(None, ge=1, le=2**31 - 1)
    type: str | None = Field(None, max_length=80)
    actor: str | None = Field(None, max_length=80)
    since: datetime | None = None
    until: datetime | None = None


def _readable(db, partnership_id: int) -> views.Audiences | None:
    """The audiences that mask internal values for a partner reader (None: nothing masked)."""
    if db.get(Partnership, partnership_id) is None:
        raise NotFound(f"partnership {partnership_id} does not exist")
    me = access.actor(db, actor())
    if not access.may(me, "read_audit", partnership_id):
        raise Forbidden(f"{actor()} may not read the audit of partnership {partnership_id}")
    return None if views.reads_internal(me) else views.Audiences(engine().forms)


@bp.get("/<int:partnership_id>/audit", summary="Les événements d'un partenariat, et sa chaîne",
        responses=responses(Timeline, 404))
def timeline(path: AuditPath, query: TimelineQuery):
    with engine().read() as db:
        audiences = _readable(db, path.partnership_id)
        filters = auditlog.TimelineFilter(instance_id=query.instance_id, actor=query.actor,
                                          type=query.type, since=query.since, until=query.until)
        events = auditlog.timeline(db, path.partnership_id, filters)
        if audiences is not None:
            events = auditlog.redacted_timeline(events, audiences)
        breaks = audit.verify(db, path.partnership_id)
    return ok({"partnership_id": path.partnership_id, "chain_intact": not breaks,
               "first_break": str(breaks[0]) if breaks else None, "redacted": audiences is not None,
               "events": [jsonable(e) for e in events]})


EXPORT = {"description": "L'export", "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                                 "text/csv": {"schema": {"type": "string"}}}}


def _export(partnership_id: int, kind: str) -> Response:
    with engine().read() as db:
        audiences = _readable(db, partnership_id)
        if kind == "jsonl":
            body, mimetype = auditlog.export_jsonl(db, partnership_id, audiences), "application/x-ndjson"
        else:
            body, mimetype = "\ufeff" + auditlog.export_csv(db, partnership_id, audiences), "text/csv"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="audit-partenariat-{partnership_id}.{kind}"'})


@bp.get("/<int:partnership_id>/audit.jsonl", summary="Exporter le journal en JSON lines (vérifiable)",
        responses=responses(EXPORT, 404))
def export_jsonl(path: AuditPath):
    return _export(path.partnership_id, "jsonl")


@bp.get("/<int:partnership_id>/audit.csv", summary="Exporter le journal en CSV",
        responses=responses(EXPORT, 404))
def export_csv(path: AuditPath):
    return _export(path.partnership_id, "csv")
