"""Partnerships: the list, one page per partnership, and proposing a new idea."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from partnerflow.engine import access
from partnerflow.engine.access.groups import STAGES
from partnerflow.engine.errors import FormValidationError, InvalidInput, NotFound, StepFailed
from partnerflow.engine.method import committee, dashboard, plan, registry
from partnerflow.engine.runtime import (
    deployment,
    discussion,
    documents,
    inbox_cache,
    queries,
    services,
    views,
)
from partnerflow.engine.store.models import Partnership

from .current import engine
from .errors import render_error
from .params import int_arg
from .webforms import build_fields, parse_submission

bp = Blueprint("partnerships", __name__, url_prefix="/partenariats")
MAIN_PROCESS = "partnership_cycle"


def _visible_ids():
    return access.readable_partnerships(current_user)


def _check_visible(partnership_id: int) -> None:
    if not current_user.may("read_partnership", partnership_id):
        abort(403)


LIST_SIZE = 50  # partnerships per page of the list


@bp.get("/")
@login_required
def index():
    """One page of the partnerships this user may read; filtered on a stage, a status, or
    the objective of the plan their idea names (the filters kept from page to page)."""
    stage = request.args.get("stage") if request.args.get("stage") in STAGES else None
    status = (request.args.get("status") or "").strip()[:20] or None
    objective = (request.args.get("objectif") or "").strip()[:200] or None
    with engine().read() as db:
        found = queries.partnerships_page(
            db, _visible_ids(), int_arg("page"), LIST_SIZE, stage=stage, status=status,
            among=plan.naming(objective) if objective else None)
    return render_template("partnerships.html", rows=found.rows, found=found, stage=stage,
                           status=status, objective=objective)


@bp.get("/<int:partnership_id>")
@login_required
def show(partnership_id: int):
    return _page(partnership_id)


# the partnership page shows one page of each list that grows with its history
OPEN_SHOWN = 50  # open tasks listed (the inbox, filtered on the partnership, lists them all)
HISTORY_SIZE = 20  # completed steps per page of the history
EVALUATIONS_SIZE = 10
INSTANCES_SIZE = 20
DOCUMENTS_SIZE = 20
LINKABLE_SHOWN = 30  # organisations offered to link at once (a search narrows them)
THREAD_SIZE = 30  # the latest comments of the thread shown (the earlier ones a link away)
EVALUATION_FORMS = ("intermediate_evaluation", "final_evaluation", "period_review")


def _page(partnership_id: int, talk: dict | None = None, status: int = 200):
    _check_visible(partnership_id)
    pf = engine()
    with pf.read() as db:
        partnership = db.get(Partnership, partnership_id)
        if partnership is None:
            abort(404)
        if talk is None and partnership.kind != plan.PLAN_KIND:
            content = _kept_content(pf, db, partnership)
        else:  # a refused submission shows what was typed; the plan reads every partnership
            content = _content(db, partnership, talk)
    return render_template("partnership.html", partnership=partnership,
                           content_html=content), status


def _kept_content(pf, db, partnership) -> Markup:
    """The page's content, rendered once and kept while nothing it shows changed: the
    reader's keys and the partnership's (`partnership:<id>`, bumped by any write to its
    rows) keep their versions; per query, language, time zone and session (its forms carry
    the session's CSRF token)."""
    me = access.actor(db, current_user.username)
    generate_csrf()  # the session's token exists before it names the entry
    key = ("partnership_html", partnership.id, request.full_path, str(get_locale()),
           str(get_timezone()), session.get("csrf_token"), engine().clock().date())
    return pf.inbox_cache.get(db, me, key, lambda: _content(db, partnership, None),
                              also=(inbox_cache.partnership_key(partnership.id),))


def _content(db, partnership, talk: dict | None) -> Markup:
    partnership_id = partnership.id
    open_tasks, open_count = queries.open_tasks_of(db, partnership_id, OPEN_SHOWN)
    me = access.actor(db, current_user.username)
    actionable = {t.id for t in open_tasks if access.may(me, "act", t)}
    # tasks nobody may act on: "en attente d'un interlocuteur", and who may unblock them
    able = access.users_who_may_each(db, "act", open_tasks)
    waiting = {t.id for t in open_tasks if not able[t.id]}
    ref = queries.partnership_ref(partnership_id, open_tasks)
    contacts = (queries.unattached_partner_contacts(db, partnership_id)
                if waiting and access.may(me, "attach_contact", ref) else None)
    history = queries.completed_tasks_page(db, partnership_id, int_arg("etapes"), HISTORY_SIZE)
    evaluations = queries.completed_tasks_page(db, partnership_id, int_arg("evaluations"),
                                               EVALUATIONS_SIZE, EVALUATION_FORMS)
    members, actors = queries.partnership_people(db, partnership_id)
    steering = committee.members_of(db, partnership_id)
    organisations = queries.partnership_organisations(db, partnership_id)
    shared = views.shared_documents(db, engine().forms, partnership_id, current_user)
    # a partner representative: only what is shared with them
    docs = queries.documents_page(db, partnership_id, int_arg("documents"), DOCUMENTS_SIZE,
                                  only=shared)
    instances = queries.instances_page(db, partnership_id, int_arg("instances"), INSTANCES_SIZE)
    written = queries.latest_result(db, partnership_id, "action_sheets")
    sheets = (views.form_table(db, engine().forms, "action_sheets", "action_sheets",
                               written.result.get("action_sheets") or [], current_user,
                               partnership_id) if written else None)
    internal = views.reads_internal(current_user)
    objective = _objective_served(db, partnership_id)
    # the map's editors may name the partner organisation the map should draw: the first
    # organisations by name, those whose name holds what they searched for
    searched = (request.args.get("organisation_q") or "").strip()[:100] or None
    linkable = (queries.linkable_organisations(db, partnership_id, searched, LINKABLE_SHOWN)
                if partnership.kind != plan.PLAN_KIND and current_user.may("edit_map")
                else None)
    # the record carrying the partnership plan: its page is the plan
    the_plan = (dashboard.partnership_plan(db, engine().clock().date())
                if partnership.kind == plan.PLAN_KIND else None)
    thread = access.Thread(partnership_id)
    thread_page = queries.comments_page(db, me, partnership_id, int_arg("commentaires"),
                                        THREAD_SIZE, with_tasks=True)
    talk = {"comments": thread_page.rows, "thread_page": thread_page,
            "may_comment": access.may(me, "comment", thread),
            "may_share": access.may(me, "share_comment", thread),
            "partner_author": access.is_partner_representative(me),
            "form": None, "errors": {}, "typed": {}, **(talk or {})}
    return Markup(render_template(
        "_partnership_content.html", partnership=partnership, open_tasks=open_tasks,
        open_count=open_count, actionable=actionable, waiting=waiting, contacts=contacts,
        history=history, members=members, actors=actors, steering=steering,
        organisations=organisations, documents=docs, instances=instances, sheets=sheets,
        evaluations=evaluations, internal=internal, objective=objective, plan=the_plan,
        linkable=linkable, searched=searched, talk=talk))


def _objective_served(db, partnership_id: int):
    """The objective of the partnership plan the idea serves, as this reader may read it."""
    named = plan.objectives_named(db, partnership_id).get(partnership_id)
    if named is None:
        return None
    pf = engine()
    try:
        form_key = pf.catalog.compiled(db, deployment.latest_version(db, MAIN_PROCESS).id
                                       ).start_form_key
    except NotFound:
        return None
    return views.form_value(db, pf.forms, form_key, plan.OBJECTIVE_FIELD, named, current_user,
                            partnership_id) if form_key else None


@bp.post("/<int:partnership_id>/commentaires")
@login_required
def comment(partnership_id: int):
    """A comment in the partnership's thread: internal unless staff share it with the
    partner; a partner contact's is shared. Those concerned are told."""
    _check_visible(partnership_id)
    typed = {"text": request.form.get("text", ""), "visibility": request.form.get("visibility")}
    try:
        with engine().uow() as uow:
            discussion.add_comment(uow, actor=current_user.username, partnership_id=partnership_id,
                                   text=typed["text"], visibility=typed["visibility"])
    except InvalidInput as exc:
        return _page(partnership_id, {"form": "comment", "errors": exc.errors, "typed": typed}, 422)
    flash(_("Votre commentaire est publié."), "success")
    return redirect(url_for("partnerships.show", partnership_id=partnership_id) + "#commentaires")


@bp.post("/<int:partnership_id>/interlocuteurs")
@login_required
def attach_contact(partnership_id: int):
    """Attach a partner contact, which unblocks the partner tasks nobody could act on; the
    direction, the administrators and the partnership's delegate may (audited)."""
    username = request.form.get("username", "").strip()
    with engine().read() as db:
        if db.get(Partnership, partnership_id) is None:
            abort(404)
        open_tasks = queries.tasks_of_partnership(db, partnership_id, "open")
        ref = queries.partnership_ref(partnership_id, open_tasks)
        if not access.may(access.actor(db, current_user.username), "attach_contact", ref):
            abort(403)
        allowed = {u for u, _name in queries.unattached_partner_contacts(db, partnership_id)}
    if username not in allowed:
        raise InvalidInput("choose a partner contact",
                           {"username": [_("Choisissez un contact partenaire de la liste.")]})
    with engine().uow() as uow:
        services.attach_member(uow, partnership_id=partnership_id, username=username,
                               actor=current_user.username)
    flash(_("%(u)s est rattaché(e) au partenariat : les tâches qui l’attendaient lui sont "
            "proposées.", u=username), "success")
    return redirect(url_for("partnerships.show", partnership_id=partnership_id))


@bp.post("/<int:partnership_id>/organisations")
@login_required
def link_organisation(partnership_id: int):
    """Name a partner organisation of the map for the partnership (the map's editors,
    audited): the next map step draws its relationship; a process stopped because no partner
    was known can then be retried from the incidents."""
    if not current_user.may("edit_map"):
        abort(403)
    organisation_id = int_arg("organisation_id", source=request.form)
    if organisation_id is None:
        raise InvalidInput("choose an organisation",
                           {"organisation_id": [_("Choisissez une organisation de la carte.")]})
    with engine().uow() as uow:
        registry.link_partner_organisation(uow, partnership_id=partnership_id,
                                           organisation_id=organisation_id,
                                           actor=current_user.username)
    flash(_("L’organisation est rattachée au partenariat : la carte la reprendra à sa prochaine "
            "mise à jour ; un processus arrêté faute de partenaire peut être relancé depuis les "
            "incidents."), "success")
    return redirect(url_for("partnerships.show", partnership_id=partnership_id))


@bp.get("/<int:partnership_id>/documents/<sha256>")
@login_required
def document(partnership_id: int, sha256: str):
    _check_visible(partnership_id)
    with engine().read() as db:
        shared = views.shared_documents(db, engine().forms, partnership_id, current_user)
        if shared is not None and sha256 not in shared:  # an internal document
            raise NotFound(f"no document {sha256} shared with {current_user.username}")
        doc = documents.fetch(db, partnership_id=partnership_id, sha256=sha256)
    from .tasks import _send

    return _send(doc)


def _start_form(pf):
    with pf.read() as db:
        version = deployment.latest_version(db, MAIN_PROCESS)
        compiled = pf.catalog.compiled(db, version.id)
    if not compiled.start_form_key:
        raise NotFound("the main process has no start form")
    return pf.forms.get(compiled.start_form_key).schema


@bp.route("/nouvelle-idee", methods=["GET", "POST"])
@login_required
def propose():
    if not current_user.may("propose"):
        abort(403)
    pf = engine()
    try:
        schema = _start_form(pf)
    except NotFound:
        return render_error(503, _("La démarche partenariale n'est pas encore déployée : un "
                                   "concepteur doit d'abord déployer les processus (partnerflow "
                                   "deploy, ou le modeleur)."))
    values, errors = {}, None
    if request.method == "POST":
        values = parse_submission(schema, request.form)
        title = str(values.get("idea_title") or values.get("title") or "").strip()
        try:
            cleaned = pf.forms.validate(_start_key(pf), values)
            with pf.uow() as uow:
                pid = services.create_partnership(uow, title=title or _("Idée sans titre"),
                                                  actor=current_user.username)
            with pf.uow() as uow:
                services.start_instance(uow, partnership_id=pid, process_key=MAIN_PROCESS,
                                        actor=current_user.username, data=cleaned)
        except FormValidationError as exc:
            errors = exc.errors
        except StepFailed as exc:
            flash(_("L'idée est enregistrée, mais son processus n'a pas pu démarrer : %(message)s. "
                    "La direction et les concepteurs peuvent le relancer.", message=exc.message),
                  "warning")
            return redirect(url_for("partnerships.show", partnership_id=pid))
        else:
            flash(_("Votre idée est proposée. La direction va l'examiner."), "success")
            return redirect(url_for("partnerships.show", partnership_id=pid))
    with pf.read() as db:
        from .tasks import _choices

        fields = build_fields(schema, values, errors, choices=_choices(db))
    return render_template("propose.html", schema=schema, fields=fields, errors=errors or {}), (
        422 if errors else 200)


def _start_key(pf) -> str:
    with pf.read() as db:
        version = deployment.latest_version(db, MAIN_PROCESS)
        return pf.catalog.compiled(db, version.id).start_form_key
