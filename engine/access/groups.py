"""Groups and who a task goes to.

The nine roles of the method are the groups seeded by default. At deploy, every user and
manual task must be offered to someone: a lane that holds one must stand for a group, by
its name (a group's key or label, ignoring case and accents) or through the lane mapping the
designer gives at upload (lane name -> group key), stored with the version; candidate groups
must be groups; candidate users and assignees must be user names or ${variable}. A task with
no lane, no candidate group, no candidate user and no assignee could never be offered to
anyone: it is refused, by its id.

A version's tasks are resolved to group keys once, when the version is loaded
(`resolve_groups`); each new task then takes its groups, its named users and its due date
from its data (`assign`)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from lxml import etree

from partnerflow.engine.errors import N_, Problem

# --- The roles of the method, and how lanes name them.

# The method's roles, seeded as groups by the migration (key: French label, English label).
# The organisation's groups are rows of app_group; these are the defaults.
METHOD_GROUPS: dict[str, tuple[str, str]] = {
    "direction": ("Direction", "Management"),
    "delegate": ("Délégué(e) aux échanges", "Exchange delegate"),
    "professional": ("Professionnel(le)", "Professional"),
    "partner": ("Partenaire", "Partner"),
    "board": ("Conseil d'administration", "Board of directors"),
    "steering": ("Comité de pilotage", "Steering committee"),
    "designer": ("Concepteur des processus", "Process designer"),
    "admin": ("Administrateur", "Administrator"),
    "auditor": ("Auditeur", "Auditor"),
    # software that serves the service tasks no bundled connector does (external tasks)
    "worker": ("Travailleur externe", "External worker"),
}
# the French labels, the interface's msgids for the method's roles
ROLES: dict[str, str] = {key: labels[0] for key, labels in METHOD_GROUPS.items()}

STAGES: dict[str, str] = {
    "idea": "L'idée première",
    "elaboration": "L'élaboration",
    "negotiation": "La négociation",
    "action_sheets": "L'écriture de fiches action",
    "realisation": "La réalisation",
    "evaluation": "L'évaluation",
}


def fold(text: str) -> str:
    """A name as lanes and labels are compared: no case, no accents, no punctuation."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


# other ways diagrams name the method's roles
ALIASES = {fold("Délégué"): "delegate", fold("Déléguée"): "delegate",
           fold("Délégué aux échanges"): "delegate", fold("Professionnel"): "professional",
           fold("Conseil d'administration (CA)"): "board", fold("COPIL"): "steering"}


class GroupNames:
    """The groups a name can stand for: by key or by label (French or English), ignoring
    case, accents and punctuation; the method's usual abbreviations too."""

    def __init__(self, groups: list[tuple[str, str, str]] | None = None):
        rows = groups if groups is not None else [(k, fr, en) for k, (fr, en) in METHOD_GROUPS.items()]
        self.keys = frozenset(k for k, _fr, _en in rows)
        self._by_folded: dict[str, str] = {a: k for a, k in ALIASES.items() if k in self.keys}
        for key, fr, en in rows:
            for name in (en, fr, key):
                if name and fold(name):
                    self._by_folded[fold(name)] = key

    def find(self, name: str | None) -> str | None:
        if not name:
            return None
        return self._by_folded.get(fold(name))


def role_for_lane(lane_name: str | None, groups: GroupNames | None = None,
                  mapping: dict[str, str] | None = None) -> str | None:
    """The group a lane stands for: the version's lane mapping (chosen at upload), else the
    group whose key or label the lane's name is."""
    if not lane_name:
        return None
    groups = groups or GroupNames()
    for name, key in (mapping or {}).items():
        if fold(name) == fold(lane_name) and key in groups.keys:
            return key
    return groups.find(lane_name)


def stage_for_process(process_key: str, declared: str | None = None) -> str | None:
    """The method stage a process belongs to: declared, or read from a `stage_<x>` id."""
    if declared and declared in STAGES:
        return declared
    if process_key.startswith("stage_") and process_key[6:] in STAGES:
        return process_key[6:]
    if process_key == "programme_period":
        return "realisation"
    return None


# --- At deploy: every user and manual task must be offered to someone.

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
    tasks: tuple[str, ...]  # the ids of its user and manual tasks
    task_names: tuple[str, ...] = ()  # the same tasks by their names (their ids if unnamed)


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
    task_names: dict[str, str] = {}
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
                problems.append(Problem.of(
                    filename, N_("le groupe candidat « %(group)s » n’est pas un groupe"),
                    element_id=tid, hint=N_("utilisez l’un de : %(keys)s"), group=group, keys=keys))
        for user in users:
            if not (VARIABLE.match(user) or USERNAME.match(user)):
                problems.append(Problem.of(
                    filename, N_("l’utilisateur candidat « %(user)s » n’est ni un nom d’utilisateur "
                                 "ni ${variable}"), element_id=tid, user=user,
                    hint=N_("écrivez des noms d’utilisateur séparés par des virgules, ou "
                            "${variable}")))
        if assignee and not (VARIABLE.match(assignee) or USERNAME.match(assignee)):
            problems.append(Problem.of(
                filename, N_("l’attributaire « %(assignee)s » n’est ni un nom d’utilisateur ni "
                             "${variable}"), element_id=tid, assignee=assignee,
                hint=N_("écrivez un nom d’utilisateur, ou ${delegate} pour lire une variable")))
        lane_group = None
        if lane is not None:
            lane_group = role_for_lane(_lane_name(lane), names, mapping)
            if lane_group is None:
                unmapped.setdefault(lane.get("id"), []).append(tid)
                task_names[tid] = task.get("name") or tid
                lane_elements[lane.get("id")] = lane
                continue
        if not (groups or users or assignee or lane_group):
            message = (N_("la tâche manuelle « %(name)s » n’est proposée à personne : elle n’est "
                          "dans aucun couloir et ne désigne ni groupe candidat, ni utilisateur "
                          "candidat, ni attributaire")
                       if etree.QName(task).localname == "manualTask"
                       else N_("la tâche utilisateur « %(name)s » n’est proposée à personne : elle "
                               "n’est dans aucun couloir et ne désigne ni groupe candidat, ni "
                               "utilisateur candidat, ni attributaire"))
            problems.append(Problem.of(
                filename, message, element_id=tid, name=task.get("name") or tid, keys=keys,
                hint=N_("placez-la dans un couloir nommé d’après un groupe (%(keys)s), ou "
                        "renseignez des groupes candidats, des utilisateurs candidats ou un "
                        "attributaire")))
    lanes_left = []
    for lane_id, tasks in unmapped.items():
        lane = lane_elements[lane_id]
        name = _lane_name(lane)
        problems.append(Problem.of(
            filename, N_("le couloir « %(name)s » n’est pas un groupe"), element_id=lane_id,
            name=name, keys=keys,
            hint=N_("nommez le couloir d’après un groupe (%(keys)s), ou associez-le à un groupe "
                    "au dépôt du fichier")))
        lanes_left.append(UnmappedLane(filename, process.get("id"), lane_id, name, tuple(tasks),
                                       tuple(task_names[t] for t in tasks)))
    return problems, lanes_left


def check_mapping(mapping: dict[str, str], names: GroupNames) -> list[Problem]:
    """A lane mapping names groups that exist."""
    return [Problem.of("(couloirs)", N_("le couloir « %(lane)s » est associé à « %(group)s », qui "
                                        "n’est pas un groupe"),
                       hint=N_("choisissez l’un de : %(keys)s"), lane=lane, group=group,
                       keys=", ".join(sorted(names.keys)))
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


# --- Who gets a user task, and by when: lanes, candidate groups and users, assignee and due date.

VARIABLE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")
DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                      r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


@dataclass(frozen=True)
class Assignment:
    role: str | None
    candidate_groups: tuple[str, ...]
    assignee: str | None
    due_at: datetime | None
    candidate_users: tuple[str, ...] = ()


def _resolve(value: str | None, data: dict):
    if not value:
        return None
    match = VARIABLE.match(value)
    if match:
        return data.get(match.group(1))
    return value


def parse_due(value, created: datetime) -> datetime | None:
    """An ISO duration from `created`, an ISO date (end of that day, UTC) or date-time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59), UTC)
    text = str(value).strip()
    match = DURATION.match(text)
    if match and text != "P":
        years, months, weeks, days, hours, minutes, seconds = (float(g) if g else 0 for g in match.groups())
        return created + timedelta(days=days + weeks * 7 + months * 30 + years * 365,
                                   hours=hours, minutes=minutes, seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if len(text) == 10:
        moment = datetime.combine(moment.date(), time(23, 59))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def resolve_groups(*, lane: str | None, candidate_groups: tuple[str, ...], names: GroupNames,
                   mapping: dict[str, str] | None = None) -> tuple[str, ...]:
    """The group keys a task is offered to: its candidate groups (by key or label), else
    its lane's group (the version's lane mapping first). A name no group has stays as
    written (deploy refuses such diagrams; an older version keeps offering to that name)."""
    if candidate_groups:
        return tuple(dict.fromkeys(names.find(g) or g for g in candidate_groups))
    group = role_for_lane(lane, names, mapping)
    return (group,) if group else ()


def _names(values: tuple[str, ...], data: dict) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        resolved = _resolve(value, data)
        items = resolved if isinstance(resolved, (list, tuple)) else str(resolved or "").split(",")
        found.extend(str(item).strip() for item in items if str(item).strip())
    return tuple(dict.fromkeys(found))


def assign(meta, *, data: dict, created: datetime) -> Assignment:
    """Apply the modelling conventions to one new user or manual task (`meta`: its
    UserTaskMeta with resolved groups, or None)."""
    if meta is None:
        return Assignment(None, (), None, None)
    groups = tuple(meta.groups)
    role = meta.lane_group or (groups[0] if groups else None)
    user = _resolve(meta.assignee, data)  # e.g. camunda:assignee="${delegate}" on the diagram
    if user is not None and not isinstance(user, str):
        user = str(user)
    due = parse_due(_resolve(meta.due_date, data), created)
    return Assignment(role, groups, user or None, due, _names(meta.candidate_users, data))
