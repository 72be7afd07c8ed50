"""Benchmark 1: the cost of completing one user task, engine vs bare SpiffWorkflow.

Both sides walk the review loop round by round, side by side: in repetition i the
engine completes the review of round i through services.complete_task (restore from
rows, engine steps, delta persistence, inbox projection, audit, commit on a SQLite file),
and bare SpiffWorkflow does the same round from its own JSON (deserialize_json, complete
the ready user task, do_engine_steps, serialize_json). A third side runs the engine's
adapter in memory (WorkflowRun.restore / complete / run_engine_steps / changes, no
database) to split the engine's cost between SpiffWorkflow work and persistence. A fourth
side is the design peers use: bare SpiffWorkflow writing its whole JSON into one row per
instance of the same database (read the row, restore, complete, step, serialise, update the
row, commit); the engine's goal is to cost no more than that.
"""

from __future__ import annotations

from .bare import BareInDatabase, InMemoryRun, bare_complete, bare_start, compiled_latest
from .common import (
    ACTOR,
    Row,
    complete,
    deploy,
    engine_on_temp_sqlite,
    make_user,
    median,
    median_ratio,
    ms,
    new_partnership,
    open_task,
    start,
    timed,
    verdict,
)

AGAIN = {"decision": "again"}
GOAL = 1.5


def run(quick: bool = False) -> list[Row]:
    reps = 15 if quick else 60
    warmup = 3
    with engine_on_temp_sqlite("completion") as pf:
        make_user(pf, ACTOR, "direction")
        deploy(pf, "review_loop.bpmn")
        partnership = new_partnership(pf, "Completion benchmark")
        instance = start(pf, partnership, "review_loop", {"rounds": 0})
        compiled = compiled_latest(pf, "review_loop")
        bare = bare_start(compiled, {"rounds": 0})
        memory = InMemoryRun(compiled, {"rounds": 0})
        peers = BareInDatabase(pf.db, compiled, {"rounds": 0})

        engine_t, bare_t, memory_t, peers_t = [], [], [], []
        for i in range(warmup + reps):
            task_id = open_task(pf, instance)
            # alternate which side goes first so neither always runs on a warmer cache
            order = (("engine", "bare", "memory", "peers") if i % 2
                     else ("peers", "bare", "memory", "engine"))
            for side in order:
                if side == "engine":
                    took, _ = timed(lambda tid=task_id: complete(pf, tid, AGAIN))
                    engine_t.append(took)
                elif side == "bare":
                    took, bare = timed(lambda state=bare: bare_complete(state, AGAIN))
                    bare_t.append(took)
                elif side == "peers":
                    took, _ = timed(lambda: peers.complete(AGAIN))
                    peers_t.append(took)
                else:
                    took, _ = timed(lambda: memory.complete(AGAIN))
                    memory_t.append(took)
        engine_t, bare_t, memory_t, peers_t = (engine_t[warmup:], bare_t[warmup:],
                                               memory_t[warmup:], peers_t[warmup:])

    ratio = median_ratio(list(zip(engine_t, bare_t, strict=True)))
    core_ratio = median_ratio(list(zip(memory_t, bare_t, strict=True)))
    peers_ratio = median_ratio(list(zip(engine_t, peers_t, strict=True)))
    rounds = f"rounds {warmup + 1}-{warmup + reps}"
    return [
        Row("1 completion", f"engine complete_task, SQLite file ({rounds})", ms(median(engine_t))),
        Row("1 completion", f"bare SpiffWorkflow JSON round trip ({rounds})", ms(median(bare_t))),
        Row("1 completion", "engine adapter in memory, no database", ms(median(memory_t))),
        Row("1 completion", "ratio engine / bare (median of paired ratios)", f"{ratio:.2f}x",
            f"<= {GOAL}x", verdict(ratio, GOAL)),
        Row("1 completion", "ratio engine adapter in memory / bare", f"{core_ratio:.2f}x"),
        Row("1 completion", "bare SpiffWorkflow, whole JSON in one row per instance, same database",
            ms(median(peers_t))),
        Row("1 completion", "ratio engine / that design (median of paired ratios)",
            f"{peers_ratio:.2f}x", "<= 1.0x", verdict(peers_ratio, 1.0)),
    ]
