"""Messages sent from outside (Camunda 7's /message): correlate a message by its name to the
instances of one partnership that wait for it, or start the process whose message start
event catches it; the partnership is the business key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from partnerflow.engine import access, spiff
from partnerflow.engine.errors import Forbidden, InvalidInput, NotFound, StepFailed
from partnerflow.engine.runtime import events, stepping
from partnerflow.engine.runtime.deployment import version_for_start_message
from partnerflow.engine.runtime.forms import check_data_size
from partnerflow.engine.store.models import Partnership, ProcessInstance, User


@dataclass(frozen=True)
class Correlated:
    kind: str  # execution (a waiting instance) | process_definition (an instance started)
    instance_id: int
    process_key: str


def correlate(uow, *, actor: str, name: str, partnership_id: int, variables: dict | None = None,
              all_waiting: bool = False) -> list[Correlated]:
    """Deliver the message to the waiting instance of the partnership (each of them with
    `all_waiting`), else start the process it starts; NotFound when nothing takes it, as
    Camunda answers when no execution or definition matches."""
    session, now = uow.session, uow.clock()
    user = session.scalar(select(User).where(User.username == actor, User.active.is_(True)))
    if user is None or not access.may(access.actor_of(session, user), "correlate_message", partnership_id):
        raise Forbidden(f"{actor} may not send messages to partnership {partnership_id}")
    variables = dict(variables or {})
    check_data_size(variables, uow.settings.max_task_data_bytes)
    if not all(isinstance(k, str) and k.isidentifier() for k in variables):
        raise InvalidInput("invalid variables", {"processVariables": [
            "Un objet dont chaque clé est un nom de variable (lettres, chiffres, _)."]})
    partnership = session.get(Partnership, partnership_id)
    if partnership is None:
        raise NotFound(f"partnership {partnership_id} does not exist")
    done: list[Correlated] = []
    waiting = session.scalars(select(ProcessInstance).where(
        ProcessInstance.partnership_id == partnership_id, ProcessInstance.status == "running")
        .order_by(ProcessInstance.id)).all()
    for instance in waiting:
        if name not in (instance.waiting_messages or []):
            continue
        run = stepping.restore(uow, instance)
        if run.catch_message(name, variables, None):
            uow.publish(events.MessageRouted("message_delivered", partnership_id, instance.id,
                                             {"message": name, "from": actor}, actor, now))
            stepping.advance(uow, instance, run, actor)
            done.append(Correlated("execution", instance.id, instance.process_key))
            if not all_waiting:
                break
    if not done:
        version = version_for_start_message(session, name)
        if version is None:
            raise NotFound(f"no instance of partnership {partnership_id} waits for message '{name}' "
                           "and no process starts on it")
        compiled = uow.catalog.compiled(session, version.id)
        data = {**variables, "partnership_id": partnership_id, "initiator": actor}
        try:
            instance = stepping.start(uow, partnership, version, compiled, data, actor,
                                      message=spiff.ThrownMessage(name, data, None))
        except Exception as exc:  # noqa: BLE001 - nothing was started; say why, keep nothing
            uow.rollback()
            raise StepFailed(stepping.describe_failure(exc), instance_id=None,
                             element=stepping.failed_element(exc)) from exc
        done.append(Correlated("process_definition", instance.id, version.process_key))
    uow.commit()
    return done
