"""The API's credentials on pages: a user's personal access tokens (created, shown once,
revoked) on their account, and the OAuth2 clients an administrator registers."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine.access import tokens
from partnerflow.engine.errors import InvalidInput
from partnerflow.engine.runtime import queries

from .current import engine, require
from .webforms import N_

bp = Blueprint("tokens", __name__)
# what engine/access/tokens.py says of refused fields, marked for translation
ENGINE_MESSAGES = (
    N_("Donnez un nom au jeton (120 caractères au plus)."),
    N_("Choisissez « read » (lecture) ou « write » (lecture et écriture)."),
    N_("La durée de validité va de 1 à 366 jours."),
    N_("Donnez un nom au client (120 caractères au plus)."),
    N_("Choisissez un compte actif : le client agit avec ses groupes."),
)


def _days() -> int | None:
    raw = request.form.get("days", "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 5 else None


def _tokens_page(errors: dict | None = None, new_token: str | None = None, status: int = 200):
    pf = engine()
    with pf.read() as db:
        rows = tokens.personal_tokens(db, current_user.username)
    return render_template("tokens.html", rows=rows, errors=errors or {}, new_token=new_token,
                           now=pf.clock(), form=request.form if errors else {}), status


@bp.get("/compte/jetons")
@login_required
def index():
    return _tokens_page()


@bp.post("/compte/jetons")
@login_required
def create():
    try:
        with engine().uow() as uow:
            token = tokens.create_personal_token(uow, username=current_user.username,
                                                 name=request.form.get("name", ""),
                                                 scope=request.form.get("scope", ""), days=_days())
    except InvalidInput as exc:
        return _tokens_page(exc.errors, status=422)
    # shown once, on this response only: the database keeps its hash
    return _tokens_page(new_token=token, status=201)


@bp.post("/compte/jetons/<int:token_id>/revoquer")
@login_required
def revoke(token_id: int):
    with engine().uow() as uow:
        tokens.revoke_personal_token(uow, username=current_user.username, token_id=token_id)
    flash(_("Le jeton est révoqué : il ne donne plus accès à l'API."), "success")
    return redirect(url_for("tokens.index"))


# ---------------------------------------------------------------- OAuth2 clients (administration)


def _clients_page(errors: dict | None = None, secret: tuple[str, str] | None = None, status: int = 200):
    with engine().read() as db:
        rows = tokens.clients(db)
        accounts = queries.active_usernames(db)
    return render_template("api_clients.html", rows=rows, accounts=accounts, errors=errors or {},
                           secret=secret, form=request.form if errors else {}), status


@bp.get("/admin/clients-api")
@login_required
def clients():
    require("administer")
    return _clients_page()


@bp.post("/admin/clients-api")
@login_required
def register():
    require("administer")
    try:
        with engine().uow() as uow:
            secret = tokens.register_client(uow, name=request.form.get("name", ""),
                                            service_account=request.form.get("service_account", ""),
                                            scope=request.form.get("scope", ""),
                                            actor=current_user.username)
    except InvalidInput as exc:
        return _clients_page(exc.errors, status=422)
    return _clients_page(secret=secret, status=201)


@bp.post("/admin/clients-api/<int:client_id>/revoquer")
@login_required
def revoke_client(client_id: int):
    require("administer")
    with engine().uow() as uow:
        tokens.revoke_client(uow, client_id=client_id, actor=current_user.username)
    flash(_("Le client est révoqué : ses jetons ne donnent plus accès à l'API."), "success")
    return redirect(url_for("tokens.clients"))
