"""Who gets a user task, and by when: lanes, candidate groups, assignee and due date."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .roles import role_for_lane

VARIABLE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")
DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                      r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


@dataclass(frozen=True)
class Assignment:
    role: str | None
    candidate_groups: tuple[str, ...]
    assignee: str | None
    due_at: datetime | None


def _resolve(value: str | None, data: dict):
    if not value:
        return None
    match = VARIABLE.match(value)
    if match:
        return data.get(match.group(1))
    return value


def parse_due(value, created: datetime) -> datetime | None:
    """An ISO duration from `created`, an ISO date (end of that day, UTC) or date-time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59), UTC)
    text = str(value).strip()
    match = DURATION.match(text)
    if match and text != "P":
        years, months, weeks, days, hours, minutes, seconds = (float(g) if g else 0 for g in match.groups())
        return created + timedelta(days=days + weeks * 7 + months * 30 + years * 365,
                                   hours=hours, minutes=minutes, seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if len(text) == 10:
        moment = datetime.combine(moment.date(), time(23, 59))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def assign(*, lane: str | None, candidate_groups: tuple[str, ...], assignee: str | None,
           due_date: str | None, data: dict, created: datetime) -> Assignment:
    """Apply the modelling conventions to one user task."""
    role = candidate_groups[0] if candidate_groups else role_for_lane(lane)
    groups = candidate_groups or ((role,) if role else ())
    user = _resolve(assignee, data)
    if user is None and role == "delegate":
        user = data.get("delegate")
    if user is not None and not isinstance(user, str):
        user = str(user)
    due = parse_due(_resolve(due_date, data), created)
    return Assignment(role, tuple(groups), user or None, due)
