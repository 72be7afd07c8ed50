"""The JSON API under /api, described by OpenAPI 3.1 generated from the code.

Library: flask-openapi3. Its request and response models are pydantic v2 models, whose JSON
Schema (2020-12) is the dialect of OpenAPI 3.1 itself, so the description is 3.1 without
conversion (apiflask's marshmallow and apispec write 3.0 schemas; spectree's offline
documentation pages load their viewers from a CDN). It validates path, query and body before
the view runs, with our French problem details on failure; the documentation page serves the
Swagger UI files bundled in the flask-openapi3-swagger wheel, so it works offline.

Every call is authenticated by a bearer token alone (security.py); a session cookie never
authenticates an API call, and the API is exempt from CSRF for that reason. Each resource is
one module; the views call the same engine services, queries and access policy the pages do."""

from __future__ import annotations

from flask_openapi3 import Info

from . import problems

INFO = Info(title="Partnerflow API", version="1.0.0",
            description="Tâches, instances, messages, définitions de processus, partenariats, "
                        "carte, journal d'audit et tâches externes de Partnerflow. Voir docs/api.md.")
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "Jeton d'accès personnel (pfp_…) ou jeton OAuth2 d'un client (pfc_…)"},
    "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
        "tokenUrl": "/api/oauth/token", "scopes": {"read": "lecture", "write": "lecture et écriture"}}}},
}


def openapi_options() -> dict:
    """What create_app hands flask-openapi3's application class."""
    return {"info": INFO, "security_schemes": SECURITY_SCHEMES, "doc_ui": False,
            "validation_error_status": 422, "validation_error_model": problems.Problem,
            "validation_error_callback": problems.validation_problem}


def install(app) -> None:
    """Register the API's blueprints, its authentication and its documentation."""
    from ..extensions import csrf
    from . import (
        audit,
        definitions,
        docs,
        external_tasks,
        instances,
        messages,
        partnerships,
        security,
        tasks,
    )

    for module in (tasks, instances, messages, definitions, partnerships, audit, external_tasks):
        csrf.exempt(module.bp)
        app.register_api(module.bp)
    csrf.exempt(security.oauth_bp)
    app.register_api(security.oauth_bp)
    csrf.exempt(docs.bp)
    app.register_blueprint(docs.bp)
