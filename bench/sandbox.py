"""Benchmark 6: what isolating diagram code in sandbox processes costs.

Side by side in one run:
- one expression that is not bounded by construction (a call), evaluated in a warm sandbox
  process vs evaluated in this process by the same restricted compiler;
- one bounded expression (a comparison: most gateway conditions, decision cells and timer
  literals), which the engine evaluates in-process, against the same one in the pool;
- one script task (`rounds = rounds + 1`, the review loop's) run through the pool vs
  in-process;
- completing the review loop's task (whose step runs that script) through the engine, with
  the pool vs with an in-process environment swapped in for the measure only.
"""

from __future__ import annotations

from partnerflow.engine.spiff import restricted, sandbox

from .common import (
    ACTOR,
    Row,
    complete,
    deploy,
    engine_on_temp_sqlite,
    make_user,
    median,
    median_ratio,
    new_partnership,
    open_task,
    start,
    timed,
    verdict,
)

GOAL = 1.10  # isolation may add at most a tenth to a completion whose step runs a script

DATA = {"rounds": 3, "decision": "again", "amount": 23000.0, "partners": ["A", "B", "C"],
        "level": "L2", "notes": "x" * 2000}


def _per_call(fn, count: int) -> float:
    seconds, _ = timed(lambda: [fn() for _ in range(count)])
    return seconds / count


def _in_process_execute(self, script, context, external_context=None):
    """The pre-isolation way, for the comparison only: the restricted code in this process."""
    context.update(restricted.execute(script, context, external_context))
    return True


def run(quick: bool = False) -> list[Row]:
    reps, calls = (5, 100) if quick else (15, 300)
    pool = sandbox.pool()
    pool.warm()
    call = "sorted(partners)[0] == 'A' and len(notes) > 10"
    bounded = "decision == 'again' and rounds < 5 and amount > 23000"
    script = "rounds = rounds + 1"
    pairs_call, pairs_bounded, pairs_script = [], [], []
    pooled_call = []
    for _ in range(reps):
        in_proc = _per_call(lambda: restricted.evaluate(call, DATA), calls)
        pooled = _per_call(lambda: pool.run("eval", call, DATA, None, 5.0), calls)
        pairs_call.append((pooled, in_proc))
        pooled_call.append(pooled)
        fast = _per_call(lambda: restricted.evaluate(bounded, DATA), calls)
        forced = _per_call(lambda: pool.run("eval", bounded, DATA, None, 5.0), calls)
        pairs_bounded.append((forced, fast))
        s_in = _per_call(lambda: restricted.execute(script, dict(DATA)), calls)
        s_pool = _per_call(lambda: pool.run("exec", script, dict(DATA), None, 5.0), calls)
        pairs_script.append((s_pool, s_in))

    completions = _completion_pairs(reps * 4 if not quick else reps * 2)
    return [
        Row("sandbox", "expression with a call: pool / in-process", f"{median_ratio(pairs_call):.0f}x",
            notes=[f"{median(pooled_call) * 1e6:.0f} µs per pooled evaluation, "
                   f"{median([b for _, b in pairs_call]) * 1e6:.1f} µs in-process"]),
        Row("sandbox", "bounded expression: kept in-process (pool would be)",
            f"{median([b for _, b in pairs_bounded]) * 1e6:.1f} µs",
            notes=[f"the pool would cost {median_ratio(pairs_bounded):.0f}x"]),
        Row("sandbox", "script task: pool / in-process", f"{median_ratio(pairs_script):.0f}x",
            notes=[f"{median([a for a, _ in pairs_script]) * 1e6:.0f} µs per pooled script"]),
        Row("sandbox", "complete_task with a script step: pool / in-process",
            f"{median_ratio(completions):.2f}x", goal=f"≤ {GOAL:.2f}x",
            met=verdict(median_ratio(completions), GOAL),
            notes=[f"{median([a for a, _ in completions]) * 1000:.2f} ms with the pool, "
                   f"{median([b for _, b in completions]) * 1000:.2f} ms in-process"]),
    ]


def _completion_pairs(reps: int) -> list[tuple[float, float]]:
    pairs = []
    with engine_on_temp_sqlite("sandbox") as pf:
        make_user(pf, ACTOR, "direction")
        deploy(pf, "review_loop.bpmn")
        partnership = new_partnership(pf, "Sandbox benchmark")
        pooled_instance = start(pf, partnership, "review_loop", {"rounds": 0})
        local_instance = start(pf, partnership, "review_loop", {"rounds": 0})
        original = sandbox.RestrictedEnvironment.execute
        for i in range(reps + 2):
            a, _ = timed(lambda: complete(pf, open_task(pf, pooled_instance), {"decision": "again"}))
            sandbox.RestrictedEnvironment.execute = _in_process_execute
            try:
                b, _ = timed(lambda: complete(pf, open_task(pf, local_instance), {"decision": "again"}))
            finally:
                sandbox.RestrictedEnvironment.execute = original
            if i >= 2:
                pairs.append((a, b))
    return pairs
