"""/metrics and the worker's heartbeat: off until configured, a token or an allowed network
to read it, request latency by route (never by URL), the engine's figures as the database
holds them, and /ready wanting a worker that reported recently."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow, Worker
from partnerflow.engine.store.models import HumanTask
from partnerflow.web import create_app
from tests.conftest import FIXTURES, deploy
from tests.web.support import build_world

TOKEN = "t" * 40


def _app(pf, **settings):
    engine = Partnerflow(pf.settings.with_(**settings), clock=pf.clock)
    return engine, create_app(partnerflow=engine, TESTING=True)


def _value(body: str, name: str) -> float:
    [line] = [ln for ln in body.splitlines() if ln.startswith(name + " ") or ln.startswith(name + "{")]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_are_off_until_a_token_or_a_network_is_configured(fixture_pf):
    engine, app = _app(fixture_pf)
    try:
        assert app.test_client().get("/metrics").status_code == 404
    finally:
        engine.dispose()


def test_a_token_is_needed_and_compared_whole(fixture_pf):
    engine, app = _app(fixture_pf, metrics_token=TOKEN)
    client = app.test_client()
    try:
        assert client.get("/metrics").status_code == 401
        for wrong in ("Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x", TOKEN, "Basic " + TOKEN):
            assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 401, wrong
        response = client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN})
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
    finally:
        engine.dispose()


def test_an_allowed_network_reads_without_a_token_and_another_does_not(fixture_pf):
    engine, app = _app(fixture_pf, metrics_networks=("10.0.0.0/8",))
    client = app.test_client()
    try:
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.9"}).status_code == 401
    finally:
        engine.dispose()


def test_a_mistyped_network_stops_the_app_at_start(fixture_pf):
    with pytest.raises(ValueError):
        _app(fixture_pf, metrics_networks=("10.0.0.0/33",))


def test_latency_is_by_route_and_the_figures_are_the_databases(fixture_pf, clock):
    world = build_world(fixture_pf)
    engine, app = _app(fixture_pf, metrics_token=TOKEN)
    client = app.test_client()
    auth = {"Authorization": "Bearer " + TOKEN}
    try:
        client.get("/health")
        client.get(f"/taches/{world.task_own}")  # anonymous: redirected to the login page
        body = client.get("/metrics", headers=auth).get_data(as_text=True)
        assert 'route="/health"' in body and 'route="/taches/<int:task_id>"' in body
        assert f"/taches/{world.task_own}" not in body
        assert _value(body, "partnerflow_tasks_open") == 2  # the world's two review tasks
        assert _value(body, "partnerflow_tasks_overdue") == 0
        with engine.uow() as uow:
            uow.session.get(HumanTask, world.task_own).due_at = clock() - timedelta(days=1)
            uow.commit()
        body = client.get("/metrics", headers=auth).get_data(as_text=True)
        assert _value(body, "partnerflow_tasks_overdue") == 1
        assert 'partnerflow_instances{status="running"} 2.0' in body
        assert "partnerflow_worker_seconds_since_round" in body  # no sample before any worker
        assert _value(body, "partnerflow_tasks_unannounced") == 0
        with engine.uow() as uow:  # a task opened since the worker's last round
            services.start_instance(uow, partnership_id=world.own, process_key="review_loop",
                                    actor="claire", data={"rounds": 0})
        body = client.get("/metrics", headers=auth).get_data(as_text=True)
        assert _value(body, "partnerflow_tasks_unannounced") == 1
        Worker(engine, mailer=None).run_round()
        clock.advance(seconds=30)
        body = client.get("/metrics", headers=auth).get_data(as_text=True)
        assert _value(body, "partnerflow_worker_seconds_since_round") == 30
        assert _value(body, "partnerflow_tasks_unannounced") == 0
    finally:
        engine.dispose()


def test_ready_wants_a_worker_that_reported_recently(fixture_pf, tmp_path, clock):
    shutil.copy(FIXTURES / "review_loop.bpmn", tmp_path / "review_loop.bpmn")
    engine, app = _app(fixture_pf, bpmn_dir=tmp_path, worker_stale_s=60)
    client = app.test_client()
    try:
        deploy(engine, engine.method_files())
        response = client.get("/ready")
        assert response.status_code == 503
        assert "no worker has reported yet" in response.get_json()["reasons"][0]
        Worker(engine, mailer=None).run_round()
        assert client.get("/ready").get_json() == {"status": "ready"}
        clock.advance(seconds=90)
        response = client.get("/ready")
        assert response.status_code == 503
        assert "the worker last reported 90 s ago" in response.get_json()["reasons"][0]
    finally:
        engine.dispose()
