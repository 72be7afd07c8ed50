"""The OpenAPI description (/api/openapi.json) and its documentation page (/api/docs): the
Swagger UI files bundled in the flask-openapi3-swagger wheel, served from here, so the page
works with no network; both are public (they describe, they give access to nothing)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, send_from_directory

SWAGGER = Path(find_spec("flask_openapi3_swagger").origin).parent / "templates" / "swagger"
# Swagger UI sets inline styles on what it draws; scripts stay 'self' only
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

bp = Blueprint("api_docs", __name__, url_prefix="/api")


@bp.get("/openapi.json")
def openapi_json():
    response = jsonify(current_app.api_doc)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/docs")
def page():
    response = current_app.make_response(render_template("api_docs.html"))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/docs/swagger/<path:filename>")
def swagger_file(filename: str):
    return send_from_directory(SWAGGER, filename, max_age=3600)
