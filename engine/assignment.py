"""Who gets a user task, and by when: lanes, candidate groups and users, assignee and due date.

A version's tasks are resolved to group keys once, when the version is loaded (`resolve_groups`);
each new task then takes its groups, its named users and its due date from its data (`assign`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .roles import GroupNames, role_for_lane

VARIABLE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")
DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                      r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


@dataclass(frozen=True)
class Assignment:
    role: str | None
    candidate_groups: tuple[str, ...]
    assignee: str | None
    due_at: datetime | None
    candidate_users: tuple[str, ...] = ()


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


def resolve_groups(*, lane: str | None, candidate_groups: tuple[str, ...], names: GroupNames,
                   mapping: dict[str, str] | None = None) -> tuple[str, ...]:
    """The group keys a task is offered to: its candidate groups (by key or label), else
    its lane's group (the version's lane mapping first). A name no group has stays as
    written (deploy refuses such diagrams; an older version keeps offering to that name)."""
    if candidate_groups:
        return tuple(dict.fromkeys(names.find(g) or g for g in candidate_groups))
    group = role_for_lane(lane, names, mapping)
    return (group,) if group else ()


def _names(values: tuple[str, ...], data: dict) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        resolved = _resolve(value, data)
        items = resolved if isinstance(resolved, (list, tuple)) else str(resolved or "").split(",")
        found.extend(str(item).strip() for item in items if str(item).strip())
    return tuple(dict.fromkeys(found))


def assign(meta, *, data: dict, created: datetime) -> Assignment:
    """Apply the modelling conventions to one new user or manual task (`meta`: its
    UserTaskMeta with resolved groups, or None)."""
    if meta is None:
        return Assignment(None, (), None, None)
    groups = tuple(meta.groups)
    role = groups[0] if groups else None
    user = _resolve(meta.assignee, data)  # e.g. camunda:assignee="${delegate}" on the diagram
    if user is not None and not isinstance(user, str):
        user = str(user)
    due = parse_due(_resolve(meta.due_date, data), created)
    return Assignment(role, groups, user or None, due, _names(meta.candidate_users, data))
