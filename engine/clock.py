"""The engine's notion of now: real time in production, a hand you can move in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    def __call__(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that only moves when told to (scenario tests, demos of timers)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """Normalise a datetime read back from the database (SQLite drops the offset)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(
        UTC)
