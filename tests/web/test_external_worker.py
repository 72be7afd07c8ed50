"""The worker of docs/external_worker.py, run for real against the API served on a loopback
port: it gets a token with its client credentials, fetches and locks the external tasks of
its topic, and completes them (or throws the BPMN error the diagram catches)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from werkzeug.serving import make_server

from partnerflow.engine.access import tokens
from partnerflow.engine.runtime import queries, services, stepping
from partnerflow.engine.store.models import ProcessInstance
from partnerflow.web import create_app
from tests.conftest import ROOT, make_user
from tests.integration.test_connectors import deploy_bytes
from tests.integration.test_external_tasks import TOPIC, with_boundary

WORKER = ROOT / "docs" / "external_worker.py"


@pytest.fixture
def served(fixture_pf):
    app = create_app(partnerflow=fixture_pf)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fixture_pf, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def run_worker(url: str, client_id: str, secret: str) -> str:
    done = subprocess.run([sys.executable, str(WORKER), "--url", url, "--topic", TOPIC,
                           "--worker-id", "paie-1", "--client-id", client_id, "--client-secret", secret,
                           "--rounds", "1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_documented_worker_completes_external_tasks_against_the_served_api(served):
    pf, url = served
    make_user(pf, "claire", "direction")
    make_user(pf, "paie", "worker")
    with pf.uow() as uow:
        client_id, secret = tokens.register_client(uow, name="Paie", service_account="paie",
                                                   scope="write", actor="claire")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Facturation", actor="claire")
    deploy_bytes(pf, with_boundary(), "with_boundary.bpmn")
    with pf.uow() as uow:
        done = services.start_instance(uow, partnership_id=pid, process_key="with_boundary", actor="claire")
    # the second instance asks the worker to refuse (its handler raises BpmnError("REFUSED"))
    with pf.uow() as uow:
        refused = services.start_instance(uow, partnership_id=pid, process_key="with_boundary",
                                          actor="claire", data={"refuse": True})

    assert "2 task(s) handled" in run_worker(url, client_id, secret)

    with pf.uow() as uow:
        instance = uow.session.get(ProcessInstance, done)
        assert instance.status == "completed"
        data = stepping.restore(uow, instance).data
        assert data["handled_by"] == "paie-1" and data["handled_topic"] == TOPIC
    with pf.read() as db:
        assert db.get(ProcessInstance, refused).status == "running"
        [task] = [t for t in queries.tasks_of_partnership(db, pid) if t.state == "open"]
        assert task.element_id == "refused"
    assert "0 task(s) handled" in run_worker(url, client_id, secret)
