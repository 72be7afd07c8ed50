"""The roles of the method, and how lanes name them."""

from __future__ import annotations

import unicodedata

ROLES: dict[str, str] = {
    "direction": "Direction",
    "delegate": "Délégué(e) aux échanges",
    "professional": "Professionnel(le)",
    "partner": "Partenaire",
    "board": "Conseil d'administration",
    "steering": "Comité de pilotage",
    "designer": "Concepteur des processus",
    "admin": "Administrateur",
    "auditor": "Auditeur",
}

STAGES: dict[str, str] = {
    "idea": "L'idée première",
    "elaboration": "L'élaboration",
    "negotiation": "La négociation",
    "action_sheets": "L'écriture de fiches action",
    "realisation": "La réalisation",
    "evaluation": "L'évaluation",
}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


_BY_FOLDED = {_fold(k): k for k in ROLES} | {_fold(v): k for k, v in ROLES.items()}
_BY_FOLDED.update({_fold("Délégué"): "delegate", _fold("Déléguée"): "delegate",
                   _fold("Délégué aux échanges"): "delegate", _fold("Professionnel"): "professional",
                   _fold("Conseil d'administration (CA)"): "board", _fold("COPIL"): "steering"})


def role_for_lane(lane_name: str | None) -> str | None:
    """The role key a lane's name stands for, ignoring case, accents and punctuation."""
    if not lane_name:
        return None
    return _BY_FOLDED.get(_fold(lane_name))


def stage_for_process(process_key: str, declared: str | None = None) -> str | None:
    """The method stage a process belongs to: declared, or read from a `stage_<x>` id."""
    if declared and declared in STAGES:
        return declared
    if process_key.startswith("stage_") and process_key[6:] in STAGES:
        return process_key[6:]
    if process_key == "programme_period":
        return "realisation"
    return None
