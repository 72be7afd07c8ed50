"""The direction's dashboard (/tableau-de-bord): figures and server-rendered SVG charts whose
bars link to the filtered lists. No JavaScript."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from flask_babel import format_decimal
from flask_login import login_required

from partnerflow.engine.method import dashboard

from .current import engine, require

bp = Blueprint("dashboard", __name__)
WINDOW_DAYS = 90
DURATION_WINDOW = timedelta(days=365)


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
        figures = {
            "stages": dashboard.partnerships_per_stage(db),
            "overdue": dashboard.overdue_per_role(db, now),
            "expiring": dashboard.conventions_expiring(db, today, WINDOW_DAYS),
            "durations": dashboard.time_per_stage(db, since=now - DURATION_WINDOW),
            "evaluations": dashboard.evaluations_due(db, today, WINDOW_DAYS),
        }
    return render_template("dashboard.html", window=WINDOW_DAYS, today=today, **figures)
