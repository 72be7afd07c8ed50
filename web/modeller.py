"""The modeller: designers edit, validate, deploy and version the method in the browser."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from partnerflow.engine.access import accounts
from partnerflow.engine.errors import Conflict, DeploymentRejected, InvalidInput
from partnerflow.engine.runtime import connectors, deployment, modelling, queries
from partnerflow.engine.store.models import ProcessDraft, ProcessInstance, ProcessVersion

from .current import engine, require, with_diagram_csp
from .formatting import problem_shown, version_name
from .params import int_arg, json_object
from .webforms import build_fields

bp = Blueprint("modeller", __name__, url_prefix="/modeleur")


@bp.before_request
@login_required
def designers_only():
    require("design")


bp.after_request(with_diagram_csp)


def _version(db, key: str, number: int | None) -> ProcessVersion:
    query = select(ProcessVersion).where(ProcessVersion.process_key == key)
    query = query.where(ProcessVersion.version == number) if number else query.order_by(
        ProcessVersion.version.desc())
    version = db.scalar(query.limit(1))
    if version is None:
        abort(404)
    return version


@bp.get("/")
def index():
    with engine().read() as db:
        rows = queries.versions(db)
        drafts = {d.process_key: d for d in db.scalars(select(ProcessDraft))}
    latest: dict[str, tuple] = {}
    for version, running in rows:
        total = latest.get(version.process_key, (None, 0, 0))
        latest[version.process_key] = (version, total[1] + running, total[2] + 1)
    return render_template("modeller_index.html", latest=latest, drafts=drafts,
                           forms=engine().forms.form_keys())


@bp.get("/modeles-elements.json")
def element_templates():
    """The connectors as Camunda 7 element templates, for the modeller's template chooser (the
    same file the desktop Camunda Modeler reads; see docs/conventions.md)."""
    return jsonify(connectors.shipped_templates())


@bp.get("/<key>")
def edit(key: str):
    number = int_arg("version")
    with engine().read() as db:
        version = _version(db, key, number)
        draft = db.get(ProcessDraft, key)
    use_draft = draft is not None and not number and request.args.get("draft") != "0"
    source_url = url_for("modeller.source", key=key, version=version.version,
                         draft=1 if use_draft else None)
    return render_template("modeller_edit.html", version=version, draft=draft if use_draft else None,
                           source_url=source_url)


@bp.get("/<key>/source")
def source(key: str):
    with engine().read() as db:
        if request.args.get("draft"):
            draft = db.get(ProcessDraft, key)
            if draft is not None:
                return Response(draft.source, mimetype="application/xml")
        version = _version(db, key, int_arg("version"))
        return Response(version.source, mimetype="application/xml")


def _posted_xml() -> bytes:
    xml = json_object().get("xml")
    if not isinstance(xml, str) or not xml.strip():
        raise InvalidInput("no diagram was sent", {"xml": [_("Aucun diagramme reçu.")]})
    try:
        return xml.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no file can hold it
        raise InvalidInput("the diagram holds an invalid character",
                           {"xml": [_("Le diagramme contient un caractère invalide.")]}) from None


@bp.post("/<key>/brouillon")
def save_draft(key: str):
    with engine().read() as db:
        version = _version(db, key, None)
    with engine().uow() as uow:
        modelling.save_draft(uow, process_key=key, filename=version.filename, xml=_posted_xml(),
                             actor=current_user.username)
    return jsonify(saved=True, message=_("Brouillon enregistré."))


@bp.post("/<key>/deployer")
def deploy(key: str):
    with engine().read() as db:
        version = _version(db, key, None)
    try:
        with engine().uow() as uow:
            result = modelling.deploy_files(uow, files=[(version.filename, _posted_xml())],
                                            actor=current_user.username)
    except DeploymentRejected as exc:
        return jsonify(deployed=False, message=_("Le déploiement est refusé ; rien n'a été déployé."),
                       problems=[problem_shown(p) for p in exc.problems]), 422
    names = _deployed_names(result.items)
    return jsonify(deployed=True, items=[
        {"process_key": i.process_key, "name": names[i.version_id], "version": i.version,
         "created": i.created} for i in result.items],
        warnings=[problem_shown(w) for w in result.warnings],
        message=_("Déployé, avec des avertissements.") if result.warnings else _("Déployé."))


def _deployed_names(items) -> dict[int, str]:
    """Each deployed version's name in the reader's language, by version id."""
    with engine().read() as db:
        return {i.version_id: version_name(db.get(ProcessVersion, i.version_id)) for i in items}


@bp.get("/<key>/versions")
def versions(key: str):
    with engine().read() as db:
        rows = queries.versions(db, key)
        if not rows:
            abort(404)
        instances = db.scalars(select(ProcessInstance).where(
            ProcessInstance.process_key == key, ProcessInstance.status.in_(("running", "error")))
            .order_by(ProcessInstance.id)).all()
    return render_template("modeller_versions.html", key=key, rows=rows, instances=instances,
                           latest=rows[-1][0])


@bp.get("/<key>/versions/<int:number>")
def view_version(key: str, number: int):
    with engine().read() as db:
        version = _version(db, key, number)
    return render_template("modeller_view.html", version=version,
                           source_url=url_for("modeller.source", key=key, version=number))


@bp.get("/<key>/differences")
def differences(key: str):
    """Version `to` drawn with what changed since version `from` marked on it."""
    with engine().read() as db:
        rows = queries.versions(db, key)
        if not rows:
            abort(404)
        latest = rows[-1][0].version
        new_number = int_arg("to", latest)
        old_number = int_arg("from", max(new_number - 1, 1))
        old, new = _version(db, key, old_number), _version(db, key, new_number)
    diff = deployment.diff_sources(old.source, new.source, new.filename)
    return render_template("modeller_diff.html", key=key, old=old, new=new, diff=diff,
                           numbers=[v.version for v, _running in rows],
                           source_url=url_for("modeller.source", key=key, version=new.version))


@bp.get("/<key>/versions/<int:number>/telecharger")
def download(key: str, number: int):
    with engine().read() as db:
        version = _version(db, key, number)
    stem, _dot, ext = version.filename.rpartition(".")
    name = f"{stem or key}-v{number}.{ext or version.kind}"
    return Response(version.source, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _uploaded_files() -> list[tuple[str, bytes]]:
    """The files of the upload form, or those the lane mapping step sends back."""
    files = [(f.filename, f.read(engine().settings.max_upload_bytes + 1))
             for f in request.files.getlist("files") if f and f.filename]
    # sent back in base64 so that the bytes (line ends included) are those uploaded
    names, contents = request.form.getlist("doc_name"), request.form.getlist("doc_content")
    for name, content in zip(names, contents, strict=False):
        try:
            files.append((name, base64.b64decode(content, validate=True)))
        except ValueError:
            message = _("Un fichier renvoyé est abîmé : déposez-le de nouveau.")
            raise InvalidInput("a file of the mapping step is damaged", {"files": [message]}) from None
    return files


def _lane_mapping() -> dict[str, str]:
    """lane:<lane name> = group key, as chosen on the mapping step."""
    return {name.removeprefix("lane:"): value for name, value in request.form.items()
            if name.startswith("lane:") and value}


@bp.post("/televerser")
def upload():
    """Deploy uploaded files. Lanes whose name is no group's get a mapping step (each lane
    mapped to a group, kept with the version) instead of a refusal."""
    files = _uploaded_files()
    mapping = _lane_mapping()
    try:
        with engine().uow() as uow:
            result = modelling.deploy_files(uow, files=files, actor=current_user.username,
                                            lane_mapping=mapping)
    except DeploymentRejected as exc:
        if exc.unmapped_lanes:
            lane_ids = {lane.lane_id for lane in exc.unmapped_lanes}
            others = [p for p in exc.problems if p.element_id not in lane_ids]
            with engine().read() as db:
                groups = accounts.groups(db)
            return render_template(
                "modeller_lanes.html", lanes=exc.unmapped_lanes, groups=groups,
                problems=[problem_shown(p) for p in others],
                mapping=mapping, docs=[(name, base64.b64encode(content).decode("ascii"))
                                       for name, content in files]), 422 if others else 200
        return render_template("modeller_rejected.html",
                               problems=[problem_shown(p) for p in exc.problems]), 422
    names = _deployed_names(result.created)
    created = [f"{names[i.version_id]} v{i.version}" for i in result.created]
    flash(_("Déployé : %(items)s.", items=", ".join(created)) if created
          else _("Rien de nouveau : ces fichiers sont identiques aux versions déployées."), "success")
    for warning in result.warnings:
        shown = problem_shown(warning)
        where = f"{warning.file} [{warning.element_id}]" if warning.element_id else warning.file
        flash(_("Avertissement : %(warning)s", warning=" — ".join(
            part for part in (where, shown["message"], shown["hint"]) if part)), "warning")
    return redirect(url_for("modeller.index"))


@bp.post("/instances/<int:instance_id>/migrer")
def migrate(instance_id: int):
    key = request.form.get("process_key", "")
    try:
        with engine().uow() as uow:
            number = modelling.migrate_instance(uow, instance_id=instance_id,
                                                actor=current_user.username)
    except Conflict as exc:
        flash(_("Migration refusée : %(why)s", why=str(exc).removeprefix("migration refused: ")),
              "warning")
    else:
        flash(_("L'instance %(id)s passe à la version %(n)s.", id=instance_id, n=number), "success")
    return redirect(url_for("modeller.versions", key=key) if key else url_for("modeller.index"))


@bp.get("/formulaires/<form_key>")
def edit_form(form_key: str):
    pf = engine()
    if not pf.forms.exists(form_key):
        abort(404)
    import json

    schema = pf.forms.get(form_key).schema
    return render_template("modeller_form.html", form_key=form_key, messages=_editor_messages(),
                           schema_json=json.dumps(schema, ensure_ascii=False, indent=2))


def _editor_messages() -> dict:
    """The visual form editor's texts, in the reader's language."""
    return {
        "field": _("Champ %(n)s : %(label)s"), "key": _("Identifiant (variable du processus)"),
        "keyHelp": _("L'identifiant d'un champ existant ne change pas : les processus et les "
                     "données déjà saisies l'utilisent."),
        "keyHelpNew": _("Lettres, chiffres et _ ; il ne commence pas par un chiffre."),
        "label": _("Libellé"), "kind": _("Type"), "help": _("Aide"), "required": _("Obligatoire"),
        "audience": _("Qui le lit"),
        "audienceHelp": _("Interne : jamais montré au partenaire. Partenaire ou tous : lu aussi "
                          "par le partenaire."),
        "audiences": {"internal": _("Interne"), "partner": _("Partenaire"), "everyone": _("Tous"),
                      "inherit": _("Comme la ligne")},
        "kinds": {"text": _("Texte court"), "textarea": _("Texte long"), "number": _("Nombre"),
                  "euros": _("Montant en euros"), "date": _("Date"), "select": _("Liste de choix"),
                  "radio": _("Boutons de choix"), "checkbox": _("Case à cocher"),
                  "user": _("Personne (compte)"), "organisation": _("Organisation de la carte"),
                  "file": _("Document"), "rows": _("Lignes répétées")},
        "choices": _("Choix"), "choiceValue": _("Valeur enregistrée"), "choiceLabel": _("Libellé affiché"),
        "actions": _("Actions"), "addChoice": _("Ajouter un choix"), "newChoice": _("Nouveau choix"),
        "removeChoice": _("Retirer le choix %(n)s"), "choiceYes": _("Oui"),
        "rowFields": _("Champs de chaque ligne"), "addRowField": _("Ajouter un champ à la ligne"),
        "deepRows": _("Des lignes dans une ligne se modifient dans le JSON."),
        "up": _("Monter « %(label)s »"), "down": _("Descendre « %(label)s »"),
        "remove": _("Retirer « %(label)s »"), "removeShort": _("Retirer"),
        "confirmRemove": _("Retirer le champ « %(label)s » du formulaire ?"),
        "removed": _("« %(label)s » est retiré."),
        "moved": _("« %(label)s » est maintenant en position %(n)s."),
        "added": _("Un champ est ajouté à la fin."), "newField": _("Nouveau champ"),
        "drag": _("Glisser pour déplacer"), "notObject": _("Le JSON doit décrire un objet."),
    }


@bp.post("/formulaires/<form_key>")
def save_form(form_key: str):
    schema = json_object().get("schema")
    if not isinstance(schema, dict):
        return jsonify(saved=False, errors={"schema": [_("Le JSON doit décrire un objet.")]}), 422
    try:
        with engine().uow() as uow:
            number = modelling.save_form(uow, form_key=form_key, schema=schema,
                                         actor=current_user.username)
    except InvalidInput as exc:
        return jsonify(saved=False, errors=exc.errors), 422
    engine().forget_saved_forms()
    return jsonify(saved=True, version=number, message=_("Formulaire enregistré (version %(n)s).", n=number))


@bp.post("/formulaires/<form_key>/apercu")
def preview_form(form_key: str):
    schema = json_object().get("schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return jsonify(html="", error=_("Le JSON doit décrire un objet (\"type\": \"object\").")), 422
    try:
        fields = build_fields(schema, {}, {})
    except (AttributeError, TypeError, ValueError) as exc:
        return jsonify(html="", error=str(exc)), 422
    html = render_template("_preview.html", schema=schema, fields=fields)
    return jsonify(html=html)
