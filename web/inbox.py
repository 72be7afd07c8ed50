"""The inbox: my tasks and my roles' tasks, from the projection table only; its search,
filters (saved, or shared by the direction) and bulk claim or release."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from partnerflow.engine import access
from partnerflow.engine.access.groups import STAGES
from partnerflow.engine.errors import InvalidInput
from partnerflow.engine.runtime import inbox_actions, inbox_page, queries, services

from .current import engine, safe_next
from .params import int_arg, page_arg

bp = Blueprint("inbox", __name__)
PAGE_SIZE = 25
MAX_SEARCH = 200  # characters of the search box read


def _choice(value: str | None, allowed) -> str | None:
    return value if value in allowed else None


def _filters() -> queries.InboxFilter:
    args = request.args
    page = page_arg()
    return queries.InboxFilter(
        partnership_id=int_arg("partnership"),
        stage=_choice(args.get("stage"), STAGES),
        role=_choice(args.get("role"), current_user.roles),
        overdue_only=args.get("overdue") == "1",
        sort=_choice(args.get("sort"), queries.SORTS) or "due",
        text=(args.get("q") or "").strip()[:MAX_SEARCH] or None,
        holder=_choice(args.get("holder"), queries.HOLDERS),
        due=_choice(args.get("due"), queries.DUES),
        follow_up=_choice(args.get("follow_up"), queries.FOLLOW_UPS),
        age=_choice(args.get("age"), queries.AGES),
        limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)


def _current_query() -> dict:
    """The inbox parameters of this page a saved filter keeps."""
    return {k: v for k, v in request.args.items() if k in inbox_actions.FILTER_KEYS and v}


@bp.get("/")
@login_required
def index():
    pf = engine()
    chosen = int_arg("filtre")
    if chosen is not None:
        return _apply_saved(chosen)
    filters = _filters()
    now = pf.clock()
    with pf.read() as db:
        found = inbox_page.read(db, current_user.username, now, filters, pf.inbox_cache)
        me = access.actor(db, current_user.username)
        # today's absences, read only when the policy's actor says there are some
        away = ([a for a in queries.absences_of(db, current_user.username) if a.current]
                if me.absent else [])
        standing_in = ([a for a in queries.standing_in(db, current_user.username) if a.current]
                       if me.standing_in_for else [])
        # the rows the user sees as the deputy of an absent colleague, and for whom
        behalf = {row.id: access.acting_for(me, row, ignore_claim=True) for row in found.rows} \
            if standing_in else {}
        total = found.total
        if not filters.narrowed:
            g.inbox_count = total  # the header badge shows the same number
        content = _content(db, pf, me, found, filters, now, away, standing_in, behalf)
    return render_template("inbox.html", rows=found.rows, content_html=content)


def _content(db, pf, me, found, filters, now, away, standing_in, behalf) -> Markup:
    """The page's content, rendered once and kept with the page it shows (same reader, same
    versions of what it shows, same query) in this language and session (its forms carry the
    session's CSRF token) until one of its rows shows differently as time passes
    (inbox_page.shown_until) or the day changes."""
    today = now.astimezone(access.PARIS).date()
    total = found.total
    page = filters.offset // PAGE_SIZE + 1
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    covered = {a.username: a.full_name for a in standing_in}

    def render() -> Markup:
        return Markup(render_template(
            "_inbox_content.html", rows=found.rows, total=total, capped=found.capped, page=page,
            pages=pages, filters=filters, now=now, today=today, stages=STAGES,
            roles=sorted(current_user.roles), partnerships=found.partnerships,
            waiting=found.waiting, away=away, standing_in=standing_in, covered=covered,
            behalf=behalf, who_acts=found.who_acts, saved=found.saved, query=_current_query(),
            may_share=current_user.may("define_shared_filters"),
            stage_names={key: _(label) for key, label in STAGES.items()}))

    if not inbox_page.cacheable(filters):
        return render()
    generate_csrf()  # the session's token exists before it names the entry
    key = ("inbox_html", filters, request.full_path, str(get_locale()), str(get_timezone()),
           session.get("csrf_token"), today, inbox_page.shown_until(found.rows, now),
           tuple(sorted(behalf.items())), tuple(sorted(covered.items())),
           tuple((a.starts_on, a.ends_on, a.deputy_name) for a in away))
    return pf.inbox_cache.get(db, me, key, render)


def _apply_saved(filter_id: int):
    with engine().read() as db:
        found = {f.id: f for f in inbox_actions.saved_filters(db, current_user.username)}
    saved = found.get(filter_id)
    if saved is None:
        flash(_("Ce filtre enregistré n’existe pas ou plus."), "warning")
        return redirect(url_for("inbox.index"))
    return redirect(url_for("inbox.index", **saved.query))


def _act(fn, success: str):
    pf = engine()
    task_id = request.view_args["task_id"]
    with pf.uow() as uow:
        fn(uow, task_id)
    flash(success, "success")
    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))


@bp.post("/taches/<int:task_id>/prendre")
@login_required
def claim(task_id: int):
    return _act(lambda uow, tid: services.claim_task(uow, task_id=tid, actor=current_user.username),
                _("La tâche vous est réservée."))


@bp.post("/taches/<int:task_id>/liberer")
@login_required
def unclaim(task_id: int):
    return _act(lambda uow, tid: services.unclaim_task(uow, task_id=tid, actor=current_user.username),
                _("La tâche est de nouveau proposée à tout le rôle."))


@bp.post("/taches/<int:task_id>/reaffecter")
@login_required
def reassign(task_id: int):
    """The direction gives a task to one of the people who may act on it (the task page
    lists only them: queries.reassignable_users); the engine refuses anyone else."""
    to_user = request.form.get("to_user", "").strip()
    if not to_user:
        flash(_("Choisissez à qui réaffecter la tâche."), "warning")
        return redirect(url_for("inbox.index"))
    return _act(lambda uow, tid: services.reassign_task(uow, task_id=tid, actor=current_user.username,
                                                        to_user=to_user),
                _("La tâche a été réaffectée à %(user)s.", user=to_user))


@bp.post("/taches/<int:task_id>/relance")
@login_required
def follow_up(task_id: int):
    """The holder sets the day to chase the task up (empty: none)."""
    raw = request.form.get("follow_up_on", "").strip()
    try:
        day = date.fromisoformat(raw) if raw else None
    except ValueError:
        flash(_("Date de relance illisible : choisissez un jour (jj/mm/aaaa)."), "warning")
        return redirect(url_for("tasks.show", task_id=task_id))
    with engine().uow() as uow:
        inbox_actions.set_follow_up(uow, task_id=task_id, actor=current_user.username, day=day)
    flash(_("Relance prévue le %(day)s.", day=day.strftime("%d/%m/%Y")) if day
          else _("Relance retirée."), "success")
    return redirect(safe_next(request.form.get("next"), url_for("tasks.show", task_id=task_id)))


@bp.post("/taches/selection")
@login_required
def bulk():
    """Claim or release the ticked tasks; each refused one is named with why."""
    action = request.form.get("action")
    if action not in ("claim", "release"):
        abort(400)
    ids = [int(v) for v in request.form.getlist("task_ids") if v.isdigit() and len(v) <= 12]
    back = safe_next(request.form.get("next"), url_for("inbox.index"))
    use_case = inbox_actions.claim_tasks if action == "claim" else inbox_actions.release_tasks
    try:
        with engine().uow() as uow:
            result = use_case(uow, task_ids=ids, actor=current_user.username)
    except InvalidInput as exc:
        for messages in exc.errors.values():
            for message in messages:
                flash(_(message), "warning")
        return redirect(back)
    if result.done:
        flash(_("%(n)s tâche(s) réservée(s).", n=len(result.done)) if action == "claim"
              else _("%(n)s tâche(s) libérée(s).", n=len(result.done)), "success")
    for refusal in result.refused:
        name = (_("« %(title)s »", title=refusal.title) if refusal.title
                else _("la tâche n° %(id)s", id=refusal.task_id))
        flash(_("Non réservée, %(task)s : %(reason)s.", task=name, reason=_(refusal.reason))
              if action == "claim" else
              _("Non libérée, %(task)s : %(reason)s.", task=name, reason=_(refusal.reason)),
              "warning")
    return redirect(back)


@bp.post("/filtres")
@login_required
def save_filter():
    """Keep the inbox's current filter under a name (the direction: shared with everyone)."""
    query = {k: v for k, v in request.form.items() if k in inbox_actions.FILTER_KEYS and v}
    shared = request.form.get("shared") == "1"
    try:
        with engine().uow() as uow:
            filter_id = inbox_actions.save_filter(uow, actor=current_user.username,
                                                  name=request.form.get("name", ""),
                                                  query=query, shared=shared)
    except InvalidInput as exc:
        for messages in exc.errors.values():
            for message in messages:
                flash(_(message), "warning")
        return redirect(url_for("inbox.index", **query))
    flash(_("Filtre partagé enregistré.") if shared else _("Filtre enregistré."), "success")
    return redirect(url_for("inbox.index", filtre=filter_id))


@bp.post("/filtres/<int:filter_id>/supprimer")
@login_required
def delete_filter(filter_id: int):
    with engine().uow() as uow:
        inbox_actions.delete_filter(uow, actor=current_user.username, filter_id=filter_id)
    flash(_("Filtre supprimé."), "success")
    return redirect(url_for("inbox.index"))
