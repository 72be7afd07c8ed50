"""The WSGI entry point for production servers: `gunicorn partnerflow.web.wsgi:app`.

Settings come from the PARTNERFLOW_* environment; logs go to stderr as JSON lines unless
PARTNERFLOW_LOG_JSON=0. Run `partnerflow db upgrade` before starting (docs/deployment.md)."""

from __future__ import annotations

from partnerflow.engine import logs
from partnerflow.engine.config import Settings

from . import create_app

settings = Settings.from_env()
logs.configure(json_lines=settings.log_json)
app = create_app(settings)
