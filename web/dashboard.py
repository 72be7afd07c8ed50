"""The direction's dashboard (/tableau-de-bord): figures and server-rendered SVG charts whose
bars link to the filtered lists. No JavaScript."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import login_required

from partnerflow.engine.method import dashboard, figures, plan

from .current import engine, require
from .params import int_arg

bp = Blueprint("dashboard", __name__)
WINDOW_DAYS = 90
LIST_SIZE = 20  # rows per page of the conventions to renew and of the evaluations due


@bp.app_template_global()
def format_days(value: float) -> str:
    """A number of days as the locale writes it, one decimal at most: "2,5"."""
    return format_decimal(value, "#,##0.#")


@bp.get("/tableau-de-bord")
@login_required
def index():
    require("read_dashboard")
    pf = engine()
    now = pf.clock()
    today = now.date()
    with pf.read() as db:
        expiring = _page(dashboard.conventions_expiring_count(db, today, WINDOW_DAYS), "conventions")
        shown = {
            "stages": dashboard.partnerships_per_stage(db),
            "overdue": dashboard.overdue_per_role(db, now),
            "expiring": expiring | {"rows": dashboard.conventions_expiring(
                db, today, WINDOW_DAYS, limit=LIST_SIZE, offset=expiring["offset"])},
            "durations": dashboard.time_per_stage(db, since=now - figures.DURATION_WINDOW),
            "evaluations": _evaluations(db, today),
            "plan": dashboard.partnership_plan(db, today),
        }
    return render_template("dashboard.html", window=WINDOW_DAYS, today=today, **shown)


def _evaluations(db, today) -> dict:
    """The page of the evaluations due asked for; its count comes with its rows (one read
    of the action sheets), so a page past the last is read again as the last."""
    wanted = max(1, int_arg("evaluations") or 1)
    rows, total = dashboard.evaluations_page(db, today, WINDOW_DAYS, limit=LIST_SIZE,
                                             offset=(wanted - 1) * LIST_SIZE)
    found = _page(total, "evaluations")
    if found["page"] != wanted:
        rows, total = dashboard.evaluations_page(db, today, WINDOW_DAYS, limit=LIST_SIZE,
                                                 offset=found["offset"])
    return found | {"rows": rows}


def _page(total: int, arg: str) -> dict:
    """The page of a list of the dashboard asked for by the query argument `arg`."""
    pages = max(1, -(-total // LIST_SIZE))
    page = min(max(1, int_arg(arg) or 1), pages)
    return {"total": total, "page": page, "pages": pages, "offset": (page - 1) * LIST_SIZE}


@bp.post("/tableau-de-bord/plan")
@login_required
def start_plan():
    """Start the partnership plan: the direction draws it up from the map, the board
    approves it, it is reviewed every year (bpmn/partnership_plan.bpmn)."""
    user = require("read_dashboard")
    require("edit_map")
    with engine().uow() as uow:
        plan.start_plan(uow, actor=user.username)
    flash(_("Le plan de partenariat est ouvert : la direction l’établit à partir de la carte, "
            "puis le conseil d’administration l’approuve."), "success")
    return redirect(url_for("dashboard.index"))
