"""What some forms do besides giving the process their data, by form key, in the same
transaction as the task: the convention is put into form (HTML and PDF in the document
base), a signature is recorded once the password is typed again, a renewal decision
reaches the map. Each effect returns the data the process receives."""

from __future__ import annotations

from collections.abc import Callable

from . import accounts, convention, reminders


def _convention(uow, *, task, data: dict, actor: str, password: str | None) -> dict:
    if data.get("convention_document"):
        convention.adopt_upload(uow.session, task.partnership_id, data["convention_document"])
        return data
    return {**data, "convention_document": convention.generate(
        uow, partnership_id=task.partnership_id, data=data, actor=actor)}


def _signature(uow, *, task, data: dict, actor: str, password: str | None) -> dict:
    # a wrong password counts as a failed sign-in, and too many refuse the right one a while
    accounts.confirm_password(uow, username=actor, password=password)
    convention.sign(uow, task=task, actor=actor, password=password, data=data)
    # the hash signed is the one the process prepared, whatever the browser sent back
    return {**data, "document_sha256": (task.context or {}).get("document_sha256")}


def _renewal(uow, *, task, data: dict, actor: str, password: str | None) -> dict:
    reminders.apply_renewal_decision(uow, task=task, data=data, actor=actor)
    return data


EFFECTS: dict[str, Callable[..., dict]] = {
    "convention": _convention,
    "signature": _signature,
    "convention_renewal": _renewal,
}
