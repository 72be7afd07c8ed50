"""The inbox: my tasks and my roles' tasks, from the projection table only."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine import access
from partnerflow.engine.access.groups import STAGES
from partnerflow.engine.runtime import queries, services

from .current import engine, safe_next
from .params import int_arg, page_arg

bp = Blueprint("inbox", __name__)
PAGE_SIZE = 25


def _filters() -> queries.InboxFilter:
    args = request.args
    page = page_arg()
    return queries.InboxFilter(
        partnership_id=int_arg("partnership"),
        stage=args.get("stage") if args.get("stage") in STAGES else None,
        role=args.get("role") if args.get("role") in current_user.roles else None,
        overdue_only=args.get("overdue") == "1",
        sort=args.get("sort") if args.get("sort") in queries.SORTS else "due",
        limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)


@bp.get("/")
@login_required
def index():
    pf = engine()
    filters = _filters()
    now = pf.clock()
    with pf.read() as db:
        rows = queries.inbox(db, current_user.username, now, filters)
        total = queries.inbox_count(db, current_user.username, filters, now)
        partnerships = queries.inbox_partnerships(db, current_user.username)
        waiting = queries.waiting_for_contact(db, current_user.username)
        away = [a for a in queries.absences_of(db, current_user.username) if a.current]
        standing_in = [a for a in queries.standing_in(db, current_user.username) if a.current]
        me = access.actor(db, current_user.username)
        # the rows the user sees as the deputy of an absent colleague, and for whom
        behalf = {row.id: access.acting_for(me, row, ignore_claim=True) for row in rows} \
            if standing_in else {}
    if filters == queries.InboxFilter(limit=filters.limit, offset=filters.offset):
        g.inbox_count = total  # the header badge shows the same number
    page = filters.offset // PAGE_SIZE + 1
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template("inbox.html", rows=rows, total=total, page=page, pages=pages,
                           filters=filters, now=now, stages=STAGES, roles=sorted(current_user.roles),
                           partnerships=partnerships, waiting=waiting, away=away,
                           standing_in=standing_in,
                           covered={a.username: a.full_name for a in standing_in}, behalf=behalf,
                           stage_names={key: _(label) for key, label in STAGES.items()})


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
