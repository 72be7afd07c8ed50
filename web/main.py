"""Health, readiness, the language switch and the accessibility statement."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from .current import engine, safe_next
from .formatting import LOCALES

bp = Blueprint("main", __name__)


@bp.get("/health")
def health():
    """Liveness: `ok` (200) or `unavailable` (503); figures and the error for administrators."""
    from partnerflow.engine.runtime.host import liveness

    result = liveness(engine())
    body = {"status": "ok" if result.ok else "unavailable"}
    if current_user.is_authenticated and current_user.may("administer"):
        body |= result.figures | ({"error": result.error} if result.error else {})
    return jsonify(body), 200 if result.ok else 503


@bp.get("/ready")
def ready():
    """200 when the database answers, the schema is at head and the method is deployed;
    503 with the reasons otherwise (for load balancers and orchestrators)."""
    from partnerflow.engine.runtime.host import readiness_problems

    problems = readiness_problems(engine(), secret_key=current_app.secret_key)
    if problems:
        return jsonify(status="not ready", reasons=problems), 503
    return jsonify(status="ready")


@bp.post("/langue")
def set_language():
    lang = request.form.get("lang")
    if lang in LOCALES:
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))


@bp.get("/accessibilite")
def accessibility():
    """The accessibility statement (RGAA format), readable without an account."""
    return render_template("accessibility.html", contact=engine().settings.accessibility_contact)
