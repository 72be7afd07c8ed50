"""What the API shows of a task is its declared view, as the page shows it: a partner never
gets an internal field of an earlier step, the direction does."""

from __future__ import annotations

import json

from partnerflow.engine.access import tokens
from partnerflow.web import create_app
from tests.scenarios.method import DIRECTION, PARTNER, STEERING, Walk
from tests.web.test_task_views import method  # noqa: F401 - the fixture

__all__ = ["method"]
INTERNAL = ("intermediate_evaluation_management", "intermediate_evaluation_innovation",
            "intermediate_evaluation_communication")


def _read(app, pf, username: str, task_id: int) -> dict:
    with pf.uow() as uow:
        token = tokens.create_personal_token(uow, username=username, name="vue", scope="read", days=1)
    response = app.test_client().get(f"/api/tasks/{task_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _keys(task: dict) -> set[str]:
    return {item["key"] for section in task["sections"] for item in section["items"]}


def test_a_partner_reading_a_task_through_the_api_gets_no_internal_field(method, clock):  # noqa: F811
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L2")
    walk.write_sheets("single_plan", [walk.samples.action_sheet(1, -30, -10)])
    walk.complete(STEERING, "record_realisation")
    walk.complete(STEERING, "evaluate_intermediate",
                  intermediate_evaluation_management="Arbitrage budgétaire interne à prévoir.")
    app = create_app(partnerflow=method, TESTING=True)
    task = walk.task(PARTNER, "partner_final_evaluation")
    seen = _read(app, method, PARTNER, task.id)
    assert "findings" in _keys(seen)  # the intermediate evaluation is shown, its shared part
    assert not set(INTERNAL) & _keys(seen)
    shown = json.dumps(seen, ensure_ascii=False)
    assert not any(key in shown for key in INTERNAL) and "Arbitrage budgétaire" not in shown
    assert all(k.startswith("partner_") for k in seen["form"]["properties"])
    # the direction reads the same task (closed form) with the internal part
    direction = _read(app, method, DIRECTION, task.id)
    assert direction["readonly"] is True and INTERNAL[0] in _keys(direction)
    assert "Arbitrage budgétaire" in json.dumps(direction, ensure_ascii=False)
