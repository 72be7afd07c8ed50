"""What happened in a step, as facts.

Stepping and the use cases record events on the unit of work (`uow.publish`); when the unit
of work commits, it hands each event, in order, to the handlers registered for its type
(`handlers.HANDLERS`: the audit log, the notifications, the incident register), in the
same transaction, before the commit. A handler may publish further events. Nothing that
records an event knows who listens to it: stepping never calls the audit log or the
notifications itself (cosmicpython's message bus, inside one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Event:
    """Base of every event; `at` is the engine's clock when it happened."""


@dataclass
class InstanceStarted(Event):
    instance: object  # models.ProcessInstance
    version: object  # models.ProcessVersion
    data: dict
    actor: str | None
    at: datetime
    parent_instance_id: int | None = None


@dataclass
class StepTaken(Event):
    """An engine step worth recording: a gateway taken, a decision evaluated (with its
    inputs and the rules that fired), a timer fired, a script or a connector run."""

    instance: object
    step: object  # spiff.StepEvent
    actor: str | None
    at: datetime


@dataclass
class TaskOpened(Event):
    task: object  # models.HumanTask, added to the session
    instance: object
    at: datetime


@dataclass
class TaskCancelled(Event):
    task: object
    instance: object
    at: datetime


@dataclass
class TaskCompleted(Event):
    task: object
    data: dict
    actor: str
    at: datetime
    before: dict | None = None


@dataclass
class InstanceCompleted(Event):
    instance: object
    actor: str | None
    at: datetime


@dataclass
class MessageRouted(Event):
    """A thrown message was delivered to a waiting instance, started a process, or found
    nobody (`outcome`: message_delivered | message_unhandled)."""

    outcome: str
    partnership_id: int
    instance_id: int
    payload: dict
    actor: str | None
    at: datetime


@dataclass
class IncidentRaised(Event):
    """An instance stopped on an error. `told` is filled by the notification handler: the
    people who were told, by name."""

    instance: object
    element: str | None
    message: str
    during: str
    data: dict
    actor: str | None
    at: datetime
    told: list[str] = field(default_factory=list)


@dataclass
class IncidentResolved(Event):
    """The instance's open incident is over: retried, resumed, cancelled."""

    instance_id: int
    resolution: str
    actor: str | None
    at: datetime
