"""The API's messages, partnerships, map and audit resources, each under the pages' rules."""

from __future__ import annotations

from partnerflow.engine.method import registry
from partnerflow.engine.runtime import auditlog
from partnerflow.engine.store.models import HumanTask, ProcessInstance
from tests.conftest import FIXTURES, deploy
from tests.web.support import start
from tests.web.test_api import api, assert_problem  # noqa: F401 - the fixture

__all__ = ["api"]


def test_a_message_reaches_the_waiting_instance_or_starts_its_process_camunda_style(api, world):
    pf = world.pf
    deploy(pf, [FIXTURES / "messages.bpmn"])
    claire = api("claire")
    started = claire(
        "POST",
        "/api/message",
        json={
            "messageName": "period_start",
            "businessKey": str(world.other),
            "processVariables": {"period_number": {"value": 1}},
            "resultEnabled": True,
        },
    )
    [result] = started.get_json()
    assert result["resultType"] == "ProcessDefinition" and result["processDefinitionKey"] == "rolling_period"
    start(pf, world.own, "rolling_main")
    with pf.read() as db:
        main = db.query(ProcessInstance).filter_by(partnership_id=world.own, process_key="rolling_main").one()
        assert "periods_finished" in main.waiting_messages
    done = claire(
        "POST", "/api/message", json={"messageName": "periods_finished", "partnershipId": world.own}
    )
    assert done.status_code == 204
    with pf.read() as db:
        assert db.query(HumanTask).filter_by(instance_id=main.id, element_id="conclude").count() == 1
    assert_problem(
        claire("POST", "/api/message", json={"messageName": "nobody_waits", "partnershipId": world.own}), 404
    )
    assert_problem(
        api("paul")("POST", "/api/message", json={"messageName": "period_start", "partnershipId": world.own}),
        403,
    )
    assert_problem(claire("POST", "/api/message", json={"messageName": "period_start"}), 422, "businessKey")


def test_partnerships_are_read_as_on_the_pages(api, world):
    paul = api("paul")
    assert [p["id"] for p in paul("GET", "/api/partnerships").get_json()["items"]] == [world.own]
    assert_problem(paul("GET", f"/api/partnerships/{world.other}"), 403)
    mine = paul("GET", f"/api/partnerships/{world.own}").get_json()
    assert mine["title"] == "EHPAD et lycée agricole" and "paul" in {p["username"] for p in mine["people"]}
    assert mine["instances"] and mine["open_tasks"] == 1
    assert {p["id"] for p in api("sophie")("GET", "/api/partnerships").get_json()["items"]} == {
        world.own,
        world.other,
    }
    assert_problem(api("denis")("GET", f"/api/partnerships/{world.own}"), 403)
    assert_problem(api("claire")("GET", "/api/partnerships/99999"), 404)


def test_the_map_is_read_by_staff_and_its_relationships_edited_by_the_direction(api, world):
    pf = world.pf
    with pf.uow() as uow:
        registry.create_organisation(
            uow, actor="claire", data={"name": "Notre association", "kind": "association", "is_own": "1"}
        )
    with pf.uow() as uow:
        partner = registry.create_organisation(
            uow, actor="claire", data={"name": "Lycée agricole", "kind": "school"}
        )
    claire = api("claire")
    created = claire(
        "POST",
        "/api/map/relationships",
        json={"partner_id": partner, "kind": "cooperation", "since": "2025-09-01", "agreement": "written"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    rel = created.get_json()
    assert rel["partner_name"] == "Lycée agricole" and rel["since"].startswith("2025-09-01")
    updated = claire(
        "PUT",
        f"/api/map/relationships/{rel['id']}",
        json={"partner_id": partner, "kind": "partnership", "formalisation_level": "L2"},
    )
    assert updated.get_json()["kind"] == "partnership" and updated.get_json()["since"] is None
    refused = claire(
        "POST", "/api/map/relationships", json={"partner_id": partner, "kind": "cooperation", "since": "hier"}
    )
    assert_problem(refused, 422, "since")
    assert_problem(
        api("sophie")("POST", "/api/map/relationships", json={"partner_id": partner, "kind": "cooperation"}),
        403,
    )
    assert [r["id"] for r in api("sophie")("GET", "/api/map/relationships").get_json()["items"]] == [
        rel["id"]
    ]
    assert_problem(api("paul")("GET", "/api/map/relationships"), 403)
    graph = api("alice")("GET", "/api/map/graph").get_json()
    assert len(graph["edges"]) == 1 and len(graph["nodes"]) == 2


def test_the_audit_log_and_its_exports_follow_the_audit_rule(api, world):
    alice, paul = api("alice"), api("paul")
    log = alice("GET", f"/api/partnerships/{world.other}/audit").get_json()
    assert log["chain_intact"] is True and log["redacted"] is False
    assert {"partnership_created", "instance_started"} <= {e["type"] for e in log["events"]}
    assert_problem(paul("GET", f"/api/partnerships/{world.other}/audit"), 403)
    assert paul("GET", f"/api/partnerships/{world.own}/audit").get_json()["redacted"] is True
    assert_problem(api("sophie")("GET", f"/api/partnerships/{world.own}/audit"), 403)
    lines = alice("GET", f"/api/partnerships/{world.own}/audit.jsonl")
    assert lines.mimetype == "application/x-ndjson"
    text = lines.get_data(as_text=True)
    assert text and auditlog.verify_jsonl(text) == []  # a third party re-verifies it
    csv = alice("GET", f"/api/partnerships/{world.own}/audit.csv")
    assert csv.mimetype == "text/csv" and "partnership_created" in csv.get_data(as_text=True)


def test_external_tasks_through_the_api_and_their_incident_on_the_incidents_page(api, world, as_user):
    from tests.conftest import make_user
    from tests.integration.test_connectors import deploy_bytes
    from tests.integration.test_external_tasks import TOPIC, with_boundary

    pf = world.pf
    make_user(pf, "robot", "worker")
    deploy_bytes(pf, with_boundary(), "with_boundary.bpmn")
    start(pf, world.own, "with_boundary")
    robot = api("robot")
    fetch = {"workerId": "w", "maxTasks": 5, "topics": [{"topicName": TOPIC, "lockDuration": 60000}]}
    assert_problem(api("claire")("POST", "/api/external-task/fetchAndLock", json=fetch), 403)
    assert_problem(robot("GET", f"/api/tasks/{world.task_own}"), 403)  # a worker reads no task
    [task] = robot("POST", "/api/external-task/fetchAndLock", json=fetch).get_json()
    assert task["topicName"] == TOPIC and task["businessKey"] == str(world.own)
    assert task["variables"]["partnership_id"] == {"value": world.own, "type": "Integer"}
    assert_problem(robot("POST", f"/api/external-task/{task['id']}/failure", json={"workerId": "w"}),
                   422, "errorMessage")
    failed = robot(
        "POST",
        f"/api/external-task/{task['id']}/failure",
        json={"workerId": "w", "errorMessage": "logiciel de facturation arrêté", "retries": 0},
    )
    assert failed.status_code == 204
    page = as_user("claire").get("/incidents/").get_data(as_text=True)
    assert "logiciel de facturation arrêté" in page
    instance = int(task["processInstanceId"])
    assert api("claire")("GET", f"/api/instances/{instance}").get_json()["status"] == "error"
    assert api("ines")("POST", f"/api/instances/{instance}/retry").get_json()["status"] == "running"
    [again] = robot("POST", "/api/external-task/fetchAndLock", json=fetch).get_json()
    done = robot(
        "POST",
        f"/api/external-task/{again['id']}/complete",
        json={"workerId": "w", "variables": {"invoice": {"value": "F-1", "type": "String"}}},
    )
    assert done.status_code == 204
    assert api("claire")("GET", f"/api/instances/{instance}").get_json()["status"] == "completed"


def test_the_map_graph_answers_at_most_a_page_of_relationships_with_the_total(api, world):
    from tests.web.test_bounded_pages import _relationships

    names = _relationships(world.pf, 105)
    alice = api("alice")
    first = alice("GET", "/api/map/graph").get_json()
    assert len(first["edges"]) == 100 and first["total"] >= 105
    assert (first["limit"], first["offset"]) == (100, 0)
    total = first["total"]
    rest = alice("GET", "/api/map/graph?offset=100&limit=100").get_json()
    assert len(rest["edges"]) == total - 100 and rest["total"] == total
    seen = {e["relationship_id"] for e in first["edges"]} | {e["relationship_id"] for e in rest["edges"]}
    assert len(seen) == total  # the two pages together, each relationship once
    small = alice("GET", "/api/map/graph?limit=2&offset=1").get_json()
    assert [e["relationship_id"] for e in small["edges"]] == [
        e["relationship_id"] for e in first["edges"][1:3]]
    labels = {n["label"] for n in small["nodes"]}
    assert len(labels & set(names)) <= 2  # the nodes of the answer's relationships, and ours
    assert_problem(alice("GET", "/api/map/graph?limit=101"), 422, "limit")
    assert alice("GET", "/api/map/graph?offset=5000").get_json()["edges"] == []
    assert alice("GET", "/api/map/graph?offset=5000").get_json()["total"] == total
