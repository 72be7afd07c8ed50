"""The map of relationships (/carte): the registry, import and export, and the graph view.

Every staff role reads the map; the direction and administrators edit it; partner users
do not see it."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine.errors import InvalidInput
from partnerflow.engine.method import map_io, registry
from partnerflow.engine.runtime import queries

from .current import engine, require
from .formatting import N_
from .params import int_arg

bp = Blueprint("map", __name__, url_prefix="/carte")
PAGE_SIZE = 50  # relationships per page of the map's list
GRAPH_SIZE = 100  # relationships drawn by the graph at most (the list shows them all)
# the French labels of registry.ORGANISATION_KINDS, marked for extraction, translated when shown
ORG_KIND_LABELS = {"association": N_("Association"), "ehpad": N_("EHPAD"), "ime": N_("IME"),
                   "hospital": N_("Hôpital"), "town_hall": N_("Mairie"),
                   "school": N_("Établissement scolaire"),
                   "social_service": N_("Service social ou médico-social"),
                   "public_body": N_("Administration"), "company": N_("Entreprise"),
                   "other": N_("Autre")}
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@bp.app_template_global()
def org_kind_label(key: str | None) -> str:
    """An organisation type in the current language; a type brought by a spreadsheet as is."""
    return _(ORG_KIND_LABELS[key]) if key in ORG_KIND_LABELS else (key or "—")


@bp.before_request
@login_required
def _readers_only():
    if not current_user.may("read_map"):
        abort(403)


def _filters() -> registry.MapFilter:
    args = request.args
    return registry.MapFilter(kind=args.get("kind") if args.get("kind") in registry.KINDS else None,
                              level=args.get("level") if args.get("level") in registry.LEVELS else None,
                              include_archived=args.get("archived") == "1")


# ---------------------------------------------------------------- registry


@bp.get("/")
def index():
    filters = _filters()
    with engine().read() as db:
        total = registry.relationships_count(db, filters)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, int_arg("page") or 1), pages)
        rows = registry.relationships(db, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render_template("map_index.html", rows=rows, filters=filters, kinds=registry.KINDS,
                           levels=registry.LEVELS, may_edit=current_user.may("edit_map"),
                           page=page, pages=pages, total=total)


@bp.get("/organisations")
def organisations():
    archived = request.args.get("archived") == "1"
    with engine().read() as db:
        rows = registry.organisations(db, include_archived=archived)
    return render_template("map_organisations.html", rows=rows, archived=archived,
                           may_edit=current_user.may("edit_map"))


@bp.route("/organisations/nouvelle", methods=["GET", "POST"])
def new_organisation():
    require("edit_map")
    return _organisation_form(None)


@bp.route("/organisations/<int:organisation_id>", methods=["GET", "POST"])
def edit_organisation(organisation_id: int):
    require("edit_map")
    return _organisation_form(organisation_id)


def _organisation_form(organisation_id: int | None):
    pf = engine()
    values, errors = {}, {}
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            with pf.uow() as uow:
                if organisation_id is None:
                    registry.create_organisation(uow, actor=current_user.username, data=values)
                else:
                    registry.update_organisation(uow, organisation_id=organisation_id,
                                                 actor=current_user.username, data=values)
        except InvalidInput as exc:
            errors = exc.errors
        else:
            flash(_("L'organisation est enregistrée."), "success")
            return redirect(url_for("map.organisations"))
    elif organisation_id is not None:
        with pf.read() as db:
            org = registry.organisation(db, organisation_id)
            values = {k: getattr(org, k) for k in registry.ORGANISATION_FIELDS}
            values["archived"] = org.archived
            if org.delegated_ceiling_eur is not None:
                values["delegated_ceiling_eur"] = str(org.delegated_ceiling_eur)
            if org.delegation_date is not None:
                values["delegation_date"] = org.delegation_date.isoformat()
    return render_template("map_organisation_form.html", values=values, errors=errors,
                           organisation_id=organisation_id,
                           org_kinds=registry.ORGANISATION_KINDS), 422 if errors else 200


@bp.post("/organisations/<int:organisation_id>/archiver")
def archive_organisation(organisation_id: int):
    require("edit_map")
    with engine().uow() as uow:
        registry.archive_organisation(uow, organisation_id=organisation_id, actor=current_user.username)
    flash(_("L'organisation et ses relations sont archivées."), "success")
    return redirect(url_for("map.organisations"))


@bp.route("/relations/nouvelle", methods=["GET", "POST"])
def new_relationship():
    require("edit_map")
    return _relationship_form(None)


@bp.route("/relations/<int:relationship_id>", methods=["GET", "POST"])
def edit_relationship(relationship_id: int):
    require("edit_map")
    return _relationship_form(relationship_id)


def _relationship_form(relationship_id: int | None):
    pf = engine()
    values, errors = {"partner_id": request.args.get("partner", "")}, {}
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            with pf.uow() as uow:
                if relationship_id is None:
                    registry.create_relationship(uow, actor=current_user.username, data=values)
                else:
                    registry.update_relationship(uow, relationship_id=relationship_id,
                                                 actor=current_user.username, data=values)
        except InvalidInput as exc:
            errors = exc.errors
        else:
            flash(_("La relation est enregistrée."), "success")
            return redirect(url_for("map.index"))
    with pf.read() as db:
        if relationship_id is not None and request.method == "GET":
            rel = registry.relationship(db, relationship_id)
            values = {k: _form_value(getattr(rel, k)) for k in registry.RELATIONSHIP_FIELDS}
            values["archived"] = rel.archived
        partners = [o for o in registry.organisations(db) if not o.is_own]
        partnerships = [(p.id, p.title) for p, _n in queries.partnerships_for(db)]
    return render_template("map_relationship_form.html", values=values, errors=errors,
                           relationship_id=relationship_id, partners=partners,
                           partnerships=partnerships, kinds=registry.KINDS, levels=registry.LEVELS,
                           ), 422 if errors else 200


def _form_value(value):
    return value.date().isoformat() if hasattr(value, "date") and value is not None else (
        "" if value is None else value)


@bp.post("/relations/<int:relationship_id>/archiver")
def archive_relationship(relationship_id: int):
    require("edit_map")
    with engine().uow() as uow:
        registry.archive_relationship(uow, relationship_id=relationship_id, actor=current_user.username)
    flash(_("La relation est archivée."), "success")
    return redirect(url_for("map.index"))


# ---------------------------------------------------------------- import and export


@bp.route("/import", methods=["GET", "POST"])
def upload():
    require("edit_map")
    errors = {}
    if request.method == "POST":
        file = request.files.get("file")
        pf = engine()
        try:
            if file is None or not file.filename:
                raise InvalidInput("no file", {"file": [_("Choisissez un fichier .csv ou .xlsx.")]})
            with pf.uow() as uow:
                sha256 = map_io.store_upload(uow, filename=file.filename, content=file.read(),
                                             actor=current_user.username,
                                             max_bytes=pf.settings.max_upload_bytes)
        except InvalidInput as exc:
            errors = exc.errors
        else:
            return redirect(url_for("map.preview", sha256=sha256))
    return render_template("map_import.html", errors=errors, headers=map_io.HEADERS), (
        422 if errors else 200)


@bp.get("/import/<sha256>")
def preview(sha256: str):
    require("edit_map")
    pf = engine()
    with pf.read() as db:
        result = map_io.preview(db, sha256=sha256, actor=current_user.username,
                                max_rows=pf.settings.import_max_rows)
    return render_template("map_preview.html", preview=result)


@bp.post("/import/<sha256>/confirmer")
def confirm(sha256: str):
    require("edit_map")
    with engine().uow() as uow:
        result = map_io.confirm(uow, sha256=sha256, actor=current_user.username)
    flash(_("Import terminé : %(added)s relation(s) ajoutée(s), %(updated)s mise(s) à jour, "
            "%(unchanged)s inchangée(s), %(rejected)s ligne(s) écartée(s).", added=result.added,
            updated=result.updated, unchanged=result.unchanged, rejected=result.rejected), "success")
    return redirect(url_for("map.index"))


@bp.get("/export.<fmt>")
def export(fmt: str):
    if fmt not in EXPORT_TYPES:
        abort(404)
    with engine().read() as db:
        rows = map_io.export_rows(db)
    body = map_io.to_csv(rows) if fmt == "csv" else map_io.to_xlsx(rows)
    return Response(body, mimetype=EXPORT_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="carte-partenariats.{fmt}"'})


# ---------------------------------------------------------------- graph


@bp.get("/graphe")
def graph():
    return render_template("map_graph.html", filters=_filters(), kinds=registry.KINDS,
                           levels=registry.LEVELS,
                           data_url=url_for("map.graph_data", **request.args))


@bp.get("/graphe.json")
def graph_data():
    with engine().read() as db:
        data = registry.graph(db, _filters(), limit=GRAPH_SIZE)
    may_edit = current_user.may("edit_map")
    for edge in data["edges"]:
        edge["url"] = _edge_url(edge, may_edit)
    first_edge = {}
    for edge in data["edges"]:
        first_edge.setdefault(edge["target"], edge["url"])
    for node in data["nodes"]:
        node["url"] = first_edge.get(node["id"]) or (
            url_for("map.edit_organisation", organisation_id=node["organisation_id"]) if may_edit else None)
    return jsonify(data)


def _edge_url(edge: dict, may_edit: bool) -> str | None:
    if edge["partnership_id"]:
        return url_for("partnerships.show", partnership_id=edge["partnership_id"])
    if may_edit:
        return url_for("map.edit_relationship", relationship_id=edge["relationship_id"])
    return None
