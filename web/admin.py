"""Administration: users, their groups and their organisation, partner attachments; the
organisation's groups (the method's nine, seeded, and its own) and their members."""

from __future__ import annotations

import secrets

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine import access
from partnerflow.engine.access import accounts
from partnerflow.engine.errors import Conflict, InvalidInput
from partnerflow.engine.runtime import queries, services

from .current import engine, require
from .params import int_arg
from .webforms import N_, error_text

bp = Blueprint("admin", __name__, url_prefix="/admin")
# what accounts.create_user and accounts.create_group say, marked here for translation
ENGINE_MESSAGES = (
    N_("L'identifiant ne peut pas commencer par =, +, - ou @ (un tableur le lirait comme une "
       "formule)."),
    N_("L'identifiant ne peut pas contenir de caractère de contrôle (tabulation, retour à la "
       "ligne)."),
    N_("La clé est obligatoire."),
    N_("La clé commence par une lettre et ne contient que des lettres minuscules sans accent, "
       "des chiffres, - ou _ (40 caractères au plus)."),
    N_("Le libellé français est obligatoire."),
    N_("Le libellé anglais est obligatoire."),
    N_("Au plus 200 caractères."),
)


@bp.before_request
@login_required
def administrators_only():
    require("administer")


def _users_page(errors: dict, form, status: int = 200):
    with engine().read() as db:
        rows = queries.users(db)
        organisations = queries.organisations(db)
        partnerships = [p for p, _n in queries.partnerships_for(db)]
        groups = accounts.groups(db)
        # the users a partnership may be attached to: the partner group's members
        contacts = {name for name, _full in queries.active_usernames(db, access.PARTNER)}
        orphans = queries.tasks_of_inactive_users(db)
        return render_template("admin_users.html", users=rows, groups=groups, contacts=contacts,
                               orphans=orphans,
                               organisations=organisations, partnerships=partnerships,
                               errors=errors, form=form), status


@bp.get("/utilisateurs")
def users():
    return _users_page({}, {})


@bp.post("/utilisateurs/<username>/actif")
def set_active(username: str):
    """Deactivate an account (its sessions stop at once) or reactivate it."""
    active = request.form.get("active") == "1"
    try:
        with engine().uow() as uow:
            open_tasks = accounts.set_active(uow, username=username, active=active,
                                             actor=current_user.username)
    except Conflict:
        flash(_("Vous ne pouvez pas désactiver votre propre compte."), "error")
        return redirect(url_for("admin.users"))
    if active:
        flash(_("Le compte %(u)s est réactivé.", u=username), "success")
    elif open_tasks:
        flash(_("Le compte %(u)s est désactivé ; ses sessions sont fermées. %(n)s tâche(s) lui "
                "restent attribuées : réattribuez-les (liste ci-dessous).", u=username,
                n=len(open_tasks)), "warning")
    else:
        flash(_("Le compte %(u)s est désactivé ; ses sessions sont fermées.", u=username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/utilisateurs")
def create_user():
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
        errors["roles"] = [_("Choisissez au moins un groupe.")]
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
        except InvalidInput as exc:  # names a spreadsheet would read as a formula, unknown groups
            errors.update({name: [error_text(m) for m in messages]
                           for name, messages in exc.errors.items()})
    if errors:
        return _users_page(errors, form, 422)
    flash(_("Utilisateur %(u)s créé.", u=username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/utilisateurs/<username>/roles")
def set_roles(username: str):
    with engine().uow() as uow:
        accounts.set_roles(uow, username=username, roles=request.form.getlist("roles"),
                           actor=current_user.username)
    flash(_("Groupes de %(u)s mis à jour.", u=username), "success")
    return redirect(url_for("admin.users"))


@bp.post("/utilisateurs/<username>/partenariats")
def attach(username: str):
    partnership_id = int_arg("partnership_id", source=request.form)
    if not partnership_id:
        raise InvalidInput("choose a partnership", {"partnership_id": [_("Choisissez un partenariat.")]})
    with engine().uow() as uow:
        services.attach_member(uow, partnership_id=partnership_id, username=username,
                               actor=current_user.username)
    flash(_("%(u)s est rattaché(e) au partenariat.", u=username), "success")
    return redirect(url_for("admin.users"))


# ---------------------------------------------------------------- groups


def _groups_page(errors: dict, form, status: int = 200):
    with engine().read() as db:
        return render_template("admin_groups.html", groups=accounts.groups(db),
                               members=accounts.group_members(db),
                               users=queries.active_usernames(db), errors=errors,
                               form=form), status


@bp.get("/groupes")
def groups():
    return _groups_page({}, {})


@bp.post("/groupes")
def create_group():
    form = request.form
    try:
        with engine().uow() as uow:
            key = accounts.create_group(uow, key=form.get("key", ""), label_fr=form.get("label_fr", ""),
                                        label_en=form.get("label_en", ""), actor=current_user.username)
    except InvalidInput as exc:
        return _groups_page({name: [error_text(m) for m in messages]
                             for name, messages in exc.errors.items()}, form, 422)
    flash(_("Groupe %(g)s créé.", g=key), "success")
    return redirect(url_for("admin.groups"))


@bp.post("/groupes/<group_key>/membres")
def add_member(group_key: str):
    username = request.form.get("username", "").strip()
    if not username:
        raise InvalidInput("choose a user", {"username": [_("Choisissez une personne.")]})
    with engine().uow() as uow:
        accounts.add_member(uow, group_key=group_key, username=username, actor=current_user.username)
    flash(_("%(u)s fait partie du groupe %(g)s.", u=username, g=group_key), "success")
    return redirect(url_for("admin.groups") + f"#groupe-{group_key}")


@bp.post("/groupes/<group_key>/membres/<username>/retirer")
def remove_member(group_key: str, username: str):
    with engine().uow() as uow:
        accounts.remove_member(uow, group_key=group_key, username=username,
                               actor=current_user.username)
    flash(_("%(u)s ne fait plus partie du groupe %(g)s.", u=username, g=group_key), "success")
    return redirect(url_for("admin.groups") + f"#groupe-{group_key}")
