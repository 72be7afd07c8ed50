"""My absence: the periods I will be away and who stands in for me, and whom I stand in for."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine.errors import InvalidInput
from partnerflow.engine.runtime import discussion, queries

from .current import engine
from .webforms import N_

bp = Blueprint("absence", __name__, url_prefix="/absence")
# what discussion.declare_absence says of a refused period or deputy, marked for translation
ENGINE_MESSAGES = (
    N_("Indiquez le premier jour d'absence (jj/mm/aaaa)."),
    N_("Indiquez le dernier jour d'absence (jj/mm/aaaa)."),
    N_("Le dernier jour ne peut pas précéder le premier."),
    N_("Cette période est déjà passée."),
    N_("Une absence dure au plus 366 jours."),
    N_("Choisissez un(e) collègue de la liste."),
    N_("Vous avez déjà déclaré une absence sur une partie de cette période : terminez-la d'abord."),
)


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def _render(errors: dict | None = None, typed: dict | None = None, status: int = 200):
    with engine().read() as db:
        mine = queries.absences_of(db, current_user.username)
        standing_in = queries.standing_in(db, current_user.username)
        deputies = queries.deputy_candidates(db, current_user.username)
    return render_template("absence.html", mine=mine, standing_in=standing_in, deputies=deputies,
                           errors=errors or {}, typed=typed or {}), status


@bp.get("/")
@login_required
def index():
    if not current_user.may("declare_absence"):
        abort(403)
    return _render()


@bp.post("/")
@login_required
def declare():
    if not current_user.may("declare_absence"):
        abort(403)
    typed = {k: request.form.get(k, "") for k in ("starts_on", "ends_on", "deputy")}
    try:
        with engine().uow() as uow:
            discussion.declare_absence(uow, actor=current_user.username,
                                       starts_on=_day(typed["starts_on"]),
                                       ends_on=_day(typed["ends_on"]), deputy=typed["deputy"])
    except InvalidInput as exc:
        return _render(exc.errors, typed, 422)
    flash(_("Votre absence est enregistrée : pendant cette période, vos tâches sont aussi "
            "proposées à la personne qui vous remplace."), "success")
    return redirect(url_for("absence.index"))


@bp.post("/<int:absence_id>/fin")
@login_required
def end(absence_id: int):
    with engine().uow() as uow:
        discussion.end_absence(uow, actor=current_user.username, absence_id=absence_id)
    flash(_("Votre absence est terminée : vos tâches ne sont plus proposées à votre remplaçant(e)."),
          "success")
    return redirect(url_for("absence.index"))
