"""Shared helpers: a migrated SQLite file per benchmark, users, deployment, timing."""

from __future__ import annotations

import gc
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from partnerflow.engine.access import accounts
from partnerflow.engine.config import ManualClock, Settings
from partnerflow.engine.runtime import deployment, services
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store import upgrade
from partnerflow.engine.store.models import HumanTask

FIXTURES = Path(__file__).resolve().parent / "fixtures"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = "bench.direction"


@dataclass
class Row:
    """One line of the results table."""

    bench: str
    what: str
    value: str
    goal: str = ""
    met: str = ""
    notes: list[str] = field(default_factory=list)


@contextmanager
def engine_on_temp_sqlite(name: str) -> Iterator[Partnerflow]:
    """A Partnerflow engine on a fresh, migrated SQLite file that is removed afterwards."""
    folder = tempfile.mkdtemp(prefix=f"partnerflow-bench-{name}-")
    url = f"sqlite:///{os.path.join(folder, 'bench.db')}"
    upgrade(url)
    settings = Settings(database_url=url, bpmn_dir=FIXTURES, forms_dir=FIXTURES / "forms",
                        step_time_limit_s=30.0)
    pf = Partnerflow(settings, clock=ManualClock(START))
    try:
        yield pf
    finally:
        pf.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def make_user(pf: Partnerflow, username: str, *roles: str) -> str:
    with pf.uow() as uow:
        accounts.create_user(uow, username=username, full_name=username.replace(".", " ").title(),
                             roles=list(roles), actor=None)
    return username


def deploy(pf: Partnerflow, *filenames: str) -> None:
    files = [(name, (FIXTURES / name).read_bytes()) for name in filenames]
    with pf.uow() as uow:
        deployment.deploy(uow.session, files, actor=None, at=uow.clock(), forms=pf.forms,
                          max_bytes=pf.settings.max_upload_bytes)
        uow.commit()


def new_partnership(pf: Partnerflow, title: str) -> int:
    with pf.uow() as uow:
        return services.create_partnership(uow, title=title, actor=ACTOR)


def start(pf: Partnerflow, partnership_id: int, process_key: str, data: dict) -> int:
    with pf.uow() as uow:
        return services.start_instance(uow, partnership_id=partnership_id,
                                       process_key=process_key, actor=ACTOR, data=data)


def open_task(pf: Partnerflow, instance_id: int) -> int:
    with pf.read() as session:
        ids = list(session.scalars(select(HumanTask.id).where(
            HumanTask.instance_id == instance_id, HumanTask.state == "open")))
    if len(ids) != 1:
        raise RuntimeError(f"instance {instance_id} has {len(ids)} open tasks, expected one")
    return ids[0]


def complete(pf: Partnerflow, task_id: int, data: dict) -> services.Completion:
    with pf.uow() as uow:
        done = services.complete_task(uow, task_id=task_id, actor=ACTOR, data=data)
    if done.error:
        raise RuntimeError(f"instance {done.instance_id} failed: {done.error}")
    return done


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds taken by fn(); a collection runs first so no side inherits the other's garbage.
    What survives it is frozen (gc.freeze): the next collection scans only what was allocated
    since, instead of the whole heap (50 ms a collection once the application is loaded)."""
    gc.collect()
    gc.freeze()
    began = time.perf_counter()
    result = fn()
    return time.perf_counter() - began, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def ratio_of_medians(a: list[float], b: list[float]) -> float:
    return median(a) / median(b)


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    """The median of per-repetition ratios a/b (each pair measured back to back)."""
    return median([a / b for a, b in pairs])


def verdict(value: float, goal: float) -> str:
    return "yes" if value <= goal else "NO"
