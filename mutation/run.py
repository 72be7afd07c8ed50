"""Mutation testing with cosmic-ray, one module at a time (`make mutation`).

For each module of mutation/*.toml: list the mutants (cosmic-ray init), keep the operators
below (one alternative per operator, as a reviewer would write the bug; the others are
mostly equivalent or duplicates, e.g. `|` of type hints turned into `-`), optionally keep a
seeded random sample (MUTATION_SAMPLE=N mutants per module, for a quicker look), run each
mutant against the module's tests (cosmic-ray exec: the file is mutated in place and put
back), then print the score and every surviving mutant's diff.

    .venv/bin/python mutation/run.py [forms audit_chain ...]
    .venv/bin/python mutation/run.py --survivors forms   # run the last survivors again
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
KEEP = re.compile(
    r"core/(AddNot|NumberReplacer|ReplaceOrWithAnd|ReplaceAndWithOr|ZeroIterationForLoop"
    r"|ReplaceUnaryOperator_Delete_Not|ReplaceUnaryOperator_USub_UAdd|ReplaceTrueWithFalse"
    r"|ReplaceFalseWithTrue|ExceptionReplacer|ReplaceContinueWithBreak|ReplaceBreakWithContinue"
    r"|RemoveDecorator"
    r"|ReplaceComparisonOperator_(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Is_IsNot"
    r"|IsNot_Is|In_NotIn|NotIn_In)"
    r"|ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul))$")


def prepare(config: Path, session: Path) -> int:
    session.unlink(missing_ok=True)
    subprocess.run([BIN / "cosmic-ray", "init", str(config), str(session)], cwd=ROOT, check=True)
    db = sqlite3.connect(session)
    # ordered by place in the file, not by job id: cosmic-ray's job ids are random UUIDs, so
    # a sample drawn from them would differ at every `init`
    jobs = db.execute("""select job_id, operator_name from mutation_specs
                         order by start_pos_row, start_pos_col, end_pos_row, end_pos_col,
                                  operator_name, occurrence""").fetchall()
    dropped = [job for job, operator in jobs if not KEEP.match(operator)]
    kept = [job for job, operator in jobs if KEEP.match(operator)]
    sample = int(os.environ.get("MUTATION_SAMPLE", "0"))
    if sample and sample < len(kept):
        chosen = set(random.Random(f"{config.stem}-{sample}").sample(kept, sample))
        dropped += [job for job in kept if job not in chosen]
    for job in dropped:
        db.execute("delete from mutation_specs where job_id = ?", (job,))
        db.execute("delete from work_items where job_id = ?", (job,))
    db.commit()
    return db.execute("select count(*) from work_items").fetchone()[0]


def report(config: Path, session: Path) -> tuple[int, int]:
    db = sqlite3.connect(session)
    rows = db.execute("""select r.test_outcome, r.worker_outcome, r.diff, s.operator_name,
                                s.start_pos_row
                         from work_results r join mutation_specs s using (job_id)
                         order by s.start_pos_row""").fetchall()
    def dead(outcome, worker) -> bool:  # a test failed, or the mutant broke the run itself
        return (outcome or "").lower() == "killed" or (worker or "").lower() == "abnormal"

    killed = sum(1 for outcome, worker, *_ in rows if dead(outcome, worker))
    print(f"\n== {config.stem}: {killed}/{len(rows)} mutants killed "
          f"({100 * killed / max(len(rows), 1):.1f} %)")
    for outcome, worker, diff, operator, line in rows:
        if not dead(outcome, worker):
            print(f"-- survived: line {line} {operator}\n{diff}")
    return killed, len(rows)


def forget_survivors(session: Path) -> int:
    """Mark the mutants that survived the last run as not run yet (after new tests)."""
    db = sqlite3.connect(session)
    survivors = [job for (job,) in db.execute(
        "select job_id from work_results where lower(test_outcome) != 'killed' "
        "and lower(coalesce(worker_outcome, '')) != 'abnormal'")]
    for job in survivors:
        db.execute("delete from work_results where job_id = ?", (job,))
    db.commit()
    return len(survivors)


def main(names: list[str]) -> None:
    again = "--survivors" in names
    names = [n for n in names if n != "--survivors"]
    configs = [HERE / f"{n}.toml" for n in names] if names else sorted(HERE.glob("*.toml"))
    results = HERE / "sessions"
    results.mkdir(exist_ok=True)
    for config in configs:
        session = results / f"{config.stem}.sqlite"
        count = forget_survivors(session) if again else prepare(config, session)
        print(f"{config.stem}: {count} mutants", flush=True)
        subprocess.run([BIN / "cosmic-ray", "exec", str(config), str(session)], cwd=ROOT,
                       check=True)
        report(config, session)


if __name__ == "__main__":
    main(sys.argv[1:])
