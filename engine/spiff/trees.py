"""What a reader of SpiffWorkflow's task tree needs besides the tree itself (the persistence
oracle of the tests compares two trees): which states mean "not reached yet", a state's
name, and SpiffWorkflow's own merge of a parent's data into a task reaching it."""

from __future__ import annotations

from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

NOT_REACHED = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE


def state_name(state: int) -> str:
    return TaskState.get_name(state)


def merged_data(own: dict, inherited: dict) -> dict:
    """`own` with `inherited` merged into it, as SpiffWorkflow does on reaching a task."""
    return DeepMerge.merge(own, inherited)
