"""The Flask application: `create_app(settings)` builds it; nothing happens at import."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask, Response, g, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_openapi3 import OpenAPI
from werkzeug.exceptions import SecurityError

from partnerflow.engine.config import Settings
from partnerflow.engine.runtime.host import Partnerflow

from . import formatting, params
from .extensions import babel, csrf, login_manager

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


class SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, sent `Secure` whenever the request came over HTTPS (behind
    a proxy: with PARTNERFLOW_PROXY_FIX) or the settings ask for it on every response."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (
            has_request_context() and request.is_secure)


def create_app(settings: Settings | None = None, partnerflow: Partnerflow | None = None,
               **config) -> Flask:
    """Build the web application around a Partnerflow engine."""
    settings = settings or (partnerflow.settings if partnerflow else Settings.from_env())
    # partnerflow is a namespace package: tell Flask where this package and its instance live.
    # flask-openapi3's Flask subclass describes the API (web/api) from its models.
    from . import api

    app = OpenAPI(__name__, root_path=str(Path(__file__).resolve().parent),
                  instance_path=str(Path.cwd() / "instance"), **api.openapi_options())
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # a whole form may carry a file at the per-file limit plus its other fields; the
        # per-file limit is checked on each file, with an error next to its field
        MAX_CONTENT_LENGTH=2 * settings.max_upload_bytes + 1024 * 1024,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=2),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # None accepts any Host header: development only (docs/deployment.md)
        TRUSTED_HOSTS=list(settings.trusted_hosts) or None,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="fr",
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parent / "translations"),
    )
    app.config.update(config)
    app.session_interface = SessionInterface()
    app.extensions["partnerflow"] = partnerflow or Partnerflow(settings)

    @app.before_request
    def _one_read_session():
        # the user, the page and its header read through one session: one pooled connection
        reads = app.extensions["partnerflow"].shared_reads()
        reads.__enter__()
        g._partnerflow_reads = reads

    @app.teardown_request
    def _end_read_session(_exc):
        reads = g.pop("_partnerflow_reads", None)
        if reads is not None:
            reads.__exit__(None, None, None)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    csrf.init_app(app)
    babel.init_app(app, locale_selector=formatting.select_locale)
    formatting.register(app)
    params.install(app)  # before the blueprints: their `<int:...>` routes use its converter

    from . import (
        absence,
        admin,
        audit,
        auth,
        dashboard,
        errors,
        inbox,
        incidents,
        main,
        map,
        modeller,
        notifications,
        partnerships,
        privacy,
        tasks,
        tokens,
    )

    for module in (main, auth, inbox, tasks, partnerships, admin, modeller, audit, map, dashboard,
                   notifications, incidents, absence, privacy, tokens):
        app.register_blueprint(module.bp)
    errors.register(app)
    api.install(app)
    from . import metrics, sso

    metrics.install(app)
    sso.install(app)

    @app.errorhandler(SecurityError)
    def untrusted_host(exc):
        # no URL can be built for a host outside TRUSTED_HOSTS: a page without links
        return Response(_("Requête invalide : ce nom d'hôte n'est pas celui du site."), 400,
                        mimetype="text/plain")

    csp = CSP
    if settings.oidc_issuer:  # signing out there follows the sign-out form's redirect
        from urllib.parse import urlsplit

        issuer = urlsplit(settings.oidc_issuer)
        csp = CSP.replace("form-action 'self'", f"form-action 'self' {issuer.scheme}://{issuer.netloc}")

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response

    if settings.proxy_fix:
        # behind one reverse proxy (nginx): trust its X-Forwarded-For/Proto/Host/Prefix
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)
    return app
