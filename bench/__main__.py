"""`python -m bench [--quick] [--only NAME ...] [--profile]`: run the benchmarks, print a table.

Every figure is measured in this run, side by side with what it is compared to; nothing
is asserted. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import textwrap
import time

from . import audit_verify, completion, growth, inbox, load, pages, sandbox, storage
from .common import Row

BENCHMARKS = {
    "completion": completion.run,
    "growth": growth.run,
    "inbox": inbox.run,
    "storage": storage.run,
    "sandbox": sandbox.run,
    "audit": audit_verify.run,
    "pages": pages.run,
    # gunicorn on PostgreSQL, driven by wrk (`make bench` installs wrk when it is missing)
    "load": load.run,
}


WRAP = (None, 64, 40, None, None)  # the measure and the value wrap at these widths


def print_table(rows: list[Row]) -> None:
    """One table: every figure with its goal and whether this run met it; a long measure or
    value wraps within its column, notes go under the value."""
    headers = ("benchmark", "measure", "value", "goal", "met")
    cells = [[textwrap.wrap(c, w) or [""] if w else [c] for c, w in
              zip((r.bench, r.what, r.value, r.goal, r.met), WRAP, strict=True)] for r in rows]
    widths = [max(len(h), *(len(part) for c in cells for part in c[i])) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row, cell in zip(rows, cells, strict=True):
        for n in range(max(len(c) for c in cell)):
            print("  ".join((c[n] if n < len(c) else "").ljust(w)
                            for c, w in zip(cell, widths, strict=True)).rstrip())
        for note in row.notes:
            for part in textwrap.wrap(note, 100):
                print(" " * (widths[0] + widths[1] + 4) + part)


def print_markdown(rows: list[Row]) -> None:
    """The same table in Markdown (docs/benchmarks.md), notes in the measure's cell."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    print("| benchmark | measure | value | goal | met |")
    print("|---|---|---|---|---|")
    for r in rows:
        what = cell(r.what) + "".join(f"<br>*{cell(n)}*" for n in r.notes)
        met = f"**{r.met}**" if r.met in ("NO", "yes") and r.goal else cell(r.met)
        print(f"| {cell(r.bench)} | {what} | {cell(r.value)} | {cell(r.goal)} | {met} |")


def profile_completion(count: int = 200) -> None:
    """cProfile of complete_task on the review loop (rounds 1..count), top 30 by own time."""
    import cProfile
    import pstats

    from .common import (
        ACTOR,
        complete,
        deploy,
        engine_on_temp_sqlite,
        make_user,
        new_partnership,
        open_task,
        start,
    )

    with engine_on_temp_sqlite("profile") as pf:
        make_user(pf, ACTOR, "direction")
        deploy(pf, "review_loop.bpmn")
        partnerships = new_partnership(pf, "Profile")
        instances = [start(pf, partnerships, "review_loop", {"rounds": 0}) for _ in range(count)]
        tasks = [open_task(pf, i) for i in instances]
        profiler = cProfile.Profile()
        profiler.enable()
        for task_id in tasks:
            complete(pf, task_id, {"decision": "again"})
        profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print(f"\ncProfile: {count} completions of round 1, by cumulative time")
    stats.sort_stats("cumulative").print_stats(40)
    print("by own time")
    stats.sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repetitions")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument("--markdown", action="store_true",
                        help="print the table in Markdown (for docs/benchmarks.md)")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of complete_task")
    args = parser.parse_args(argv)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    print(f"Partnerflow benchmarks — Python {platform.python_version()}, "
          f"{platform.machine()}, {'quick' if args.quick else 'full'} run\n", flush=True)
    rows: list[Row] = []
    began = time.perf_counter()
    for name in args.only or list(BENCHMARKS):
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += BENCHMARKS[name](quick=args.quick)
        print(f"  {name} took {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print()
    (print_markdown if args.markdown else print_table)(rows)
    print(f"\n(total {time.perf_counter() - began:.0f} s; ratios are medians over repetitions "
          "measured side by side; no figure is asserted)")
    if args.profile:
        profile_completion()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
