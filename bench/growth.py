"""Benchmark 2: how the cost of a step grows with history.

a) Loop rounds: completing the review of round 1 vs round N (~200) of the review loop,
   for the engine (services.complete_task) and for bare SpiffWorkflow (JSON round trip).
   SpiffWorkflow walks the whole task tree, which grows by three levels per round; its
   iterators stop near depth 1000, so the engine refuses depth > 800 (about 266 rounds
   of this loop) and long repetition is modelled as rolling periods instead.
b) Rolling periods: each period is a new instance (bench/fixtures/period.bpmn, one user
   task then the end) of the same partnership. Completing period 500's task (499 periods
   of history in the partnership; 99 in a --quick run) vs period 1's task (a fresh
   partnership).
"""

from __future__ import annotations

from .bare import bare_complete, bare_rounds, compiled_latest
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
    return loop_rounds(quick) + rolling_periods(quick)


def loop_rounds(quick: bool) -> list[Row]:
    deep_round = 50 if quick else 200
    reps = 6 if quick else 20
    with engine_on_temp_sqlite("growth") as pf:
        make_user(pf, ACTOR, "direction")
        deploy(pf, "review_loop.bpmn")
        partnership = new_partnership(pf, "Growth benchmark")
        deep = start(pf, partnership, "review_loop", {"rounds": 0})
        for _ in range(deep_round - 1):
            complete(pf, open_task(pf, deep), AGAIN)
        fresh = [start(pf, partnership, "review_loop", {"rounds": 0}) for _ in range(reps + 1)]
        compiled = compiled_latest(pf, "review_loop")
        bare_first = bare_rounds(compiled, {"rounds": 0}, 0, AGAIN)
        bare_deep = bare_rounds(compiled, {"rounds": 0}, deep_round - 1, AGAIN)

        sides = {"engine_1": [], "engine_n": [], "bare_1": [], "bare_n": []}
        for i in range(reps + 1):  # the first repetition warms up and is dropped
            first_task, deep_task = open_task(pf, fresh[i]), open_task(pf, deep)
            runs = {
                "engine_1": lambda t=first_task: complete(pf, t, AGAIN),
                "engine_n": lambda t=deep_task: complete(pf, t, AGAIN),
                "bare_1": lambda: bare_complete(bare_first, AGAIN),
                "bare_n": lambda: bare_complete(bare_deep, AGAIN),
            }
            names = list(runs) if i % 2 else list(reversed(runs))
            for name in names:
                took, _ = timed(runs[name])
                if i:
                    sides[name].append(took)

    engine = median_ratio(list(zip(sides["engine_n"], sides["engine_1"], strict=True)))
    bare = median_ratio(list(zip(sides["bare_n"], sides["bare_1"], strict=True)))
    deep_engine = f"{deep_round}-{deep_round + reps - 1}"
    return [
        Row("2a loop growth", "engine step at round 1", ms(median(sides["engine_1"]))),
        Row("2a loop growth", f"engine step at rounds {deep_engine}",
            ms(median(sides["engine_n"]))),
        Row("2a loop growth", f"engine ratio round ~{deep_round} / round 1", f"{engine:.2f}x"),
        Row("2a loop growth", "bare SpiffWorkflow step at round 1", ms(median(sides["bare_1"]))),
        Row("2a loop growth", f"bare SpiffWorkflow step at round {deep_round}",
            ms(median(sides["bare_n"]))),
        Row("2a loop growth", f"bare ratio round {deep_round} / round 1", f"{bare:.2f}x"),
        Row("2a loop growth", f"engine / bare at round ~{deep_round}",
            f"{median_ratio(list(zip(sides['engine_n'], sides['bare_n'], strict=True))):.2f}x"),
    ]


def rolling_periods(quick: bool) -> list[Row]:
    periods = 100 if quick else 500
    reps = 6 if quick else 25
    summary = {"summary": "Rien à signaler."}
    with engine_on_temp_sqlite("periods") as pf:
        make_user(pf, ACTOR, "direction")
        deploy(pf, "period.bpmn")
        rolling = new_partnership(pf, "Rolling periods")
        for number in range(1, periods):
            instance = start(pf, rolling, "period", {"period_number": number})
            complete(pf, open_task(pf, instance), summary)

        first_t, late_t, first_start, late_start = [], [], [], []
        for i in range(reps + 1):  # the first repetition warms up and is dropped
            fresh = new_partnership(pf, f"Fresh {i}")
            sides = [("first", fresh, 1), ("late", rolling, periods + i)]
            if i % 2:
                sides.reverse()
            for name, partnership, number in sides:
                began, instance = timed(
                    lambda p=partnership, n=number: start(pf, p, "period", {"period_number": n}))
                task_id = open_task(pf, instance)
                took, _ = timed(lambda t=task_id: complete(pf, t, summary))
                if i:
                    (first_t if name == "first" else late_t).append(took)
                    (first_start if name == "first" else late_start).append(began)

    ratio = median_ratio(list(zip(late_t, first_t, strict=True)))
    start_ratio = median_ratio(list(zip(late_start, first_start, strict=True)))
    return [
        Row("2b rolling periods", "complete period 1's task (fresh partnership)",
            ms(median(first_t))),
        Row("2b rolling periods", f"complete period {periods}'s task "
            f"({periods - 1} periods of history)", ms(median(late_t))),
        Row("2b rolling periods", f"ratio period {periods} / period 1", f"{ratio:.2f}x",
            f"<= {GOAL}x", verdict(ratio, GOAL)),
        Row("2b rolling periods", f"start period {periods} / start period 1",
            f"{start_ratio:.2f}x ({ms(median(late_start))} vs {ms(median(first_start))})"),
    ]
