"""The quick part of the reliability suite, in the normal run (SQLite and PostgreSQL):
concurrent completions, the form fuzzer with a few examples per form of the method, each
at a real task the method was walked to."""

from __future__ import annotations

import threading
from pathlib import Path

from partnerflow.engine.errors import Conflict
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow
from tests.reliability import harness


def fuzz(pf: Partnerflow, clock, examples: int) -> tuple[dict[str, int], dict[str, str]]:
    from sqlalchemy import select

    from partnerflow.engine.method import registry
    from partnerflow.engine.store.models import User
    from tests.conftest import deploy
    from tests.scenarios.method import DIRECTION, HOSPITAL, PARTNER, add_people

    deploy(pf, pf.method_files())
    add_people(pf)
    with pf.uow() as uow:  # the partner's user belongs to the hospital, as in the demo
        hospital = registry.create_organisation(uow, actor=DIRECTION, data={
            "name": HOSPITAL["legal_name"], "kind": "hospital"})
    with pf.uow() as uow:
        uow.session.scalar(select(User).where(User.username == PARTNER)).organisation_id = hospital
        uow.commit()
    return harness.fuzz_the_method(pf, clock, examples)


def test_the_form_fuzzer_never_gets_a_server_error_on_any_form_of_the_method(pf, clock,
                                                                            monkeypatch):
    from partnerflow.engine.access import accounts

    monkeypatch.setattr(accounts, "_N", 2**4)
    seen, fuzzed = fuzz(pf, clock, examples=3)
    forms = {p.stem for p in Path(pf.settings.forms_dir).glob("*.json")}
    assert "500" not in seen and sum(seen.values()) > 3 * 30
    assert set(fuzzed) == forms, sorted(forms ^ set(fuzzed))
    # posted to at their own task, or at the start event; only a form that no diagram names
    # (it describes data a service task prepares) is reached through the pages showing it
    filled = harness._filled_forms(pf)
    assert {f for f, how in fuzzed.items() if how == "shown"} == forms - filled == {"plan_map"}
    assert fuzzed["idea"] == "start"


def test_eight_threads_complete_one_task_exactly_one_wins(fixture_pf):
    pf = fixture_pf
    harness.deploy_fixtures(pf)
    harness.users(pf, 8)
    [task_id] = harness.review_tasks(pf, 1)
    barrier, outcomes = threading.Barrier(8), []

    def attempt(username: str) -> None:
        barrier.wait(30)
        try:
            with pf.uow() as uow:
                services.complete_task(uow, task_id=task_id, actor=username, data={"decision": "done"})
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=attempt, args=(f"dir{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"], outcomes
    harness.check_consistency(pf)
