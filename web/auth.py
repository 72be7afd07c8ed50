"""Signing in and out, and changing one's password; the login page lists the demo accounts
when (and only when) the demo is loaded.

A session holds the user's session epoch from the database; the user loader refuses a
session whose epoch is not the current one, so signing out or changing the password ends
every session issued before (copied cookies included), on every web process."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from partnerflow.engine import access
from partnerflow.engine.access import accounts
from partnerflow.engine.access.accounts import LoginThrottled
from partnerflow.engine.access.groups import ROLES
from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.method.demo import DEMO_PASSWORD, demo_accounts
from partnerflow.engine.runtime import queries

from . import sso
from .current import WebUser, engine, safe_next
from .extensions import login_manager
from .webforms import N_

bp = Blueprint("auth", __name__)
EPOCH = "session_epoch"
# what accounts.change_password says of the fields, marked here for translation
ENGINE_MESSAGES = (N_("Mot de passe actuel incorrect."),
                   N_("Le nouveau mot de passe doit être différent de l'actuel."),
                   N_("Indiquez votre identifiant ou votre adresse."),
                   N_("Ce lien n'est plus valable (il a déjà servi, ou plus d'une heure a passé) : "
                      "demandez-en un nouveau."),
                   N_("Au moins 8 caractères."), N_("Au plus 200 caractères."))


class LoginForm(FlaskForm):
    username = StringField("Identifiant", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Mot de passe", validators=[DataRequired(), Length(max=200)])


@bp.before_app_request
def _remember_client_address():
    # checks deep inside a use case (the password typed again to sign) count failures per
    # address too, and accept a recent authentication again at the identity provider
    g._client_address_token = accounts.set_client_address(request.remote_addr)
    at = session.get(sso.REAUTH_AT) if session.get(sso.VIA) else None
    g._reauth_token = accounts.set_reauthentication(
        datetime.fromtimestamp(at, UTC) if isinstance(at, int | float) else None)


@bp.teardown_app_request
def _forget_client_address(_exc):
    token = g.pop("_client_address_token", None)
    if token is not None:
        accounts.reset_client_address(token)
    token = g.pop("_reauth_token", None)
    if token is not None:
        accounts.reset_reauthentication(token)


def _web_user(user_id: str, epoch: int | None) -> WebUser | None:
    if not user_id.isdigit():
        return None
    pf = engine()
    with pf.read() as db:
        found = pf.inbox_cache.signed_in(db, int(user_id), access.today(db),
                                         lambda: _read_web_user(db, int(user_id)))
        if found is None:
            return None
        web_user, session_epoch, active = found
        if not active or epoch is None or epoch != session_epoch:
            return None
        # the page's queries ask the policy for this actor: it is read already
        access.remember(db, _actor(web_user))
        return web_user


def _actor(web_user: WebUser) -> access.Actor:
    return access.Actor(web_user.username, web_user.roles, web_user.partnership_ids,
                        web_user.standing_in_for, web_user.absent)


def _read_web_user(db, user_id: int):
    """The signed-in user as the pages see them, their session epoch and whether active;
    with their actor for the policy."""
    found = queries.user_by_id(db, user_id)
    if found is None:
        return None
    user, ties = found
    web_user = WebUser(id=user.id, username=user.username, full_name=user.full_name,
                       roles=frozenset(user.role_keys), partnership_ids=ties.partnership_ids,
                       organisation_id=user.organisation_id, standing_in_for=ties.standing_in_for,
                       absent=ties.absent)
    return (web_user, user.session_epoch, user.active), _actor(web_user)


@login_manager.user_loader
def load_user(user_id: str) -> WebUser | None:
    return _web_user(user_id, session.get(EPOCH))


def _fresh_session() -> None:
    lang = session.get("lang")
    session.clear()  # a new session, keeping only the chosen language
    if lang:
        session["lang"] = lang


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    form = LoginForm()
    error, status, headers = None, 200, {}
    local = engine().settings.local_passwords
    if not local and request.method == "POST":
        error, status = _("Les mots de passe de Partnerflow ne servent pas ici : connectez-vous "
                          "avec %(provider)s.", provider=engine().settings.oidc_label), 403
    elif form.validate_on_submit():
        try:
            with engine().uow() as uow:
                user = accounts.authenticate(uow, username=form.username.data.strip(),
                                             password=form.password.data,
                                             remote_addr=request.remote_addr)
                epoch = user.session_epoch if user is not None else None
        except LoginThrottled as exc:
            error = _("Trop de tentatives échouées. Réessayez dans %(minutes)s minute(s).",
                      minutes=exc.minutes)
            status, headers = 429, {"Retry-After": str(int(exc.retry_after.total_seconds()) + 1)}
            user = None
        if user is not None:
            _fresh_session()
            session.permanent = True
            session[EPOCH] = epoch
            login_user(_web_user(str(user.id), epoch))
            flash(_("Bienvenue, %(name)s.", name=user.full_name), "success")
            return redirect(safe_next(request.args.get("next"), url_for("inbox.index")))
        if error is None:
            error, status = _("Identifiant ou mot de passe incorrect."), 401
    with engine().read() as db:
        demo = demo_accounts() if queries.demo_loaded(db) else []
    return render_template("login.html", form=form, error=error, demo=demo if local else [],
                           demo_password=DEMO_PASSWORD, roles=ROLES, local_passwords=local,
                           sso=sso.enabled(), sso_label=engine().settings.oidc_label,
                           next=request.args.get("next")), status, headers


@bp.post("/deconnexion")
@login_required
def logout():
    with engine().uow() as uow:
        accounts.end_sessions(uow, user_id=current_user.id)
    provider_logout = sso.sign_out_everywhere()
    _fresh_session()
    flash(_("Vous êtes déconnecté(e)."), "info")
    return redirect(provider_logout or url_for("auth.login"))


class PasswordForm(FlaskForm):
    # lengths are the engine's to check (accounts.change_password), with French messages
    current_password = PasswordField("Mot de passe actuel")
    new_password = PasswordField("Nouveau mot de passe")
    confirm_password = PasswordField("Confirmation")


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        if form.new_password.data != form.confirm_password.data:
            errors["confirm_password"] = [_("Les deux saisies du nouveau mot de passe diffèrent.")]
        else:
            try:
                with engine().uow() as uow:
                    change = accounts.change_password(uow, username=current_user.username,
                                                      current=form.current_password.data,
                                                      new=form.new_password.data)
            except FormValidationError as exc:
                errors = exc.errors
            else:
                # this session goes on with the new epoch; every other one has ended
                session[EPOCH] = change.session_epoch
                flash(_("Votre mot de passe est changé. Vos autres sessions sont fermées."),
                      "success")
                return redirect(url_for("inbox.index"))
    return render_template("password.html", form=form, errors=errors), 422 if errors else 200


# ---------------------------------------------------------------- a forgotten password


class ForgotForm(FlaskForm):
    login = StringField("Identifiant ou adresse électronique", validators=[Length(max=200)])


class ResetForm(FlaskForm):
    new_password = PasswordField("Nouveau mot de passe")
    confirm_password = PasswordField("Confirmation")


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link by e-mail; the answer never says whether the account exists."""
    from partnerflow.engine.errors import Conflict
    from partnerflow.engine.runtime import notifications

    pf = engine()
    form = ForgotForm()
    errors: dict[str, list[str]] = {}
    mailer = notifications.mailer_for(pf.settings)
    if form.validate_on_submit():
        try:
            with pf.uow() as uow:
                accounts.request_password_reset(
                    uow, login=form.login.data, secret=pf.settings.secret_key, mailer=mailer,
                    link_for=lambda token: pf.settings.base_url.rstrip("/")
                    + url_for("auth.reset_password", token=token))
        except FormValidationError as exc:
            errors = exc.errors
        except Conflict:
            errors = {"login": [_("L'envoi de courriels n'est pas configuré : demandez à un "
                                  "administrateur de vous donner un nouveau mot de passe.")]}
        else:
            flash(_("Si un compte actif correspond, un courriel vient de lui être envoyé avec un "
                    "lien valable une heure."), "info")
            return redirect(url_for("auth.login"))
    return render_template("password_forgot.html", form=form, errors=errors,
                           mail=mailer is not None), 422 if errors else 200


@bp.route("/mot-de-passe-oublie/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    from partnerflow.engine.errors import InvalidInput

    pf = engine()
    form = ResetForm()
    errors: dict[str, list[str]] = {}
    try:
        with pf.read() as db:
            accounts.user_for_reset(db, token=token, secret=pf.settings.secret_key)
    except InvalidInput as exc:
        return render_template("password_reset.html", form=None, errors=exc.errors), 400
    if form.validate_on_submit():
        if form.new_password.data != form.confirm_password.data:
            errors["confirm_password"] = [_("Les deux saisies du nouveau mot de passe diffèrent.")]
        else:
            try:
                with pf.uow() as uow:
                    accounts.reset_password(uow, token=token, new=form.new_password.data,
                                            secret=pf.settings.secret_key)
            except (FormValidationError, InvalidInput) as exc:
                errors = exc.errors
            else:
                _fresh_session()
                flash(_("Votre mot de passe est changé ; toutes vos sessions sont fermées. "
                        "Connectez-vous avec le nouveau."), "success")
                return redirect(url_for("auth.login"))
    return render_template("password_reset.html", form=form, errors=errors), 422 if errors else 200

