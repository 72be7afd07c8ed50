"""The persistence oracle: after every step, what was stored restores to the run in memory.

The engine stores an instance as one row per task and, at each step, writes only the rows
`WorkflowRun.changes()` picks. A skipped write is silent: the instance carries on in memory
and only the next restore (another request, the worker, a restart) sees the old row.

`PersistenceOracle.install(monkeypatch)` keeps every instance's run in memory across the
steps of a test, never restored from its rows: `stepping.restore` hands back the run kept
since the last committed step, so the engine moves the same objects forward as a process
that never stopped would. After each `stepping._persist`, the oracle restores a second run
from the rows and the workflow state as they are now in the database and compares the two,
task by task: every field of its row (state, data, children, parent, internal data, the
time of the last state change, triggered, spec), then the workflow-level state (data, events,
subprocesses) and what the engine reads from a run (ready tasks, the next timer, the
messages waited for, completion).

The run kept in memory is dropped, and the next step restores from the database as the
engine always does, whenever its transaction does not commit or the rows no longer match
what it wrote (another writer), so that the oracle never compares against a state the
database never held.

A mismatch fails the test at once with `pytest.fail` (not an `Exception`, so that the
engine's incident handling cannot swallow it). `collect=True` records mismatches instead
(tests/scenarios/test_persistence_oracle.py drops each of the row-selection rules in turn
and asserts the oracle saw a difference).
"""

from __future__ import annotations

from copy import deepcopy

import pytest
from sqlalchemy import select

from partnerflow.engine.runtime import stepping
from partnerflow.engine.spiff import trees
from partnerflow.engine.store import UnitOfWork
from partnerflow.engine.store.models import ProcessInstance, WorkflowTask

# tasks not reached yet: their data is their parent's, merged in when they are reached
NOT_REACHED = trees.NOT_REACHED


def _key(uow, instance_id: int) -> tuple[str, int]:
    return str(uow.session.get_bind().url), instance_id


def _tasks(run) -> dict[str, object]:
    return {str(t.id): t for _, wf in run._workflows() for t in wf.tasks.values()}


def _effective_data(task, memo: dict) -> dict:
    """The data of a task not reached yet, as it will be once reached (merged with its
    parent's, up a chain of tasks not reached either).

    Its row stores its data as a delta against its parent's, restored against the parent's
    data of the moment: such a task holds {} in memory and its parent's data once restored,
    which is the same once SpiffWorkflow merges the parent's data into it on reaching it.
    So for these tasks the merge is compared."""
    found = memo.get(task.id)
    if found is None:
        parent = task.parent
        inherited = (_effective_data(parent, memo) if parent.state & NOT_REACHED
                     and parent.parent is not None else parent.data)
        found = memo[task.id] = trees.merged_data(deepcopy(task.data), inherited)
    return found


def _describe(task) -> str:
    spec = task.task_spec
    return (f"{getattr(spec, 'bpmn_id', None) or spec.name} ({task.id}, "
            f"{trees.state_name(task.state)})")


def compare(kept, restored) -> list[str]:
    """The differences between a run kept in memory and its twin restored from the rows."""
    return _task_differences(kept, restored) or _run_differences(kept, restored)


def _task_differences(kept, restored) -> list[str]:
    found: list[str] = []
    mine, theirs = _tasks(kept), _tasks(restored)
    for uuid in sorted(mine.keys() - theirs.keys()):
        found.append(f"{_describe(mine[uuid])}: in memory, not restored from the rows")
    for uuid in sorted(theirs.keys() - mine.keys()):
        found.append(f"{_describe(theirs[uuid])}: restored from the rows, gone from memory")
    memo_mine, memo_theirs = {}, {}
    for uuid in sorted(mine.keys() & theirs.keys()):
        a, b = mine[uuid], theirs[uuid]
        # every field of the task's row (SpiffWorkflow's TaskConverter), compared as values
        if a.state & NOT_REACHED and a.parent is not None:
            data_a, data_b = _effective_data(a, memo_mine), _effective_data(b, memo_theirs)
        else:
            data_a, data_b = a.data, b.data
        for what, left, right in (
                ("state", a.state, b.state),
                ("data", data_a, data_b),
                # the ids the row lists, not the tasks they resolve to: a child lost from
                # the tree but still listed is named here rather than breaking the walk
                ("children", [str(c) for c in a._children], [str(c) for c in b._children]),
                ("parent", a.parent and str(a.parent.id), b.parent and str(b.parent.id)),
                ("internal data", a.internal_data, b.internal_data),
                ("last state change", a.last_state_change, b.last_state_change),
                ("triggered", a.triggered, b.triggered),
                ("spec", a.task_spec.name, b.task_spec.name)):
            if left != right:
                found.append(f"{_describe(a)}: {what} {left!r} in memory, {right!r} restored")
    return found


def _seen(run) -> dict:
    """What the engine reads from a run besides its tasks' rows."""
    return {"workflow state": run.workflow_state(),
            "workflow data": run.workflow.data,
            "subprocess data": {str(k): sub.data for k, sub in run.workflow.subprocesses.items()},
            "ready": sorted((v.uuid, v.element_id) for v in run.ready_user_tasks()),
            "next timer": run.next_timer_due(),
            "messages": run.waiting_message_names(),
            "completed": run.workflow.is_completed(),
            "elements": run.element_states()}


def _run_differences(kept, restored) -> list[str]:
    mine, theirs = _seen(kept), _seen(restored)
    return [f"{what}: {mine[what]!r} in memory, {theirs[what]!r} restored"
            for what in mine if mine[what] != theirs[what]]


class PersistenceOracle:
    def __init__(self, collect: bool = False):
        self.collect = collect
        self.mismatches: list[str] = []
        self.checks = 0
        self.differences = 0  # tasks and fields found different, over every check
        self._kept: dict[tuple[str, int], tuple[object, int]] = {}  # committed runs
        self._pending: dict[int, dict[tuple[str, int], tuple[object, int]]] = {}  # per uow

    def install(self, monkeypatch) -> PersistenceOracle:
        real_restore, real_persist = stepping.restore, stepping._persist
        real_commit, real_rollback, real_exit = (UnitOfWork.commit, UnitOfWork.rollback,
                                                 UnitOfWork.__exit__)
        oracle = self

        def restore(uow, instance):
            kept = oracle._kept.pop(_key(uow, instance.id), None)
            if kept is not None:
                run, version_id = kept
                if version_id == instance.version_id and _rows(uow, instance.id) == run._stored:
                    return run
            return real_restore(uow, instance)

        def persist(uow, instance, run):
            real_persist(uow, instance, run)
            oracle._check(uow, instance, run, real_restore)
            oracle._pending.setdefault(id(uow), {})[_key(uow, instance.id)] = (
                run, instance.version_id)

        def commit(uow):
            real_commit(uow)
            oracle._kept.update(oracle._pending.pop(id(uow), {}))

        def rollback(uow):
            oracle._pending.pop(id(uow), None)
            real_rollback(uow)

        def exit_(uow, *exc):
            oracle._pending.pop(id(uow), None)
            return real_exit(uow, *exc)

        monkeypatch.setattr(stepping, "restore", restore)
        monkeypatch.setattr(stepping, "_persist", persist)
        monkeypatch.setattr(UnitOfWork, "commit", commit)
        monkeypatch.setattr(UnitOfWork, "rollback", rollback)
        monkeypatch.setattr(UnitOfWork, "__exit__", exit_)
        return self

    def _check(self, uow, instance, run, real_restore) -> None:
        self.checks += 1
        session = uow.session
        session.flush()
        stored_state = session.execute(select(ProcessInstance.workflow_state).where(
            ProcessInstance.id == instance.id).execution_options(populate_existing=True)).scalar()
        twin = _Stored(instance, stored_state)
        try:
            restored = real_restore(uow, twin)
        except Exception as exc:  # noqa: BLE001 - rows that do not even restore are a finding
            found = [f"the rows do not restore: {type(exc).__name__}: {exc}"]
        else:
            try:
                found = compare(run, restored)
            except Exception as exc:  # noqa: BLE001 - e.g. a task restored without its parent
                found = [f"the rows restore to a broken task tree: {type(exc).__name__}: {exc}"]
        if not found:
            return
        self.differences += len(found)
        message = (f"instance {instance.id} ({instance.process_key}): what was stored does not "
                   "restore to the run in memory:\n  " + "\n  ".join(found[:20]))
        self.mismatches.append(message)
        if not self.collect:
            pytest.fail(message, pytrace=False)


class _Stored:
    """The instance as `stepping.restore` reads it, with the workflow state read back."""

    def __init__(self, instance, workflow_state):
        self.id = instance.id
        self.version_id = instance.version_id
        self.workflow_state = workflow_state


def _rows(uow, instance_id: int) -> dict[str, str]:
    return dict(uow.session.execute(select(WorkflowTask.task_uuid, WorkflowTask.body).where(
        WorkflowTask.instance_id == instance_id)).all())
