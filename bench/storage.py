"""Benchmark 4: bytes stored per instance.

One review-loop instance is driven through services.complete_task; after K rounds
(K = 1, 10, 100) the bytes the engine keeps for it (workflow_task bodies plus
process_instance.workflow_state, as stored) are compared with SpiffWorkflow's own
serialize_json of the same instance, which embeds the spec.
"""

from __future__ import annotations

import json

from sqlalchemy import text

from partnerflow.engine import spiff
from partnerflow.engine.spiff.runtime import SERIALIZER

from .bare import compiled_latest
from .common import (
    ACTOR,
    START,
    Row,
    complete,
    deploy,
    engine_on_temp_sqlite,
    make_user,
    new_partnership,
    open_task,
    start,
)

AGAIN = {"decision": "again"}


def stored_bytes(pf, instance_id: int) -> tuple[int, int, int]:
    """(task body bytes, workflow_state bytes, task rows) as they sit in the database."""
    with pf.read() as session:
        bodies, rows = session.execute(text(
            "SELECT coalesce(sum(length(CAST(body AS BLOB))), 0), count(*) "
            "FROM workflow_task WHERE instance_id = :i"), {"i": instance_id}).one()
        state = session.execute(text(
            "SELECT length(CAST(workflow_state AS BLOB)) FROM process_instance WHERE id = :i"),
            {"i": instance_id}).scalar_one()
    return int(bodies), int(state), int(rows)


def spiff_bytes(pf, compiled: spiff.CompiledProcess, instance_id: int) -> tuple[int, int]:
    """(serialize_json bytes, of which the spec) for the instance restored from its rows."""
    with pf.read() as session:
        state = json.loads(session.execute(text(
            "SELECT workflow_state FROM process_instance WHERE id = :i"),
            {"i": instance_id}).scalar_one())
        rows = [tuple(r) for r in session.execute(text(
            "SELECT task_uuid, subprocess_uuid, body FROM workflow_task WHERE instance_id = :i"),
            {"i": instance_id})]
    run = spiff.WorkflowRun.restore(compiled, state, rows, clock=lambda: START,
                                    time_limit_s=30.0, max_depth=800)
    full = SERIALIZER.serialize_json(run.workflow)
    dct = json.loads(full)
    spec = len(json.dumps(dct.get("spec", {})).encode()) + len(
        json.dumps(dct.get("subprocess_specs", {})).encode())
    return len(full.encode()), spec


def run(quick: bool = False) -> list[Row]:
    checkpoints = (1, 10, 100)
    rows: list[Row] = []
    with engine_on_temp_sqlite("storage") as pf:
        make_user(pf, ACTOR, "direction")
        deploy(pf, "review_loop.bpmn")
        compiled = compiled_latest(pf, "review_loop")
        instance = start(pf, new_partnership(pf, "Storage benchmark"), "review_loop",
                         {"rounds": 0})
        done = 0
        for k in checkpoints:
            while done < k:
                complete(pf, open_task(pf, instance), AGAIN)
                done += 1
            bodies, state, count = stored_bytes(pf, instance)
            full, spec = spiff_bytes(pf, compiled, instance)
            stored = bodies + state
            rows.append(Row(
                "4 bytes/instance", f"after K={k} rounds: engine rows vs serialize_json",
                f"{stored:,} B vs {full:,} B = {stored / full:.2f}x".replace(",", " "),
                notes=[f"{count} task rows, {bodies} B bodies + {state} B state; "
                       f"spec {spec} B of the JSON; without the spec {stored / (full - spec):.2f}x"]))
    return rows
