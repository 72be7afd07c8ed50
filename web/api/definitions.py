"""Process definitions and their versions (read), and deployments with the same validation
as the modeller's (engine.runtime.modelling.deploy_files)."""

from __future__ import annotations

from datetime import datetime

from flask import request
from flask_babel import gettext as _
from flask_openapi3 import APIBlueprint, FileStorage, Tag
from pydantic import BaseModel, Field

from partnerflow.engine import access
from partnerflow.engine.errors import Forbidden, InvalidInput
from partnerflow.engine.runtime import modelling, queries

from ..current import engine
from .common import columns, ok
from .security import SECURITY, actor, protect, responses

bp = APIBlueprint("api_definitions", __name__, url_prefix="/api", abp_security=SECURITY,
                  abp_tags=[Tag(name="définitions", description="Processus, décisions et versions")])
protect(bp)

FIELDS = ("id", "process_key", "kind", "name", "version", "filename", "content_hash",
          "start_message", "deployed_by", "deployed_at")


class Version(BaseModel):
    id: int
    process_key: str
    kind: str
    name: str | None = None
    version: int
    filename: str
    content_hash: str
    start_message: str | None = None
    deployed_by: str | None = None
    deployed_at: datetime
    running_instances: int


class Versions(BaseModel):
    items: list[Version]


class KeyPath(BaseModel):
    process_key: str = Field(min_length=1, max_length=120)


class Deployed(BaseModel):
    process_key: str
    kind: str
    version: int
    version_id: int
    created: bool
    filename: str


class Deployment(BaseModel):
    items: list[Deployed]
    warnings: list[str]


class Upload(BaseModel):
    files: list[FileStorage] = Field(description="Les fichiers BPMN et DMN")


def _readers_only(db) -> None:
    if not access.may(access.actor(db, actor()), "read_versions"):
        raise Forbidden(f"{actor()} may not read the versions")


def _versions(process_key: str | None):
    with engine().read() as db:
        _readers_only(db)
        rows = queries.versions(db, process_key)
        return ok({"items": [{**columns(v, FIELDS), "running_instances": running} for v, running in rows]})


@bp.get("/process-definitions", summary="Lister les versions de chaque processus et décision",
        responses=responses(Versions))
def list_versions():
    return _versions(None)


@bp.get("/process-definitions/<process_key>/versions", summary="Les versions d'un processus",
        responses=responses(Versions, 404))
def versions_of(path: KeyPath):
    return _versions(path.process_key)


@bp.post("/deployments", summary="Déployer des fichiers BPMN et DMN (mêmes contrôles que le modeleur)",
         responses=responses(Deployment, 413, ok_status=201))
def deploy(form: Upload):
    files = [(f.filename or "fichier", f.read()) for f in request.files.getlist("files")]
    if not files:
        raise InvalidInput("no file", {"files": [_("Envoyez au moins un fichier BPMN ou DMN.")]})
    with engine().uow() as uow:
        result = modelling.deploy_files(uow, files=files, actor=actor())
    body = {"items": [columns(i, ("process_key", "kind", "version", "version_id", "created", "filename"))
                      for i in result.items], "warnings": [str(w) for w in result.warnings]}
    return ok(body, 201)
