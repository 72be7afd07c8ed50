"""The WSGI entry point for production servers: `gunicorn partnerflow.web.wsgi:app`.

Settings come from the PARTNERFLOW_* environment; logs go to stderr as JSON lines unless
PARTNERFLOW_LOG_JSON=0. Run `partnerflow db upgrade` before starting (docs/deployment.md).
It refuses to start, with a one-line reason on stderr, when the session signing key is the
built-in development key or shorter than 32 bytes."""

from __future__ import annotations

import sys

from partnerflow.engine import config
from partnerflow.engine.config import Settings

from . import create_app

# gunicorn stops, instead of restarting workers forever, when a worker exits with this status
_BOOT_ERROR = 3


def _refuse(reason: str) -> None:
    print(f"partnerflow: refusing to start: {reason}", file=sys.stderr, flush=True)
    raise SystemExit(_BOOT_ERROR)


try:
    settings = Settings.from_env()
except config.SigningKeyError as exc:
    _refuse(str(exc))
if (reason := config.problem(settings.secret_key)) is not None:
    _refuse(reason)
config.configure(json_lines=settings.log_json)
app = create_app(settings)
