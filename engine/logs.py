"""Structured logs: one JSON object per line on stderr (time, level, logger, message, ids)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Attributes a log call may pass with `extra=` that are copied into the JSON line.
CONTEXT_FIELDS = ("instance_id", "partnership_id", "task_id", "notification_id", "username",
                  "fired", "count", "duration_ms", "error")


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": ..., "logger": ..., "message": ..., "instance_id": ...}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(json_lines: bool = True, level: int = logging.INFO) -> None:
    """Send the root logger to stderr, as JSON lines or as plain text; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_partnerflow", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._partnerflow = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
