"""Administration: users, their roles and their organisation, partner attachments."""

from __future__ import annotations

import secrets

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine import accounts, queries, services
from partnerflow.engine.errors import Conflict, InvalidInput
from partnerflow.engine.roles import ROLES

from .current import engine, require_roles
from .params import int_arg
from .webforms import N_, error_text

bp = Blueprint("admin", __name__, url_prefix="/admin")
# what accounts.create_user says of a user name, marked here for translation
ENGINE_MESSAGES = (
    N_("L'identifiant ne peut pas commencer par =, +, - ou @ (un tableur le lirait comme une "
       "formule)."),
    N_("L'identifiant ne peut pas contenir de caractère de contrôle (tabulation, retour à la "
       "ligne)."),
)


@bp.get("/utilisateurs")
@login_required
def users():
    require_roles("admin")
    with engine().read() as db:
        rows = queries.users(db)
        organisations = queries.organisations(db)
        partnerships = [p for p, _n in queries.partnerships_for(db)]
    return render_template("admin_users.html", users=rows, roles=ROLES, organisations=organisations,
                           partnerships=partnerships, errors={}, form={})


@bp.post("/utilisateurs")
@login_required
def create_user():
    require_roles("admin")
    form = request.form
    roles = form.getlist("roles")
    errors: dict[str, list[str]] = {}
    username = form.get("username", "").strip()
    full_name = form.get("full_name", "").strip()
    password = form.get("password") or secrets.token_urlsafe(12)
    if not username:
        errors["username"] = [_("L'identifiant est obligatoire.")]
    if not full_name:
        errors["full_name"] = [_("Le nom est obligatoire.")]
    if not roles:
        errors["roles"] = [_("Choisissez au moins un rôle.")]
    if len(password) < 8:
        errors["password"] = [_("Au moins 8 caractères.")]
    if not errors:
        try:
            with engine().uow() as uow:
                accounts.create_user(uow, username=username, full_name=full_name, roles=roles,
                                     actor=current_user.username, password=password,
                                     email=form.get("email") or None,
                                     organisation_id=int_arg("organisation_id", source=form))
        except Conflict:
            errors["username"] = [_("Cet identifiant est déjà pris.")]
        except InvalidInput as exc:  # names a spreadsheet would read as a formula, unknown roles
            errors.update({name: [error_text(m) for m in messages]
                           for name, messages in exc.errors.items()})
    if errors:
        with engine().read() as db:
            rows = queries.users(db)
            organisations = queries.organisations(db)
            partnerships = [p for p, _n in queries.partnerships_for(db)]
        return render_template("admin_users.html", users=rows, roles=ROLES,
                               organisations=organisations, partnerships=partnerships,
                               errors=errors, form=form), 422
    flash(_("Utilisateur %(u)s créé.", u=username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/utilisateurs/<username>/roles")
@login_required
def set_roles(username: str):
    require_roles("admin")
    with engine().uow() as uow:
        accounts.set_roles(uow, username=username, roles=request.form.getlist("roles"),
                           actor=current_user.username)
    flash(_("Rôles de %(u)s mis à jour.", u=username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/utilisateurs/<username>/partenariats")
@login_required
def attach(username: str):
    require_roles("admin")
    partnership_id = int_arg("partnership_id", source=request.form)
    if not partnership_id:
        raise InvalidInput("choose a partnership", {"partnership_id": [_("Choisissez un partenariat.")]})
    with engine().uow() as uow:
        services.attach_member(uow, partnership_id=partnership_id, username=username,
                               actor=current_user.username)
    flash(_("%(u)s est rattaché(e) au partenariat.", u=username), "success")
    return redirect(url_for("admin.users"))
