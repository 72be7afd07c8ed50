"""The comparison baselines: the same diagram run by bare SpiffWorkflow, and by the
engine's adapter (WorkflowRun) in memory, without any database."""

from __future__ import annotations

import json
from contextlib import contextmanager

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from partnerflow.engine import spiff
from partnerflow.engine.spiff.runtime import SERIALIZER

from .common import START


def compiled_latest(pf, process_key: str) -> spiff.CompiledProcess:
    from partnerflow.engine.runtime.deployment import latest_version

    with pf.read() as session:
        version = latest_version(session, process_key)
        return pf.catalog.compiled(session, version.id)


# ---------------------------------------------------------------- bare SpiffWorkflow


def bare_start(compiled: spiff.CompiledProcess, data: dict) -> str:
    """A new workflow run to its first wait, as SpiffWorkflow's own JSON (spec included)."""
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs)
    workflow.data.update(data)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    workflow.task_tree.data.update(data)
    workflow.do_engine_steps()
    return SERIALIZER.serialize_json(workflow)


def bare_complete(state: str, data: dict) -> str:
    """Restore from JSON, complete the ready user task, run engine steps, serialise."""
    workflow = SERIALIZER.deserialize_json(state)
    ready = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
    if len(ready) != 1:
        raise RuntimeError(f"bare workflow has {len(ready)} ready user tasks, expected one")
    task = ready[0]
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()
    return SERIALIZER.serialize_json(workflow)


def bare_rounds(compiled: spiff.CompiledProcess, start_data: dict, rounds: int,
                data: dict) -> str:
    """The bare workflow's JSON after `rounds` completions."""
    state = bare_start(compiled, start_data)
    for _ in range(rounds):
        state = bare_complete(state, data)
    return state


# ---------------------------------------------------------------- engine adapter, no database


class InMemoryRun:
    """The engine's own restore / step / delta path with a dict standing in for the rows."""

    def __init__(self, compiled: spiff.CompiledProcess, start_data: dict):
        self.compiled = compiled
        self.rows: dict[str, tuple[str, str, str]] = {}
        self.state = "{}"
        run = spiff.WorkflowRun.start(compiled, start_data, **self._options())
        run.run_engine_steps()
        self._apply(run.changes())

    @staticmethod
    def _options() -> dict:
        return {"clock": lambda: START, "time_limit_s": 30.0, "max_depth": 800}

    def _apply(self, changes: spiff.Changes) -> None:
        for uuid in changes.deletes:
            self.rows.pop(uuid, None)
        for row in changes.upserts:
            self.rows[row.uuid] = (row.uuid, row.subprocess_uuid, row.body)
        # the database hands the state back from JSON text
        self.state = json.dumps(changes.workflow_state)

    def complete(self, data: dict) -> None:
        run = spiff.WorkflowRun.restore(self.compiled, json.loads(self.state),
                                        list(self.rows.values()), **self._options())
        ready = run.ready_user_tasks()
        run.complete_user_task(ready[0].uuid, data)
        run.run_engine_steps()
        self._apply(run.changes())


# ---------------------------------------------------------------- the design peers use


class BareInDatabase:
    """Bare SpiffWorkflow storing its whole JSON in one row per instance, in the engine's
    own database (same file, same connection settings): read the row, restore, complete,
    step, serialise, write the row back, commit; the design of engines built on
    SpiffWorkflow that keep the serialised workflow as a single value."""

    def __init__(self, engine, compiled: spiff.CompiledProcess, start_data: dict):
        from sqlalchemy import Column, Integer, MetaData, Table, Text

        self.engine = engine
        self.table = Table("bench_bare_workflow", MetaData(), Column("id", Integer, primary_key=True),
                           Column("body", Text))
        self.table.create(engine, checkfirst=True)
        with self._write() as conn:
            self.id = conn.execute(self.table.insert().values(
                body=bare_start(compiled, start_data))).inserted_primary_key[0]

    @contextmanager
    def _write(self):
        with self.engine.connect().execution_options(partnerflow_write=True) as conn, conn.begin():
            yield conn

    def complete(self, data: dict) -> None:
        from sqlalchemy import select

        with self._write() as conn:
            body = conn.execute(select(self.table.c.body).where(self.table.c.id == self.id)).scalar_one()
            conn.execute(self.table.update().where(self.table.c.id == self.id).values(
                body=bare_complete(body, data)))
