"""Incidents: every instance stopped on an error, for the direction, the process designers
and the administrators, with what each may do about it (retry after a fix, resume from an
earlier task, cancel). Each action is the engine's use case; each is audited."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine.runtime import services

from .current import engine
from .params import page_arg

bp = Blueprint("incidents", __name__, url_prefix="/incidents")
PAGE_SIZE = 20


def _check_reader() -> None:
    if not current_user.may("read_incidents"):
        abort(403)


@bp.get("/")
@login_required
def index():
    _check_reader()
    page = page_arg()
    pf = engine()
    with pf.read() as db:
        total = services.count_open(db)
        rows = services.open_incidents(db, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    points = {}
    if current_user.may("resume"):
        with pf.read() as db:
            points = {row.instance_id: services.resume_points(db, instance_id=row.instance_id)
                      for row in rows}
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("incidents.html", rows=rows, points=points, page=page, pages=pages,
                           total=total, may_resume=current_user.may("resume"),
                           may_cancel=current_user.may("cancel"))


@bp.post("/<int:instance_id>/relancer")
@login_required
def retry(instance_id: int):
    _check_reader()
    with engine().uow() as uow:
        status = services.retry_instance(uow, instance_id=instance_id, actor=current_user.username)
    _said(status, _("Le processus est relancé."))
    return redirect(url_for("incidents.index"))


@bp.post("/<int:instance_id>/reprendre")
@login_required
def resume(instance_id: int):
    _check_reader()
    task_uuid = (request.form.get("task_uuid") or "").strip()
    if not task_uuid:
        flash(_("Choisissez l'étape depuis laquelle reprendre."), "warning")
        return redirect(url_for("incidents.index"))
    with engine().uow() as uow:
        status = services.resume_from_task(uow, instance_id=instance_id, task_uuid=task_uuid,
                                            actor=current_user.username)
    _said(status, _("Le processus reprend depuis l'étape choisie."))
    return redirect(url_for("incidents.index"))


@bp.post("/<int:instance_id>/annuler")
@login_required
def cancel(instance_id: int):
    _check_reader()
    reason = (request.form.get("reason") or "").strip()[:500]
    if not reason:
        flash(_("Indiquez pourquoi le processus est annulé."), "warning")
        return redirect(url_for("incidents.index"))
    with engine().uow() as uow:
        services.cancel_instance(uow, instance_id=instance_id, actor=current_user.username,
                                 reason=reason)
    flash(_("Le processus est annulé."), "success")
    return redirect(url_for("incidents.index"))


def _said(status: str, done: str) -> None:
    if status == "error":
        flash(_("Le processus s'est de nouveau arrêté sur une erreur : voir l'incident ci-dessous."),
              "warning")
    else:
        flash(done, "success")
