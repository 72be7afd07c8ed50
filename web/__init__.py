"""The Flask application: `create_app(settings)` builds it; nothing happens at import."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, render_template_string
from sqlalchemy import text

from partnerflow.engine.bootstrap import Partnerflow
from partnerflow.engine.config import Settings

HEALTH_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Partnerflow</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>Partnerflow</h1>
<p>Le moteur des démarches partenariales est en service.</p>
<ul>
<li>Base de données : {{ db }}</li>
<li>Processus déployés : {{ versions }}</li>
<li>Partenariats : {{ partnerships }}</li>
<li>Tâches ouvertes : {{ open_tasks }}</li>
</ul>
</main></body></html>"""


def create_app(settings: Settings | None = None, partnerflow: Partnerflow | None = None) -> Flask:
    """Build the web application around a Partnerflow engine."""
    settings = settings or (partnerflow.settings if partnerflow else Settings.from_env())
    # partnerflow is a namespace package: tell Flask where this package and its instance live.
    app = Flask(__name__, root_path=str(Path(__file__).resolve().parent),
                instance_path=str(Path.cwd() / "instance"))
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_upload_bytes)
    pf = partnerflow or Partnerflow(settings)
    app.extensions["partnerflow"] = pf

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; frame-ancestors 'none'; object-src 'none'")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.get("/")
    def home():
        return render_template_string(HEALTH_PAGE, **_figures(pf))

    @app.get("/health")
    def health():
        try:
            figures = _figures(pf)
        except Exception as exc:  # noqa: BLE001 - health reports, it does not crash
            return jsonify(status="error", error=str(exc).splitlines()[0]), 503
        return jsonify(status="ok", **figures)

    return app


def _figures(pf: Partnerflow) -> dict:
    with pf.read() as session:
        count = lambda table, where="": session.execute(  # noqa: E731
            text(f"SELECT count(*) FROM {table} {where}")).scalar_one()
        return {"db": pf.db.dialect.name, "versions": count("process_version"),
                "partnerships": count("partnership"),
                "open_tasks": count("human_task", "WHERE state = 'open'")}
