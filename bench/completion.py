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

from contextlib import contextmanager

from partnerflow.engine.config import ManualClock, Settings
from partnerflow.engine.runtime.host import Partnerflow

from .bare import BareInDatabase, InMemoryRun, bare_complete, bare_start, compiled_latest
from .common import (
    ACTOR,
    FIXTURES,
    START,
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
GOAL = 1.5  # engine / bare SpiffWorkflow on SQLite
GOAL_POSTGRESQL = 2.0  # on PostgreSQL (every statement a round trip)


def run(quick: bool = False) -> list[Row]:
    reps = 15 if quick else 60
    with engine_on_temp_sqlite("completion") as pf:
        rows = _rows("SQLite file", *_measure(pf, reps), GOAL)
    try:
        with _engine_on_postgresql() as pf:
            rows += _rows("PostgreSQL", *_measure(pf, reps), GOAL_POSTGRESQL)
    except OSError as exc:  # PostgreSQL unreachable: said, not measured
        rows.append(Row("1 completion", f"PostgreSQL side not run ({type(exc).__name__})", "-",
                        "", "not run"))
    return rows


@contextmanager
def _engine_on_postgresql():
    """The same engine on a temporary PostgreSQL database (bench.load's), dropped after."""
    import psycopg

    from .load import PG, _database

    try:
        psycopg.connect(PG.replace("+psycopg", ""), connect_timeout=3).close()
    except psycopg.Error as exc:
        raise OSError(str(exc)) from exc
    with _database() as url:
        settings = Settings(database_url=url, bpmn_dir=FIXTURES, forms_dir=FIXTURES / "forms",
                            step_time_limit_s=30.0)
        pf = Partnerflow(settings, clock=ManualClock(START))
        try:
            yield pf
        finally:
            pf.dispose()


def _measure(pf, reps: int, warmup: int = 3):
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
    return (engine_t[warmup:], bare_t[warmup:], memory_t[warmup:], peers_t[warmup:],
            f"rounds {warmup + 1}-{warmup + reps}")


def _rows(database: str, engine_t, bare_t, memory_t, peers_t, rounds: str,
          goal: float) -> list[Row]:
    ratio = median_ratio(list(zip(engine_t, bare_t, strict=True)))
    core_ratio = median_ratio(list(zip(memory_t, bare_t, strict=True)))
    peers_ratio = median_ratio(list(zip(engine_t, peers_t, strict=True)))
    rows = [
        Row("1 completion", f"engine complete_task, {database} ({rounds})", ms(median(engine_t))),
        Row("1 completion", f"bare SpiffWorkflow JSON round trip ({rounds})", ms(median(bare_t))),
        Row("1 completion", f"ratio engine on {database} / bare (median of paired ratios)",
            f"{ratio:.2f}x", f"<= {goal}x", verdict(ratio, goal)),
        Row("1 completion", f"bare SpiffWorkflow, whole JSON in one row per instance, {database}",
            ms(median(peers_t))),
        Row("1 completion", f"ratio engine / that design on {database} (median of paired ratios)",
            f"{peers_ratio:.2f}x", "<= 1.0x", verdict(peers_ratio, 1.0)),
    ]
    if database.startswith("SQLite"):  # the adapter alone: the same on either database
        rows[2:2] = [Row("1 completion", "engine adapter in memory, no database", ms(median(memory_t))),
                     Row("1 completion", "ratio engine adapter in memory / bare", f"{core_ratio:.2f}x")]
    return rows
