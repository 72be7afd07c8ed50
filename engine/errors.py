"""Domain errors. They say what went wrong, where, and how to fix it; HTTP lives in web."""

from __future__ import annotations

from dataclasses import dataclass, field


class PartnerflowError(Exception):
    """Base of every error the engine raises on purpose."""


class NotFound(PartnerflowError):
    """A partnership, instance, task, user or version that does not exist."""


class Forbidden(PartnerflowError):
    """The actor may not do this."""


class Conflict(PartnerflowError):
    """The thing changed under the actor's feet (completed by someone else, stale version)."""


class InvalidInput(PartnerflowError):
    """Input that cannot be accepted, with every problem named."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.errors = errors or {}


class FormValidationError(InvalidInput):
    """Submitted form data that does not satisfy the form's schema or rules."""


def N_(text: str) -> str:
    """Marks a French text as a msgid for the catalogue (babel.cfg extracts the engine modules
    that use it) without translating it: the engine never imports Flask; the web layer
    translates the msgid when it shows it, in the reader's language."""
    return text


def render(msgid: str, params: dict | None = None) -> str:
    """A msgid with its values, as gettext would render it untranslated (`%(name)s`)."""
    return msgid % params if params else msgid


@dataclass
class Problem:
    """One thing wrong with a deployed file, located precisely.

    `message` and `hint` are the French texts; `msgid` and `hint_msgid` are the same texts
    before their values (`params`) are put in, for the web layer to translate (None when the
    text comes from elsewhere, a parser's own words). Build one with `Problem.of`."""

    file: str
    message: str
    element_id: str | None = None
    hint: str | None = None
    line: int | None = None
    msgid: str | None = None
    hint_msgid: str | None = None
    params: dict = field(default_factory=dict)

    @classmethod
    def of(cls, file: str, msgid: str, *, element_id: str | None = None, hint: str | None = None,
           line: int | None = None, **params) -> Problem:
        """A problem whose message and hint are msgids (marked with N_) sharing `params`."""
        return cls(file, render(msgid, params), element_id=element_id,
                   hint=render(hint, params) if hint else None, line=line, msgid=msgid,
                   hint_msgid=hint, params=dict(params))

    def __str__(self) -> str:
        where = self.file
        if self.element_id:
            where += f" [{self.element_id}]"
        if self.line:
            where += f" (ligne {self.line})"
        text = f"{where} : {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "element_id": self.element_id,
            "line": self.line,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass
class DeploymentRejected(PartnerflowError):
    """A deployment failed validation; nothing was deployed."""

    problems: list[Problem] = field(default_factory=list)
    # lanes with user or manual tasks that name no group (engine.lanes.UnmappedLane): the
    # upload page asks the designer to map them
    unmapped_lanes: list = field(default_factory=list)

    def __str__(self) -> str:
        head = f"déploiement refusé : {len(self.problems)} problème(s)"
        return head + "".join(f"\n  - {p}" for p in self.problems)


class ScriptError(PartnerflowError):
    """A script, condition, timer or DMN cell failed or was refused by the sandbox."""


class InstanceError(PartnerflowError):
    """An instance stopped on an error; it keeps its state and can be retried."""


class StepFailed(PartnerflowError):
    """A step failed outside the engine's own steps (running the task, writing the state,
    routing a message): nothing of the attempt was kept but the incident. The instance is in
    error, the submitted answers are the task's draft, and `told` were notified."""

    def __init__(self, message: str, *, instance_id: int | None, element: str | None,
                 told: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.instance_id = instance_id
        self.element = element
        self.told = told
