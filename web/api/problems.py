"""Errors of the API as RFC 9457 problem details (application/problem+json), in French by
default (the reader's language otherwise), naming the field that is wrong."""

from __future__ import annotations

import logging

from flask import Response, json
from flask_babel import gettext as _
from pydantic import BaseModel, Field

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` maps each wrong field to its messages."""

    type: str = Field("about:blank", description="Identifiant du type de problème")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: dict[str, list[str]] | None = None


def _titles() -> dict[int, str]:
    return {400: _("Requête invalide"), 401: _("Connexion requise"), 403: _("Accès refusé"),
            404: _("Ressource introuvable"), 405: _("Méthode non autorisée"), 409: _("Conflit"),
            413: _("Fichier trop volumineux"), 415: _("Type de contenu non pris en charge"),
            422: _("Données invalides"), 500: _("Erreur interne"), 503: _("Service indisponible")}


def problem(status: int, detail: str | None = None, errors: dict | None = None,
            headers: dict | None = None, instance: str | None = None) -> Response:
    """A problem details response."""
    body = {"type": "about:blank", "title": _titles().get(status, _("Erreur")), "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = {str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
                          for k, v in errors.items()}
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _field_of(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path", "form")) or "_"


_PYDANTIC = {
    "missing": lambda e: _("Ce champ est obligatoire."),
    "extra_forbidden": lambda e: _("Ce champ n'est pas attendu."),
    "int_parsing": lambda e: _("Un nombre entier est attendu."),
    "int_type": lambda e: _("Un nombre entier est attendu."),
    "string_type": lambda e: _("Un texte est attendu."),
    "bool_parsing": lambda e: _("true ou false est attendu."),
    "bool_type": lambda e: _("true ou false est attendu."),
    "dict_type": lambda e: _("Un objet JSON est attendu."),
    "list_type": lambda e: _("Une liste est attendue."),
    "model_type": lambda e: _("Un objet JSON est attendu."),
    "greater_than_equal": lambda e: _("La valeur doit être au moins %(n)s.", n=e["ctx"]["ge"]),
    "less_than_equal": lambda e: _("La valeur doit être au plus %(n)s.", n=e["ctx"]["le"]),
    "greater_than": lambda e: _("La valeur doit être plus grande que %(n)s.", n=e["ctx"]["gt"]),
    "string_too_short": lambda e: _("Au moins %(n)s caractère(s).", n=e["ctx"]["min_length"]),
    "string_too_long": lambda e: _("Au plus %(n)s caractères.", n=e["ctx"]["max_length"]),
    "too_short": lambda e: _("Au moins %(n)s élément(s).", n=e["ctx"]["min_length"]),
    "too_long": lambda e: _("Au plus %(n)s éléments.", n=e["ctx"]["max_length"]),
    "literal_error": lambda e: _("Valeur attendue : %(values)s.", values=e["ctx"]["expected"]),
    "enum": lambda e: _("Valeur attendue : %(values)s.", values=e["ctx"]["expected"]),
    "string_pattern_mismatch": lambda e: _("Le format n'est pas celui attendu."),
    "json_invalid": lambda e: _("Le corps de la requête n'est pas du JSON valide."),
    # a model's own check (its message is French already)
    "value_error": lambda e: str(e["ctx"]["error"]),
}


def validation_problem(exc) -> Response:
    """flask-openapi3's validation error callback: a pydantic ValidationError as a 422 whose
    detail and errors name each field in French."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        field = _field_of(tuple(error.get("loc") or ()))
        make = _PYDANTIC.get(error.get("type", ""))
        try:
            message = make(error) if make else _("Valeur refusée.")
        except (KeyError, TypeError):
            message = _("Valeur refusée.")
        errors.setdefault(field, []).append(message)
    fields = ", ".join(sorted(errors))
    return problem(422, _("Données refusées : %(fields)s.", fields=fields), errors)
