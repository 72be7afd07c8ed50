"""Administration of people's RGPD requests: what Partnerflow holds of a user or a partner's
contact person (JSON and PDF), and its erasure. The rules are the engine's
(engine/runtime/privacy.py); administrators only."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine.errors import InvalidInput, NotFound
from partnerflow.engine.runtime import privacy, queries

from .current import engine, require

bp = Blueprint("privacy", __name__, url_prefix="/admin/donnees-personnelles")


@bp.before_request
@login_required
def administrators_only():
    require("administer")


def _person() -> tuple[str | None, str | None]:
    username = (request.values.get("user") or "").strip()[:80] or None
    name = (request.values.get("name") or "").strip()[:200] or None
    return username, name


def _data(username, name):
    with engine().read() as db:
        return privacy.personal_data(db, username=username, name=name)


@bp.get("/")
def index():
    username, name = _person()
    data, errors = None, {}
    if username or name:
        try:
            data = _data(username, name)
        except NotFound:
            errors["user"] = [_("Aucun compte ne porte cet identifiant.")]
        except InvalidInput as exc:
            errors = exc.errors
    with engine().read() as db:
        users = queries.users(db)
    return render_template("privacy.html", data=data, errors=errors, users=users,
                           username=username, name=name), 404 if "user" in errors else 200


@bp.get("/export.<kind>")
def export(kind: str):
    username, name = _person()
    if kind not in ("json", "pdf"):
        return redirect(url_for("privacy.index"))
    try:
        data = _data(username, name)
    except (NotFound, InvalidInput):
        flash(_("Indiquez un identifiant existant ou le nom d'une personne."), "error")
        return redirect(url_for("privacy.index"))
    stem = f"donnees-personnelles-{username or 'contact'}"
    if kind == "pdf":
        body, mimetype = privacy.report_pdf(data, engine().clock()), "application/pdf"
    else:
        body, mimetype = json.dumps(data, ensure_ascii=False, indent=2), "application/json"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{stem}.{kind}"', "Cache-Control": "no-store"})


@bp.post("/effacer")
def erase():
    username, name = _person()
    back = url_for("privacy.index", user=username, name=name)
    if (request.form.get("confirm") or "").strip().lower() != "effacer":
        flash(_("Tapez « effacer » pour confirmer : l'effacement est définitif."), "error")
        return redirect(back)
    try:
        with engine().uow() as uow:
            report = privacy.erase(uow, username=username, name=name, actor=current_user.username,
                                   reference=(request.form.get("reference") or "").strip())
    except NotFound:
        flash(_("Aucun compte ne porte cet identifiant."), "error")
        return redirect(url_for("privacy.index"))
    except privacy.ErasureRefused as exc:
        flash(_("Effacement impossible pour l'instant : %(reason)s",
                reason=_(exc.message, **exc.values)), "error")
        return redirect(back)
    flash(_("Données personnelles effacées : %(values)s valeur(s) du journal d'audit ; la chaîne "
            "d'audit reste vérifiable.", values=report["audit_values_erased"]), "success")
    return redirect(url_for("privacy.index", user=report.get("account"), name=name))
