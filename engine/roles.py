"""The roles of the method, and how lanes name them."""

from __future__ import annotations

import unicodedata

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
