"""Task forms: rendered from the form definition, validated by the engine."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, send_file, session, url_for
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from partnerflow.engine import access
from partnerflow.engine.errors import (
    Conflict,
    Forbidden,
    FormValidationError,
    InvalidInput,
    NotFound,
    StepFailed,
)
from partnerflow.engine.runtime import discussion, documents, inbox_cache, queries, services, views
from partnerflow.engine.runtime import names as naming
from partnerflow.engine.store.models import HumanTask, Partnership, ProcessInstance

from . import sso
from .current import engine
from .errors import _wants_json
from .formatting import shown_name, task_title
from .webforms import (
    N_,
    build_fields,
    error_summary,
    keep_read_only,
    parse_submission,
    plan_objective_choices,
    prefill,
)

bp = Blueprint("tasks", __name__, url_prefix="/taches")
# what engine/runtime/discussion.py says of a refused comment or opinion, marked for translation
ENGINE_MESSAGES = (
    N_("Choisissez qui peut lire."),
    N_("Choisissez une personne de la liste."),
    N_("Cette personne est absente aujourd'hui : demandez plutôt à qui la remplace."),
    N_("Choisissez une recommandation de la liste."),
    # the labels the messages on a refused character name
    N_("Commentaire"), N_("Question"), N_("Avis"),
)


def _schema(pf, task) -> dict:
    return services.task_form(pf.forms, task, current_user)


USER_FIELD_ROLES = ("professional", "direction", "partner", "steering", "board")  # x-role of a user field


def _choices(db) -> dict:
    """The options of the user, organisation and objective widgets, each read only when the
    form has such a field."""
    def users() -> dict:
        found = queries.active_usernames_by_group(db, USER_FIELD_ROLES)
        return {role: people or found[None] for role, people in found.items()}

    return {"user": users,
            "organisation": lambda: {None: [(o.name, o.name) for o in queries.organisations(db)]},
            "plan_objective": lambda: plan_objective_choices(db)}


def _sections(pf, db, task) -> list:
    """The earlier steps the task declares it shows, as this user may read them."""
    shows = views.shows_of(pf.forms, task, views.meta_shows(db, pf.catalog, task))
    return views.task_sections(db, pf.forms, task, current_user, shows)


def _element_name(db, instance_id: int | None, element_id: str | None) -> str | None:
    """Where an instance stopped, by the element's name in the reader's language."""
    if not element_id:
        return None
    catalogue = naming.instance_catalogues(db, [instance_id]).get(instance_id or 0, {})
    return shown_name(catalogue.get(element_id), element_id)


def _render(task, schema, values, errors=None, status=200, readonly=False, told=None,
            talk: dict | None = None, keep: bool = False):
    """The task page; its content kept between requests when `keep` (web/inbox.py's cache):
    under the reader's keys and the partnership's, per query, language, time zone and session
    (its forms carry the session's CSRF token)."""
    pf = engine()
    with pf.read() as db:
        def content() -> Markup:
            return _content(pf, db, task, schema, values() if callable(values) else values,
                            errors, readonly, told, talk)

        if keep:
            me = access.actor(db, current_user.username)
            generate_csrf()  # the session's token exists before it names the entry
            key = ("task_html", task.id, task.state, task.row_version, readonly,
                   request.full_path, str(get_locale()), str(get_timezone()),
                   session.get("csrf_token"), pf.clock().date())
            shown = pf.inbox_cache.get(db, me, key, content,
                                       also=(inbox_cache.partnership_key(task.partnership_id),))
        else:
            shown = content()
    return render_template("task.html", task=task, content_html=shown), status


def _content(pf, db, task, schema, values, errors, readonly, told, talk) -> Markup:
    fields = build_fields(schema, values, errors, choices=_choices(db))
    summary = error_summary(fields, errors, extra={
        "password": ("f-password", _("Votre mot de passe, pour confirmer votre identité"))})
    partnership = db.get(Partnership, task.partnership_id)
    signing = _signing(db, task)
    instance = db.get(ProcessInstance, task.instance_id)
    incident = ({"element": _element_name(db, instance.id, instance.error_element),
                 "message": instance.error_message,
                 "told": told} if instance is not None and instance.status == "error" else None)
    colleagues = (queries.reassignable_users(db, task)
                  if task.state == "open" and current_user.may("reassign")
                  and not task.delegated_to else [])
    sections = _sections(pf, db, task)
    around = _discussion(db, task, talk)
    me = access.actor(db, current_user.username)
    may_follow_up = access.may(me, "set_follow_up", task)
    may_history = access.may(me, "read_history", task)
    reserved_by = (_("vous") if task.claimed_by == current_user.username
                   else queries.full_name(db, task.claimed_by)) if task.claimed_by else None
    return Markup(render_template(
        "_task_content.html", task=task, schema=schema, fields=fields, errors=errors or {},
        partnership=partnership, sections=sections, may_follow_up=may_follow_up,
        may_history=may_history, reserved_by=reserved_by, signing=signing,
        colleagues=colleagues, incident=incident, root_errors=(errors or {}).get("_form", []),
        error_links=summary, readonly=readonly, talk=around))


def _discussion(db, task, talk: dict | None) -> dict:
    """What the task page shows around the form: its comment thread, the opinions asked on
    it, and what this user may do (each from the access policy); `talk` carries a refused
    submission (which form, its errors, what was typed)."""
    me = access.actor(db, current_user.username)
    thread = access.Thread(task.partnership_id, task)
    opinions = queries.opinions(db, me, task)
    pending = next((o for o in opinions if o.state == "pending"), None) if task.delegated_to else None
    may_ask = access.may(me, "ask_opinion", task)
    return {
        "comments": queries.comments(db, me, task.partnership_id, task),
        "may_comment": access.may(me, "comment", thread),
        "may_share": access.may(me, "share_comment", thread),
        "partner_author": access.is_partner_representative(me),
        "opinions": [o for o in opinions if o.state != "pending"],
        "pending": pending,
        "waiting_for": queries.full_name(db, task.delegated_to) if task.delegated_to else None,
        "may_answer": access.may(me, "give_opinion", task),
        "may_withdraw": pending is not None and access.may(
            me, "withdraw_opinion", access.PendingOpinion(task, pending.owner)),
        "may_ask": may_ask,
        "candidates": queries.opinion_candidates(db, task, me) if may_ask else [],
        "behalf": queries.full_name(db, access.acting_for(me, task)) if task.state == "open" else None,
        "form": None, "errors": {}, "typed": {}, **(talk or {}),
    }


def _signing(db, task) -> dict | None:
    """For a task that asks for the password again (a signature, the diagram's
    confirm_password property): the exact document to sign, shown with its hash."""
    if not task.confirm_password:
        return None
    digest = (task.context or {}).get("document_sha256")
    try:
        document = documents.fetch(db, partnership_id=task.partnership_id, sha256=digest or "")
    except NotFound:
        document = None
    return {"document": document,
            "provider": sso.signing_proof(url_for("tasks.show", task_id=task.id))}


def _offered_to_me(task) -> bool:
    """Was this task for the signed-in user (assigned to them, or offered to one of their roles)?"""
    return access.may_act(current_user, task, ignore_claim=True)


def _task_to_submit(db, task_id: int):
    """The task this user may complete; one that was theirs but has just been closed is a
    conflict naming who closed it, not a refusal."""
    task = db.get(HumanTask, task_id)
    if task is None or task.state == "open":
        return services.task_for_actor(db, task_id=task_id, actor=current_user.username)
    if not _offered_to_me(task):
        raise Forbidden(f"{current_user.username} may not work on task {task_id}")
    if task.state == "completed":
        raise Conflict(f"this task was already completed by {task.completed_by}")
    raise Conflict(f"this task is {task.state}; it can no longer be completed")


@bp.get("/<int:task_id>")
@login_required
def show(task_id: int):
    return _page(task_id)


def _page(task_id: int, talk: dict | None = None, status: int = 200):
    pf = engine()
    with pf.read() as db:
        task, readonly = services.task_to_read(db, task_id=task_id, actor=current_user.username)
    schema = _schema(pf, task)

    def values() -> dict:
        if readonly:
            return {}
        if task.draft is not None:
            return task.draft
        with pf.read() as db:
            return prefill(schema, views.prepared_data(db, task))

    # kept unless it shows a refused submission, proves an identity (a signature: its proof
    # is made for each page) or offers the plan's objectives (the plan is another partnership)
    keep = talk is None and status == 200 and not task.confirm_password and not _reads_plan(schema)
    return _render(task, schema, values, readonly=readonly, talk=talk, status=status, keep=keep)


def _reads_plan(schema: dict) -> bool:
    """Does the form offer the partnership plan's objectives (a `plan_objective` field)?"""
    props = (schema or {}).get("properties") or {}
    return any(isinstance(p, dict) and (p.get("x-widget") == "plan_objective" or _reads_plan(
        p.get("items") if isinstance(p.get("items"), dict) else {})) for p in props.values())


def _refused(task_id: int, form: str, exc: InvalidInput, typed: dict):
    """The task page again, the refused form's messages next to its fields, what was typed
    kept."""
    return _page(task_id, {"form": form, "errors": exc.errors, "typed": typed}, 422)


@bp.post("/<int:task_id>/commentaires")
@login_required
def comment(task_id: int):
    """A comment in the task's thread (internal unless staff share it with the partner)."""
    pf = engine()
    with pf.read() as db:
        task = db.get(HumanTask, task_id)
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        partnership_id = task.partnership_id
    typed = {"text": request.form.get("text", ""), "visibility": request.form.get("visibility")}
    try:
        with pf.uow() as uow:
            discussion.add_comment(uow, actor=current_user.username, partnership_id=partnership_id,
                                   task_id=task_id, text=typed["text"],
                                   visibility=typed["visibility"])
    except InvalidInput as exc:
        return _refused(task_id, "comment", exc, typed)
    flash(_("Votre commentaire est publié."), "success")
    return redirect(url_for("tasks.show", task_id=task_id) + "#commentaires")


@bp.post("/<int:task_id>/avis")
@login_required
def ask_opinion(task_id: int):
    """The holder asks a colleague for an opinion: the task waits for the answer."""
    # "asked", not "delegate": the mission letter's own field on the same page is "delegate"
    typed = {"delegate": request.form.get("asked", ""), "question": request.form.get("question", "")}
    try:
        with engine().uow() as uow:
            discussion.ask_opinion(uow, task_id=task_id, actor=current_user.username,
                                   delegate=typed["delegate"], question=typed["question"])
    except InvalidInput as exc:
        return _refused(task_id, "ask", exc, typed)
    flash(_("Votre demande d’avis est envoyée. La tâche attend la réponse ; elle vous "
            "reviendra ensuite."), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<int:task_id>/avis/reponse")
@login_required
def give_opinion(task_id: int):
    """The colleague asked gives their opinion: the task goes back to its holder."""
    typed = {"opinion": request.form.get("opinion", ""),
             "recommendation": request.form.get("recommendation", "")}
    try:
        with engine().uow() as uow:
            discussion.give_opinion(uow, task_id=task_id, actor=current_user.username,
                                    opinion=typed["opinion"], recommendation=typed["recommendation"])
    except InvalidInput as exc:
        return _refused(task_id, "answer", exc, typed)
    flash(_("Merci, votre avis est transmis : la tâche revient à la personne qui vous l’a "
            "demandé."), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/<int:task_id>/avis/retrait")
@login_required
def withdraw_opinion(task_id: int):
    with engine().uow() as uow:
        discussion.withdraw_opinion(uow, task_id=task_id, actor=current_user.username)
    flash(_("La demande d’avis est retirée : la tâche est de nouveau entre vos mains."), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<int:task_id>")
@login_required
def submit(task_id: int):
    pf = engine()
    with pf.read() as db:
        task = _task_to_submit(db, task_id)
    schema = _schema(pf, task)
    upload_errors: dict[str, list[str]] = {}

    def store_file(upload):
        content = upload.read(pf.settings.max_upload_bytes + 1)
        try:
            with pf.uow() as uow:
                digest = documents.store(uow, partnership_id=task.partnership_id,
                                         filename=upload.filename, content=content,
                                         actor=current_user.username,
                                         max_bytes=pf.settings.max_upload_bytes)
                uow.commit()
        except InvalidInput as exc:
            # by the field's path, as the engine names errors ("annexes-0-file": "annexes.0.file")
            upload_errors[re.sub(r"-(\d+)-", r".\1.", upload.name)] = exc.errors.get("file", [str(exc)])
            return None
        return digest

    data = keep_read_only(schema, parse_submission(schema, request.form, request.files, store_file),
                          task.context or {})
    if request.form.get("action") == "draft":
        with pf.uow() as uow:
            services.save_draft(uow, task_id=task_id, actor=current_user.username, data=data)
        flash(_("Brouillon enregistré. Vous pourrez reprendre plus tard."), "success")
        for messages in upload_errors.values():
            flash(_("Un fichier n'a pas été gardé : %(why)s", why=" ".join(messages)), "warning")
        return redirect(url_for("tasks.show", task_id=task_id))
    if upload_errors:
        return _render(task, schema, data, upload_errors, 422)
    expected = request.form.get("row_version", type=int)
    try:
        with pf.uow() as uow:
            result = services.complete_task(uow, task_id=task_id, actor=current_user.username,
                                            data=data, expected_version=expected,
                                            password=request.form.get("password"))
    except FormValidationError as exc:
        if _wants_json():
            raise  # the JSON error handler names every field
        return _render(task, schema, data, exc.errors, 422)
    except StepFailed as exc:
        if _wants_json():
            raise
        # nothing of the attempt was kept but the incident: the answers are the task's draft
        with pf.read() as db:
            task = db.get(HumanTask, task_id)
        return _render(task, schema, data, told=exc.told)
    if result.error:
        with pf.read() as db:
            element = _element_name(db, result.instance_id, result.error_element)
        flash(_("Vos réponses sont enregistrées, mais le processus s'est arrêté à l'étape "
                "« %(element)s » : %(message)s. Prévenus : %(told)s.",
                element=element or "?", message=result.error,
                told=", ".join(result.told) or _("personne (aucun compte de direction, de "
                                                 "conception ou d'administration)")), "warning")
    else:
        flash(_("« %(title)s » est terminée. Merci !", title=task_title(task)), "success")
    return redirect(url_for("inbox.index"))


@bp.get("/<int:task_id>/document/<sha256>")
@login_required
def document(task_id: int, sha256: str):
    pf = engine()
    with pf.read() as db:
        task = services.task_for_actor(db, task_id=task_id, actor=current_user.username)
        shared = views.shared_documents(db, engine().forms, task.partnership_id, current_user)
        if shared is not None and sha256 not in shared:
            raise NotFound(f"no document {sha256} shared with {current_user.username}")
        doc = documents.fetch(db, partnership_id=task.partnership_id, sha256=sha256)
    return _send(doc)


def _send(doc):
    from io import BytesIO

    return send_file(BytesIO(doc.content), mimetype=doc.content_type, as_attachment=True,
                     download_name=doc.filename, max_age=0)
