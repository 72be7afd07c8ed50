"""Signing in and out; the login page lists the demo accounts when (and only when) the
demo is loaded."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from partnerflow.engine import accounts, queries
from partnerflow.engine.accounts import LoginThrottled
from partnerflow.engine.demo import DEMO_PASSWORD, demo_accounts
from partnerflow.engine.roles import ROLES

from .current import WebUser, engine, safe_next
from .extensions import login_manager

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("Identifiant", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Mot de passe", validators=[DataRequired(), Length(max=200)])


@login_manager.user_loader
def load_user(user_id: str) -> WebUser | None:
    if not user_id.isdigit():
        return None
    with engine().read() as db:
        found = queries.user_by_id(db, int(user_id))
        if found is None:
            return None
        user, partnerships = found
        if not user.active:
            return None
        return WebUser(id=user.id, username=user.username, full_name=user.full_name,
                       roles=frozenset(user.role_keys), partnership_ids=frozenset(partnerships),
                       organisation_id=user.organisation_id)


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            with engine().uow() as uow:
                user = accounts.authenticate(uow, username=form.username.data.strip(),
                                             password=form.password.data,
                                             remote_addr=request.remote_addr)
        except LoginThrottled:
            error = _("Trop de tentatives échouées. Réessayez dans 15 minutes.")
            user = None
        if user is not None:
            lang = session.get("lang")
            session.clear()  # a new session on sign-in, keeping only the chosen language
            if lang:
                session["lang"] = lang
            session.permanent = True
            login_user(load_user(str(user.id)))
            flash(_("Bienvenue, %(name)s.", name=user.full_name), "success")
            return redirect(safe_next(request.args.get("next"), url_for("inbox.index")))
        error = error or _("Identifiant ou mot de passe incorrect.")
    with engine().read() as db:
        demo = demo_accounts() if queries.demo_loaded(db) else []
    return render_template("login.html", form=form, error=error, demo=demo,
                           demo_password=DEMO_PASSWORD, roles=ROLES), (401 if error else 200)


@bp.post("/deconnexion")
@login_required
def logout():
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Vous êtes déconnecté(e)."), "info")
    return redirect(url_for("auth.login"))
