"""Error pages in French (HTML) or JSON, by what the client asks for; never a stack trace."""

from __future__ import annotations

import logging

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from partnerflow.engine.access.accounts import LocalPasswordsOff
from partnerflow.engine.errors import (
    Conflict,
    DeploymentRejected,
    Forbidden,
    FormValidationError,
    InvalidInput,
    NotFound,
    StepFailed,
)

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or (best == "application/json" and
                               request.accept_mimetypes[best] > request.accept_mimetypes["text/html"])


def _titles() -> dict[int, str]:
    return {400: _("Requête invalide"), 401: _("Connexion requise"), 403: _("Accès refusé"),
            404: _("Page introuvable"), 405: _("Méthode non autorisée"), 409: _("Conflit"),
            413: _("Fichier trop volumineux"), 422: _("Données invalides"),
            500: _("Erreur interne"), 503: _("Service indisponible")}


def _default_messages() -> dict[int, str]:
    return {400: _("La requête n'a pas pu être comprise."),
            403: _("Vous n'avez pas accès à cette page ou à cette action."),
            404: _("Cette page n'existe pas ou plus."),
            405: _("Cette action n'est pas possible ainsi."),
            409: _("L'élément a été modifié entre-temps."),
            413: _("Le fichier dépasse la taille autorisée."),
            500: _("Une erreur inattendue s'est produite. Elle a été enregistrée ; réessayez plus tard."),
            503: _("La base de données ne répond pas pour le moment. Réessayez dans quelques "
                   "minutes ; si cela dure, prévenez l'administrateur.")}


def _api_messages() -> dict[int, str]:
    return {404: _("Cette ressource n'existe pas."), 405: _("Cette méthode n'est pas permise ici."),
            400: _("La requête n'a pas pu être comprise."),
            413: _("Le fichier dépasse la taille autorisée."),
            500: _("Une erreur inattendue s'est produite. Elle a été enregistrée ; réessayez plus tard."),
            503: _("La base de données ne répond pas pour le moment. Réessayez dans quelques minutes.")}


def render_error(status: int, message: str | None = None, errors: dict | None = None):
    if request.path == "/api" or request.path.startswith("/api/"):
        # the API answers RFC 9457 problem details, whatever the client accepts
        from .api.problems import problem

        return problem(status, message or _api_messages().get(status), errors)
    title = _titles().get(status, _("Erreur"))
    message = message or _default_messages().get(status, title)
    if _wants_json():
        body = {"error": title, "message": message, "status": status}
        if errors:
            body["errors"] = errors
        return jsonify(body), status
    details = [m for messages in (errors or {}).values() if isinstance(messages, list)
               for m in messages if isinstance(m, str)]
    # error.html stands alone and is rendered without the context processors (the signed-in
    # user, the header counts): an error page never queries the database, so it shows even
    # when the database is what failed
    page = current_app.jinja_env.get_template("error.html")
    return page.render(title=title, message=message, details=details), status


def register(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return render_error(400, _("Le formulaire a expiré ou n'est pas authentique "
                                   "(jeton CSRF manquant). Rechargez la page et recommencez."))

    @app.errorhandler(HTTPException)
    def http_error(exc):
        return render_error(exc.code or 500)

    @app.errorhandler(NotFound)
    def not_found(exc):
        return render_error(404)

    @app.errorhandler(Forbidden)
    def forbidden(exc):
        return render_error(403)

    @app.errorhandler(LocalPasswordsOff)
    def local_passwords_off(exc):
        return render_error(403, _(
            "Les mots de passe de Partnerflow sont désactivés : votre mot de passe se gère chez "
            "%(provider)s.", provider=current_app.extensions["partnerflow"].settings.oidc_label))

    @app.errorhandler(Conflict)
    def conflict(exc):
        return render_error(409, _conflict_message(str(exc)))

    @app.errorhandler(FormValidationError)
    def invalid_form(exc):
        return render_error(422, _("Le formulaire contient des erreurs."), exc.errors)

    @app.errorhandler(DeploymentRejected)
    def rejected(exc):
        return render_error(422, str(exc), {"problems": [p.as_dict() for p in exc.problems]})

    @app.errorhandler(StepFailed)
    def step_failed(exc):
        return render_error(409, _("Le processus n'a pas pu avancer : %(message)s. Rien n'a été "
                                   "perdu ; l'incident est signalé à la direction et aux "
                                   "concepteurs.", message=exc.message))

    @app.errorhandler(InvalidInput)
    def invalid(exc):
        # the page lists the French messages of each field; JSON keeps the engine's summary
        message = str(exc) if _wants_json() or not exc.errors else _("Les données envoyées sont refusées.")
        return render_error(400, message, exc.errors)

    _register_database_errors(app)

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return render_error(500)


def _register_database_errors(app) -> None:
    """The database down or refusing a value: a French page, never the bare server error."""
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc):
        log.error("database unavailable on %s %s: %s", request.method, request.path,
                  str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return render_error(503)

    @app.errorhandler(DataError)
    def unstorable(exc):
        log.warning("value refused by the database on %s %s: %s", request.method, request.path,
                    str(exc).splitlines()[0])
        return render_error(400, _("Une valeur envoyée ne peut pas être enregistrée (trop longue ou "
                                   "d'un type inattendu). Vérifiez le formulaire."))

    @app.errorhandler(IntegrityError)
    def inconsistent(exc):
        log.warning("integrity error on %s %s: %s", request.method, request.path,
                    str(exc).splitlines()[0])
        return render_error(409, _("Ces données ne sont pas cohérentes avec ce qui est enregistré "
                                   "(un élément désigné n'existe pas ou existe déjà)."))


def _conflict_message(text: str) -> str:
    if text.startswith("this task was already completed by") or text.startswith(
            "this task was just completed by"):
        who = text.split(" by ", 1)[1].split(" at ")[0]
        return _("Cette tâche vient d'être terminée par %(who)s. Vos données n'ont pas été "
                 "enregistrées.", who=who)
    if text.startswith("this task is waiting for the opinion of"):
        return _("Cette tâche attend l'avis demandé à %(who)s : elle ne peut être terminée, "
                 "libérée ni réaffectée avant sa réponse (ou le retrait de la demande).",
                 who=text.rsplit(" ", 1)[-1])
    if "claimed by" in text:
        return _("Cette tâche est déjà réservée par %(who)s.", who=text.rsplit(" ", 1)[-1])
    return _("L'élément a été modifié par quelqu'un d'autre entre-temps. Rechargez la page.")
