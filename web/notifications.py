"""In-app notifications: the list, marking read, and the daily-digest preference."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from partnerflow.engine.runtime import inbox_page, notifications
from partnerflow.engine.store.models import HumanTask, Partnership

from .current import engine, safe_next
from .formatting import task_title
from .params import page_arg

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PAGE_SIZE = 50


def N_(message: str) -> str:
    return message


# the subject in the reader's language (the stored one is the French of the e-mail)
SUBJECTS = {
    "task_assigned": N_("Nouvelle tâche : %(title)s"),
    "task_overdue": N_("Tâche en retard : %(title)s"),
    "escalation": N_("Escalade : « %(title)s » attend une décision"),
    "reminder": N_("Relance : %(title)s"),
    "comment_added": N_("Nouveau commentaire : %(title)s"),
    "opinion_requested": N_("Votre avis est demandé : %(title)s"),
    "opinion_given": N_("Avis reçu : %(title)s"),
    "opinion_withdrawn": N_("Demande d'avis retirée : %(title)s"),
}


def _subjects(db, rows) -> dict[int, str]:
    titles = {row.id: task_title(row) for row in db.execute(
        select(HumanTask.id, HumanTask.title, HumanTask.title_en).where(
            HumanTask.id.in_([r.task_id for r in rows if r.task_id]))).all()}
    return {r.id: _(SUBJECTS[r.kind], title=titles[r.task_id])
            for r in rows if r.kind in SUBJECTS and r.task_id in titles}


def _partnerships(db, rows) -> dict[int, str]:
    """The title of each notification's partnership (a notification always says which)."""
    ids = {r.partnership_id for r in rows if r.partnership_id}
    return dict(db.execute(select(Partnership.id, Partnership.title)
                           .where(Partnership.id.in_(ids))).all()) if ids else {}


@bp.app_context_processor
def _header_count() -> dict:
    """`notification_count()` for the header, next to the inbox badge."""
    def count() -> int:
        if not current_user.is_authenticated:
            return 0
        pf = engine()
        with pf.read() as db:
            return inbox_page.unread_notifications(db, current_user.username, pf.inbox_cache)

    return {"notification_count": count}


@bp.get("/")
@login_required
def index():
    page = page_arg()
    with engine().read() as db:
        rows = notifications.recent(db, current_user.username, limit=PAGE_SIZE,
                                    offset=(page - 1) * PAGE_SIZE)
        total = notifications.count_for(db, current_user.username)
        unread = notifications.unread_count(db, current_user.username)
        digest = notifications.digest_enabled(db, current_user.username)
        subjects = _subjects(db, rows)
        partnerships = _partnerships(db, rows)
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template("notifications.html", rows=rows, unread=unread, digest=digest,
                           page=page, pages=pages, subjects=subjects, partnerships=partnerships,
                           mail=bool(engine().settings.smtp_host))


@bp.post("/<int:notification_id>/lue")
@login_required
def mark_read(notification_id: int):
    with engine().uow() as uow:
        row = notifications.mark_read(uow, username=current_user.username,
                                      notification_id=notification_id)
    if request.form.get("open") and row.link:
        return redirect(safe_next(row.link, url_for("notifications.index")))
    return redirect(url_for("notifications.index"))


@bp.post("/tout-lu")
@login_required
def mark_all_read():
    with engine().uow() as uow:
        count = notifications.mark_all_read(uow, username=current_user.username)
    flash(_("%(n)s notification(s) marquée(s) comme lue(s).", n=count), "success")
    return redirect(url_for("notifications.index"))


@bp.post("/preferences")
@login_required
def preferences():
    enabled = request.form.get("digest") == "1"
    with engine().uow() as uow:
        notifications.set_digest(uow, username=current_user.username, enabled=enabled)
    flash(_("Vous recevrez un récapitulatif quotidien au lieu d'un courriel par notification.")
          if enabled else _("Vous recevrez un courriel par notification."), "success")
    return redirect(url_for("notifications.index"))
