"""The quick part of the reliability suite, in the normal run (SQLite and PostgreSQL):
concurrent completions, the form fuzzer with a few examples per form."""

from __future__ import annotations

import threading

import pytest

from partnerflow.engine.errors import Conflict
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.web import create_app
from tests.reliability import harness


@pytest.fixture
def fuzz_pf(settings, clock, tmp_path):
    from tests.conftest import _wipe

    pf = Partnerflow(settings.with_(forms_dir=harness.fuzz_forms_dir(tmp_path),
                                    bpmn_dir=harness.FIXTURES), clock=clock)
    _wipe(pf)
    harness.deploy_fixtures(pf)
    yield pf
    pf.dispose()


def fuzz(pf: Partnerflow, examples: int) -> dict[str, int]:
    harness.users(pf, 1, password=harness.PASSWORD)
    app = create_app(partnerflow=pf, TESTING=True, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    response = client.post("/connexion", data={"username": "dir0", "password": harness.PASSWORD})
    assert response.status_code == 302
    return harness.fuzz_every_form(pf, client, examples, lambda key: harness.task_with_form(pf, key))


def test_the_form_fuzzer_never_gets_a_server_error(fuzz_pf, monkeypatch):
    from partnerflow.engine.access import accounts

    monkeypatch.setattr(accounts, "_N", 2**4)
    seen = fuzz(fuzz_pf, examples=4)
    assert "500" not in seen and sum(seen.values()) > 20


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
