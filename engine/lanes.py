"""At deploy: every user and manual task must be offered to someone.

A lane that holds a user or manual task must stand for a group: by its name (a group's key
or label, ignoring case and accents) or through the lane mapping the designer gives at upload
(lane name -> group key), which is stored with the version. Candidate groups must be groups;
candidate users and assignees must be user names or ${variable}. A task with no lane, no
candidate group, no candidate user and no assignee could never be offered to anyone: it is
refused, by its id."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from .errors import Problem
from .roles import GroupNames, fold, role_for_lane

B = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
HUMAN_TASKS = ("userTask", "manualTask")
VARIABLE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,80}$")


@dataclass(frozen=True)
class UnmappedLane:
    """A lane with user or manual tasks whose name is no group's: the designer maps it."""

    file: str
    process_key: str
    lane_id: str
    name: str
    tasks: tuple[str, ...]


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _lanes_of(process: etree._Element) -> dict[str, etree._Element]:
    """Element id -> its innermost lane."""
    found: dict[str, etree._Element] = {}
    for lane in process.iter(f"{B}lane"):
        for ref in lane.iterfind(f"{B}flowNodeRef"):
            if ref.text:
                found[ref.text.strip()] = lane  # nested lanes come later: the innermost wins
    return found


def _lane_of(task: etree._Element, lanes: dict[str, etree._Element]) -> etree._Element | None:
    node = task
    while node is not None:
        if node.get("id") in lanes:
            return lanes[node.get("id")]
        node = node.getparent()
    return None


def _human_tasks(process: etree._Element):
    for tag in HUMAN_TASKS:
        yield from process.iter(f"{B}{tag}")


def _lane_name(lane: etree._Element) -> str:
    return (lane.get("name") or "").strip() or lane.get("id")


def lint(filename: str, process: etree._Element, names: GroupNames,
         mapping: dict[str, str]) -> tuple[list[Problem], list[UnmappedLane]]:
    """Problems of one process's lanes and candidates, and the lanes left to map."""
    problems: list[Problem] = []
    lanes = _lanes_of(process)
    unmapped: dict[str, list[str]] = {}
    lane_elements: dict[str, etree._Element] = {}
    keys = ", ".join(sorted(names.keys))
    for task in _human_tasks(process):
        tid = task.get("id")
        lane = _lane_of(task, lanes)
        groups = _split(task.get(f"{CAMUNDA}candidateGroups"))
        users = _split(task.get(f"{CAMUNDA}candidateUsers"))
        assignee = (task.get(f"{CAMUNDA}assignee") or "").strip()
        for group in groups:
            if names.find(group) is None:
                problems.append(Problem(filename, f"candidate group '{group}' is not a group",
                                        element_id=tid, hint="use one of: " + keys))
        for user in users:
            if not (VARIABLE.match(user) or USERNAME.match(user)):
                problems.append(Problem(filename, f"the candidate user '{user}' is neither a user "
                                        "name nor ${variable}", element_id=tid,
                                        hint="write user names separated by commas, or ${variable}"))
        if assignee and not (VARIABLE.match(assignee) or USERNAME.match(assignee)):
            problems.append(Problem(filename, f"the assignee '{assignee}' is neither a user name "
                                    "nor ${variable}", element_id=tid,
                                    hint="write a user name, or ${delegate} to use a variable"))
        lane_group = None
        if lane is not None:
            lane_group = role_for_lane(_lane_name(lane), names, mapping)
            if lane_group is None:
                unmapped.setdefault(lane.get("id"), []).append(tid)
                lane_elements[lane.get("id")] = lane
                continue
        if not (groups or users or assignee or lane_group):
            kind = "manual task" if etree.QName(task).localname == "manualTask" else "user task"
            problems.append(Problem(
                filename, f"the {kind} '{task.get('name') or tid}' is offered to nobody: it is in "
                "no lane and names no candidate group, candidate user or assignee",
                element_id=tid,
                hint="put it in a lane named after a group (" + keys + "), or set candidate "
                     "groups, candidate users or an assignee"))
    lanes_left = []
    for lane_id, tasks in unmapped.items():
        lane = lane_elements[lane_id]
        name = _lane_name(lane)
        problems.append(Problem(filename, f"the lane '{name}' is not a group", element_id=lane_id,
                                hint="name the lane after a group (" + keys + "), or map it to a "
                                     "group when uploading"))
        lanes_left.append(UnmappedLane(filename, process.get("id"), lane_id, name, tuple(tasks)))
    return problems, lanes_left


def check_mapping(mapping: dict[str, str], names: GroupNames) -> list[Problem]:
    """A lane mapping names groups that exist."""
    return [Problem("(lane mapping)", f"the lane '{lane}' is mapped to '{group}', which is not a group",
                    hint="choose one of: " + ", ".join(sorted(names.keys)))
            for lane, group in sorted(mapping.items()) if group not in names.keys]


def mapping_for(process: etree._Element | None, mapping: dict[str, str]) -> dict[str, str]:
    """The entries of a lane mapping that name lanes of this process (stored with its version)."""
    if process is None or not mapping:
        return {}
    present = {fold(_lane_name(lane)) for lane in process.iter(f"{B}lane")}
    return {lane: group for lane, group in sorted(mapping.items()) if fold(lane) in present}


def process_element(root: etree._Element, key: str) -> etree._Element | None:
    for process in root.iterfind(f"{B}process"):
        if process.get("id") == key:
            return process
    return None
