"""Health, readiness and the language switch."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, request, session, url_for
from sqlalchemy import text

from .current import engine, safe_next
from .formatting import LOCALES

bp = Blueprint("main", __name__)


@bp.get("/health")
def health():
    pf = engine()
    try:
        with pf.read() as db:
            count = lambda table, where="": db.execute(  # noqa: E731
                text(f"SELECT count(*) FROM {table} {where}")).scalar_one()
            figures = {"db": pf.db.dialect.name, "versions": count("process_version"),
                       "partnerships": count("partnership"),
                       "open_tasks": count("human_task", "WHERE state = 'open'")}
    except Exception as exc:  # noqa: BLE001 - health reports, it does not crash
        return jsonify(status="error", error=str(exc).splitlines()[0]), 503
    return jsonify(status="ok", **figures)


@bp.get("/ready")
def ready():
    """200 when the database answers, the schema is at head and the method is deployed;
    503 with the reasons otherwise (for load balancers and orchestrators)."""
    from partnerflow.engine.health import readiness_problems

    problems = readiness_problems(engine())
    if problems:
        return jsonify(status="not ready", reasons=problems), 503
    return jsonify(status="ready")


@bp.post("/langue")
def set_language():
    lang = request.form.get("lang")
    if lang in LOCALES:
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))
