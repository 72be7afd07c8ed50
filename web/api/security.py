"""Who an API call acts as: a bearer token, and nothing else (a session cookie alone never
authenticates an API call). Read tokens may only read; the access policy decides the rest,
as on the pages. The OAuth2 token endpoint (client credentials) lives here too."""

from __future__ import annotations

import base64
import binascii

from flask import g, jsonify, request
from flask_babel import gettext as _
from flask_openapi3 import APIBlueprint, Tag

from partnerflow.engine.access import tokens
from partnerflow.engine.errors import (
    Conflict,
    DeploymentRejected,
    Forbidden,
    InvalidInput,
    NotFound,
    StepFailed,
)

from ..current import engine
from ..errors import _conflict_message
from .problems import MEDIA_TYPE, Problem, problem

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY = [{"bearer": []}, {"oauth2": ["read", "write"]}]


def _problem_response(description: str) -> dict:
    return {"description": description,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def responses(ok=None, *statuses: int, ok_status: int = 200) -> dict:
    """The responses of an operation: its success, then the problems it may answer (400: a
    character refused in any parameter, 401, 403 and 422, always)."""
    described = {400: "Requête invalide (un caractère refusé)",
                 401: "Jeton absent, invalide, expiré ou révoqué", 403: "Refusé par la politique d'accès",
                 404: "Introuvable", 409: "Conflit", 413: "Fichier trop volumineux",
                 422: "Données invalides"}
    out: dict = {ok_status: ok} if ok is not None else {ok_status: {"description": "Fait"}}
    for status in sorted({400, 401, 403, 422, *statuses}):
        out[status] = _problem_response(described[status])
    return out


def bearer() -> tokens.Bearer:
    return g.api_bearer


def actor() -> str:
    """The user name the call acts as (a person, or a client's service account)."""
    return g.api_bearer.username


def _token_of_request() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _authenticate():
    token = _token_of_request()
    if token is None:
        return problem(401, _("Authentification requise : envoyez un jeton dans l'en-tête "
                              "Authorization: Bearer (un cookie de session ne suffit pas)."),
                       headers={"WWW-Authenticate": 'Bearer realm="partnerflow"'})
    with engine().uow() as uow:
        found = tokens.authenticate(uow, token)
    if found is None:
        return problem(401, _("Ce jeton n'est pas valable : inconnu, expiré, révoqué, ou son compte "
                              "est désactivé."),
                       headers={"WWW-Authenticate": 'Bearer realm="partnerflow", error="invalid_token"'})
    if request.method not in READ_METHODS and not found.may_write:
        return problem(403, _("Ce jeton ne permet que la lecture (portée « read ») : créez-en un de "
                              "portée « write » pour modifier."),
                       headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="write"'})
    g.api_bearer = found
    return None


def protect(bp: APIBlueprint) -> None:
    """Every view of this blueprint needs a bearer token; engine errors become problems."""
    bp.before_request(_authenticate)
    bp.register_error_handler(NotFound, lambda exc: problem(404, _("Cette ressource n'existe pas.")))
    bp.register_error_handler(Forbidden, lambda exc: problem(403, _(
        "La politique d'accès ne vous permet pas cette action sur cette ressource.")))
    bp.register_error_handler(Conflict, lambda exc: problem(409, _conflict_message(str(exc))))
    bp.register_error_handler(StepFailed, lambda exc: problem(409, _(
        "Le processus n'a pas pu avancer : %(message)s. Rien n'a été perdu ; l'incident est signalé "
        "à la direction et aux concepteurs.", message=exc.message)))
    bp.register_error_handler(DeploymentRejected, lambda exc: problem(
        422, str(exc), {"files": [str(p) for p in exc.problems]}))
    bp.register_error_handler(InvalidInput, _invalid)


def _invalid(exc: InvalidInput):
    errors = {k: [_(m) for m in v] if isinstance(v, list) else [_(str(v))] for k, v in exc.errors.items()}
    fields = ", ".join(sorted(errors)) or "_"
    return problem(422, _("Données refusées : %(fields)s.", fields=fields), errors)


# ---------------------------------------------------------------- OAuth2 client credentials

oauth_bp = APIBlueprint("api_oauth", __name__, url_prefix="/api/oauth",
                        abp_tags=[Tag(name="authentification", description="OAuth2 client credentials")])


def _oauth_error(error: str, description: str, status: int = 400):
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="partnerflow"'
    return response


def _client_credentials() -> tuple[str, str]:
    """From HTTP Basic (RFC 6749 § 2.3.1) or the form's client_id and client_secret."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _sep, secret = raw.partition(":")
        return client_id, secret
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


TOKEN_DOC = {"description": "Jeton d'accès (RFC 6749 § 5.1)", "content": {"application/json": {
    "schema": {"type": "object", "required": ["access_token", "token_type", "expires_in", "scope"],
               "properties": {"access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
                              "expires_in": {"type": "integer"}, "scope": {"type": "string"}}}}}}
OAUTH_ERROR_DOC = {"content": {"application/json": {"schema": {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}}}}


@oauth_bp.post("/token", summary="Obtenir un jeton (client credentials)",
               responses={200: TOKEN_DOC, 400: {"description": "Requête refusée", **OAUTH_ERROR_DOC},
                          401: {"description": "Client inconnu", **OAUTH_ERROR_DOC}})
def token():
    """grant_type=client_credentials, en application/x-www-form-urlencoded ; l'identifiant et
    le secret du client en HTTP Basic ou dans le formulaire ; scope facultatif (read, write)."""
    if request.form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", _("Seul grant_type=client_credentials est accepté."))
    client_id, secret = _client_credentials()
    try:
        with engine().uow() as uow:
            access_token, scope, lifetime = tokens.issue_client_token(
                uow, client_id=client_id, secret=secret, scope=request.form.get("scope") or None)
    except tokens.InvalidClient:
        return _oauth_error("invalid_client", _("Client inconnu, révoqué, ou secret incorrect."), 401)
    except InvalidInput as exc:
        return _oauth_error("invalid_scope", " ".join(_(m) for m in exc.errors.get("scope", [])))
    response = jsonify({"access_token": access_token, "token_type": "Bearer",
                        "expires_in": lifetime, "scope": scope})
    response.headers["Cache-Control"] = "no-store"
    return response


__all__ = ["Problem", "SECURITY", "actor", "bearer", "oauth_bp", "protect", "responses"]
