"""The organisation's partnership plan (plan de partenariat): the internal construction that
comes before any idea. Objectives (each with the need it answers, its deadline and its
means), the needs identified, the resistances with how each is heard and treated, the
professionals involved, built from the map, drawn up by the direction and approved by the
board, then reviewed every year (bpmn/partnership_plan.bpmn).

The plan is a process of its own, carried by a record of the partnership table of kind
`plan` (every instance belongs to one; it has no member, so no partner representative reads
it). Nothing here stores the plan: the approved plan is the data the board approved, read
from the approval task of the projection (its context), and the objective an idea serves is
the `plan_objective` answer of the idea's start form, read from the instance's start in the
audit trail. The `map.read` connector puts the map's current relationships into the
process data for the plan's form, and `plan.read` the approved plan, so that a review (or a
new plan) starts from it.

Wherever an idea's objective is shown read-only it reads as the approved plan names it
("O1 — Ouvrir l'EHPAD…", « Aucun / hors plan »); a reference the plan no longer has is
written as it is, with a note (`objective_naming`, registered with the task views).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnerflow.engine import access, audit
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import Conflict, Forbidden
from partnerflow.engine.method import registry
from partnerflow.engine.runtime import services, views
from partnerflow.engine.runtime.connectors import ConnectorContext, Input, Output, connector
from partnerflow.engine.store.models import (
    HumanTask,
    Organisation,
    Partnership,
    PartnershipObjective,
    ProcessInstance,
    ProcessVersion,
)


def N_(text: str) -> str:
    """Mark a French text for extraction (babel.cfg); the web translates it when shown."""
    return text


PLAN_PROCESS = "partnership_plan"
PLAN_FORM = "partnership_plan"
APPROVAL_FORM = "partnership_plan_approval"
PLAN_KIND = "plan"  # the kind of the partnership record that carries the plan's instances
# the idea's answer when it serves no objective of the plan (the "aucun / hors plan" choice)
NO_OBJECTIVE = "hors plan"
NO_OBJECTIVE_LABEL = N_("Aucun / hors plan")
# beside an objective an idea names that the approved plan does not have (any more)
NOT_IN_PLAN = N_("absent du plan de partenariat approuvé")
OBJECTIVE_FIELD = "plan_objective"  # the idea form's field naming the objective it serves
KINDS = (("", "Toutes"), ("network", "Réseau"), ("cooperation", "Coopération"),
         ("partnership", "Partenariat"))


# ---------------------------------------------------------------- the map, for the plan


@connector("map.read", "Lire la carte",
           "Met dans les données du processus les relations actuelles de l'organisation sur la "
           "carte (réseaux, coopérations, partenariats et leurs conventions) : un plan de "
           "partenariat se construit à partir de l'existant.",
           inputs=(Input("kind", "Type de relation", "choice", choices=KINDS,
                         help="Toutes les relations, ou un seul type."),),
           outputs=(Output("map_relationships", "Variable des relations lues",
                           "map_relationships"),
                    Output("map_read_on", "Variable de la date de lecture", "map_read_on")))
def _read_map(context: ConnectorContext, values: dict) -> dict:
    own = context.partnership.organisation_id
    return {"map_relationships": map_rows(context.session, own, values["kind"]),
            "map_read_on": as_utc(context.now()).date().isoformat()}


def map_rows(session: Session, organisation_id: int | None = None,
             kind: str | None = None) -> list[dict]:
    """The map's current (not archived) relationships of our organisation, as plain rows:
    partner, kind, agreement, level, since, convention end, renewal date, referents."""
    rows = []
    for rel, partner in registry.relationships(session, registry.MapFilter(kind=kind or None)):
        if organisation_id is not None and rel.organisation_id != organisation_id:
            continue
        row = {"partner": partner.name, "kind": rel.kind, "agreement": rel.agreement,
               "formalisation_level": rel.formalisation_level,
               "since": registry._public_value(rel.since),
               "convention_end": registry._public_value(rel.convention_end),
               "renewal_date": registry._public_value(rel.renewal_date),
               "referents": rel.referents}
        rows.append({k: v for k, v in row.items() if v not in (None, "")})
    return rows


# ---------------------------------------------------------------- the approved plan


@dataclass(frozen=True)
class Objective:
    key: str  # the plan's own reference ("O1"): what an idea names
    title: str
    need: str | None
    deadline: date | None
    means: str | None


@dataclass(frozen=True)
class ApprovedPlan:
    partnership_id: int  # the record carrying the plan's instances (its page)
    instance_id: int
    title: str
    version: int | None
    approved_at: datetime | None
    approved_by: str | None
    deliberation_date: date | None
    review_date: date | None
    objectives: tuple[Objective, ...]
    needs: tuple[dict, ...] = ()
    resistances: tuple[dict, ...] = ()
    professionals: tuple[dict, ...] = ()
    vision: str | None = None
    communication: str | None = None
    data: dict | None = None  # the plan as the board read it (every answer of its form)


def _day(value) -> date | None:
    try:
        return registry.parse_date(value)
    except ValueError:
        return None


def _objectives(rows) -> tuple[Objective, ...]:
    found: dict[str, Objective] = {}
    for row in rows or []:
        if not isinstance(row, dict):
            continue
        key = str(row.get("objective_id") or "").strip()
        if not key or key in found or key == NO_OBJECTIVE:
            continue  # a repeated reference keeps its first objective
        found[key] = Objective(key, str(row.get("objective_title") or key),
                               row.get("objective_need"), _day(row.get("objective_deadline")),
                               row.get("objective_means"))
    return tuple(found.values())


def latest_approved(session: Session) -> ApprovedPlan | None:
    """The plan the board approved last: the data its approval task was given (what the
    board read), with who approved it and when; None before any approval."""
    approvals = session.scalars(
        select(HumanTask).where(HumanTask.form_key == APPROVAL_FORM,
                                HumanTask.state == "completed")
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()))
    for task in approvals:
        result = task.result or {}
        if result.get("plan_decision") != "approve":
            continue
        data = task.context or {}
        version = data.get("plan_version")
        return ApprovedPlan(
            partnership_id=task.partnership_id, instance_id=task.instance_id,
            title=str(data.get("plan_title") or "Plan de partenariat"),
            version=version if isinstance(version, int) else None,
            approved_at=as_utc(task.completed_at) if task.completed_at else None,
            approved_by=task.completed_by,
            deliberation_date=_day(result.get("plan_deliberation_date")),
            review_date=_day(data.get("plan_review_date")),
            objectives=_objectives(data.get("plan_objectives")),
            needs=tuple(r for r in data.get("plan_needs") or [] if isinstance(r, dict)),
            resistances=tuple(r for r in data.get("plan_resistances") or [] if isinstance(r, dict)),
            professionals=tuple(r for r in data.get("plan_professionals") or []
                                if isinstance(r, dict)),
            vision=data.get("plan_vision") or None,
            communication=data.get("plan_communication") or None,
            data=data)
    return None


# what a review (or a new plan) starts from: the approved plan's answers under their names
CARRIED = (("plan_needs", "Variable des besoins repérés"),
           ("plan_objectives", "Variable des objectifs"),
           ("plan_resistances", "Variable des résistances"),
           ("plan_professionals", "Variable des professionnels impliqués"),
           ("plan_vision", "Variable des positionnements et de la vision"),
           ("plan_communication", "Variable de la communication"))


@connector("plan.read", "Reprendre le plan approuvé",
           "Met dans les données du processus le dernier plan de partenariat approuvé par le "
           "conseil d'administration (besoins, objectifs, résistances, professionnels impliqués, "
           "positionnements et vision, communication) : la tâche qui suit part de ce plan, la "
           "direction le révise au lieu de le ressaisir. Rien avant la première approbation.",
           outputs=tuple(Output(name, label, name) for name, label in CARRIED))
def _read_plan(context: ConnectorContext, values: dict) -> dict:
    approved = latest_approved(context.session)
    data = approved.data if approved is not None else {}
    return {name: data.get(name) for name, _label in CARRIED}


def objective_choices(session: Session) -> list[tuple[str, str]]:
    """The objectives of the latest approved plan as (reference, label) choices; empty
    before any approval."""
    approved = latest_approved(session)
    return [(o.key, f"{o.key} — {o.title}") for o in (approved.objectives if approved else ())]


@views.naming("plan_objective")
def objective_naming(session: Session) -> views.Naming:
    """How an idea's objective reads: « Aucun / hors plan », then each objective of the
    latest approved plan by its reference and title; any other reference is written as it
    is, noted as absent from the approved plan. The idea form offers the same choices."""
    return views.Naming({NO_OBJECTIVE: NO_OBJECTIVE_LABEL, **dict(objective_choices(session))},
                        unlisted=NOT_IN_PLAN)


def objectives_named(session: Session, partnership_id: int | None = None) -> dict[int, str]:
    """The objective each partnership's idea names (partnership id -> reference): the latest
    start that carries the answer wins (kept with the starts, `instance_started`).
    Partnerships whose idea names none are left out; `partnership_id`: that one only."""
    query = select(PartnershipObjective.partnership_id, PartnershipObjective.objective)
    if partnership_id is not None:
        query = query.where(PartnershipObjective.partnership_id == partnership_id)
    return dict(session.execute(query).all())


def instance_started(uow, event) -> None:
    """Handler of events.InstanceStarted: a start whose data names an objective makes it the
    partnership's (a later start that names none leaves it)."""
    value = (event.data or {}).get(OBJECTIVE_FIELD) if isinstance(event.data, dict) else None
    if value in (None, ""):
        return
    uow.session.merge(PartnershipObjective(partnership_id=event.instance.partnership_id,
                                           objective=str(value)[:200]))


def naming(objective: str):
    """The ids of the partnerships whose idea names `objective`, as a subquery."""
    return select(PartnershipObjective.partnership_id).where(
        PartnershipObjective.objective == objective)


def partnerships_naming(session: Session, objective: str, limit: int) -> tuple[list[Partnership], int]:
    """The partnerships (not archived) whose idea names `objective`: the first `limit` by
    title, and how many there are."""
    where = (PartnershipObjective.objective == objective, Partnership.status != "archived",
             Partnership.kind != PLAN_KIND)
    rows = list(session.scalars(
        select(Partnership).join(PartnershipObjective,
                                 PartnershipObjective.partnership_id == Partnership.id)
        .where(*where).order_by(Partnership.title, Partnership.id).limit(limit)))
    total = len(rows) if len(rows) < limit else session.scalar(
        select(func.count()).select_from(PartnershipObjective)
        .join(Partnership, Partnership.id == PartnershipObjective.partnership_id).where(*where))
    return rows, total


# ---------------------------------------------------------------- starting the plan


def carrier(session: Session) -> Partnership | None:
    """The record that carries the plan's instances, if the plan was ever started."""
    return session.scalar(select(Partnership).where(Partnership.kind == PLAN_KIND)
                          .order_by(Partnership.id.desc()).limit(1))


def running_instance(session: Session) -> ProcessInstance | None:
    """The plan's instance still running (drawn up, approved, or waiting for its review)."""
    return session.scalar(
        select(ProcessInstance).join(Partnership, Partnership.id == ProcessInstance.partnership_id)
        .where(Partnership.kind == PLAN_KIND, ProcessInstance.process_key == PLAN_PROCESS,
               ProcessInstance.status.in_(("running", "error")))
        .order_by(ProcessInstance.id.desc()).limit(1))


def start_plan(uow, *, actor: str) -> int:
    """Start the partnership plan (drawn up by the direction, approved by the board, reviewed
    every year): the map's editors (direction, administrators) may; one plan runs at a time.
    Returns the instance id."""
    session = uow.session
    user = services.get_user(session, actor)
    if not access.may(access.actor_of(session, user), "edit_map"):  # access.GRANTS
        raise Forbidden(f"{actor} may not start the partnership plan (direction or admin only)")
    if running_instance(session) is not None:
        raise Conflict("the partnership plan is already under way")
    found = carrier(session)
    if found is None:
        own_id = registry.own_organisation_id(session, actor)
        own = session.get(Organisation, own_id)
        found = Partnership(title=f"Plan de partenariat — {own.name}"[:300], kind=PLAN_KIND,
                            stage="", status="active", organisation_id=own_id, created_by=actor,
                            created_at=uow.clock())
        session.add(found)
        session.flush()
        audit.append(session, type="partnership_created", actor=actor, at=uow.clock(),
                     partnership_id=found.id, payload={"title": found.title, "kind": PLAN_KIND})
    return services.start_instance(uow, partnership_id=found.id, process_key=PLAN_PROCESS,
                                   actor=actor)


# ---------------------------------------------------------------- the demo's plan

DEMO_DIRECTION, DEMO_BOARD = "claire.martin", "anne.roux"
# which objective of the demo plan each demo idea serves (engine/method/demo_walk.py)
DEMO_IDEA_OBJECTIVES = {
    "Atelier intergénérationnel avec le lycée Jean Jaurès": "O1",
    "Ateliers mémoire avec la mairie de Bagnolet": "O1",
    "Navette solidaire avec la mairie de Bagnolet": "O1",
    "Consultations avancées du centre hospitalier à l'EHPAD": "O2",
    "Journée de prévention des chutes avec le centre hospitalier": "O2",
}


def demo_plan(today: date) -> dict:
    """The demo organisation's plan, dated from `today`."""

    def day(days: int) -> str:
        return date.fromordinal(today.toordinal() + days).isoformat()

    return {
        "plan_title": f"Plan de partenariat {today.year}-{today.year + 1}",
        "plan_period_start": today.isoformat(),
        "plan_review_date": day(365),
        "plan_needs": [
            {"need_id": "B1", "need_title": "L'isolement des résidents de l'EHPAD",
             "need_source": "Enquête de satisfaction et CVS : peu de sorties, peu de visites."},
            {"need_id": "B2", "need_title": "Des passages aux urgences évitables",
             "need_source": "Douze passages l'an dernier, dont huit sans hospitalisation."},
            {"need_id": "B3", "need_title": "L'insertion professionnelle des jeunes de l'IME",
             "need_source": "Quatre jeunes de plus de 20 ans sans solution (amendement Creton)."},
        ],
        "plan_objectives": [
            {"objective_id": "O1", "objective_title": "Ouvrir l'EHPAD sur la vie du quartier",
             "objective_need": "B1", "objective_deadline": day(450),
             "objective_means": "Une animatrice à mi-temps, le minibus, 2 000 € par an."},
            {"objective_id": "O2",
             "objective_title": "Assurer la continuité des soins avec le centre hospitalier",
             "objective_need": "B2", "objective_deadline": day(365),
             "objective_means": "Temps du médecin coordonnateur, salle de soins équipée."},
            {"objective_id": "O3",
             "objective_title": "Préparer l'insertion professionnelle des jeunes de l'IME",
             "objective_need": "B3", "objective_deadline": day(730),
             "objective_means": "Un éducateur technique, des conventions de stage."},
        ],
        "plan_resistances": [
            {"resistance_side": "internal", "resistance_from": "Équipe de nuit de l'EHPAD",
             "resistance_description": "Crainte d'une charge de travail accrue avec les "
                                       "activités ouvertes au quartier.",
             "resistance_listening": "Deux temps d'échange avec la cadre de santé.",
             "resistance_treatment": "Les activités ont lieu en journée ; un bilan à six mois.",
             "resistance_progress": "L'équipe de nuit associée au bilan."},
            {"resistance_side": "external", "resistance_from": "Familles de résidents",
             "resistance_description": "Inquiétude sur la sécurité lors des sorties.",
             "resistance_listening": "Présentation au CVS.",
             "resistance_treatment": "Un protocole de sortie écrit avec le CVS.",
             "resistance_progress": "Le protocole adopté par le CVS."},
        ],
        "plan_professionals": [
            {"professional": "karim.benali",
             "professional_contribution": "Délégué aux échanges pour les partenariats de l'EHPAD."},
            {"professional": "sophie.durand",
             "professional_contribution": "Expérimente des ateliers ouverts aux habitants."},
        ],
        "plan_vision": "Une association ouverte sur son territoire : chaque résident et chaque "
                       "jeune accompagné garde sa place dans la cité.",
        "plan_communication": "Équipes en réunion de service, CVS, CSE, conseil d'administration.",
    }


def load_demo_plan(pf) -> int | None:
    """The demo organisation's approved plan: started, drawn up by the direction and
    approved by the board, through the engine's services and each user's own inbox. Nothing
    happens when the plan exists already or its process is not deployed; returns its instance
    id when it was loaded."""
    from partnerflow.engine.runtime import queries

    with pf.read() as session:
        deployed = session.scalar(select(ProcessVersion.id).where(
            ProcessVersion.process_key == PLAN_PROCESS).limit(1))
        if carrier(session) is not None or deployed is None:
            return None
    with pf.uow() as uow:
        instance_id = start_plan(uow, actor=DEMO_DIRECTION)
    today = as_utc(pf.clock()).date()
    steps = ((DEMO_DIRECTION, "draw_up_plan", demo_plan(today)),
             (DEMO_BOARD, "approve_plan", {"plan_decision": "approve",
                                           "plan_deliberation_date": today.isoformat(),
                                           "plan_board_comment": "Approuvé à l'unanimité."}))
    for username, element_id, data in steps:
        with pf.read() as session:
            ids = [r.id for r in queries.inbox(session, username, pf.clock(),
                                               queries.InboxFilter(limit=200))]
            task_id = session.scalar(select(HumanTask.id).where(
                HumanTask.id.in_(ids or [-1]), HumanTask.instance_id == instance_id,
                HumanTask.element_id == element_id))
        if task_id is None:
            raise RuntimeError(f"demo: '{element_id}' is not in {username}'s inbox")
        with pf.uow() as uow:
            done = services.complete_task(uow, task_id=task_id, actor=username, data=data)
        if done.error:
            raise RuntimeError(f"demo: '{element_id}' failed: {done.error}")
    return instance_id
