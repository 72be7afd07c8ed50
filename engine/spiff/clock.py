"""Let the engine's clock drive SpiffWorkflow's timers.

SpiffWorkflow's timer events compare against ``datetime.now(timezone.utc)`` read from
their own module. The engine owns time (tests move it, a worker reads it), so the
timer module's ``datetime`` name is pointed at a subclass whose ``now`` asks the clock
set for the current engine step, and falls back to the real time.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module

_current: contextvars.ContextVar[Callable[[], datetime] | None] = contextvars.ContextVar(
    "partnerflow_clock", default=None
)


class _ClockDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        clock = _current.get()
        if clock is None:
            return datetime.now(tz)
        value = clock()
        return value.astimezone(tz) if tz else value.astimezone(UTC).replace(tzinfo=None)


_timer_module.datetime = _ClockDatetime


@contextmanager
def using_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    token = _current.set(clock)
    try:
        yield
    finally:
        _current.reset(token)
