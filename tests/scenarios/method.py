"""The method's people and a `Walk` that drives one partnership through the engine's
services the way its users would: each user only completes what their own inbox shows.
The answers they give come from tests/scenarios/samples.py."""

from __future__ import annotations

from sqlalchemy import func, select

from partnerflow.engine import audit
from partnerflow.engine.access import accounts
from partnerflow.engine.method import registry
from partnerflow.engine.runtime import documents, queries, services
from partnerflow.engine.runtime.queries import InboxFilter
from partnerflow.engine.store.models import (
    AuditEvent,
    HumanTask,
    Partnership,
    ProcessInstance,
    WorkflowTask,
)

# the people are named once, with their answers; the answers are re-exported for the scenarios
from tests.conftest import announce
from tests.scenarios.samples import (  # noqa: F401
    BOARD,
    DELEGATE,
    DIRECTION,
    HOSPITAL,
    IDEA,
    LES_TILLEULS,
    LEVEL_CASES,
    NOTHING,
    PARTNER,
    PROPOSER,
    STEERING,
    Samples,
    formalisation_inputs,
)

# ------------------------------------------------------------------ people

PEOPLE = [
    (DIRECTION, "Claire Martin", "direction"),
    (DELEGATE, "Karim Benali", "professional"),
    (PROPOSER, "Sophie Durand", "professional"),
    (PARTNER, "Paul Lefèvre", "partner"),
    (BOARD, "Anne Roux", "board"),
    (STEERING, "Lucas Moreau", "steering"),
    ("marie.lambert", "Marie Lambert", "partner"),  # partner user of another partnership
]

# The role each task of the method is offered to (from its lane).
ROLE_OF = {
    "validate_idea": "direction",
    "complete_idea": "professional",
    "write_mission_letter": "direction",
    "elaborate_partnership": "delegate",
    "partner_states_interests": "partner",
    "rework_elaboration": "delegate",
    "validate_elaboration": "direction",
    "write_draft": "delegate",
    "comment_draft": "partner",
    "validate_draft": "direction",
    "fill_formalisation_inputs": "direction",
    "reassess_formalisation_inputs": "direction",
    "record_network": "delegate",
    "upload_letter_of_intent": "delegate",
    "sign_letter_of_intent": "direction",
    "follow_up_letter_of_intent": "direction",
    "hold_final_negotiation": "direction",
    "write_convention": "delegate",
    "deliberate_board": "board",
    "sign_convention_director": "direction",
    "sign_convention_legal_representative": "board",
    "sign_convention_partner": "partner",
    "record_authority_approval": "direction",
    "write_action_sheets": "delegate",
    "validate_action_sheets": "steering",
    "partner_validate_action_sheets": "partner",
    "record_realisation": "steering",
    "plan_period": "delegate",
    "record_period_realisation": "steering",
    "review_period": "steering",
    "evaluate_intermediate": "steering",
    "partner_final_evaluation": "partner",
    "evaluate_final": "steering",
}


PASSWORD = "demo"  # the signatories' password, typed again to sign
SIGNATORIES = {DIRECTION, PARTNER, BOARD, "marie.lambert"}


DELEGATED_CEILING_EUR = 15000  # what the director may commit alone (our organisation's délégation)


def ensure_our_organisation(pf) -> int:
    """Our organisation on the map, as the demo has it (the map's relationships start from
    it), with the director's délégation the negotiation reads."""
    with pf.uow() as uow:
        ours = registry.delegation_of(uow.session)
        if ours is None:
            ours = accounts.ensure_organisation(
                uow.session, name=LES_TILLEULS["legal_name"], kind="association", is_own=True,
                siret=LES_TILLEULS["siret"], finess=LES_TILLEULS["finess"])
            ours.is_own = True
            ours.delegated_ceiling_eur = DELEGATED_CEILING_EUR
            uow.commit()
        return ours.id


def add_people(pf) -> None:
    """The demo's people (engine/demo.py), plus a partner user of another partnership, and
    our organisation with its director's délégation. Only the signatories get a password
    (hashing one costs time; nobody logs in here)."""
    ensure_our_organisation(pf)
    for username, full_name, role in PEOPLE:
        with pf.uow() as uow:
            accounts.create_user(
                uow,
                username=username,
                full_name=full_name,
                roles=[role],
                actor=None,
                password=PASSWORD if username in SIGNATORIES else None,
            )


# ------------------------------------------------------------------ realistic answers



class Walk:
    """One partnership driven through the engine by its users."""

    def __init__(self, pf, clock, partnership_id: int):
        self.pf, self.clock, self.pid = pf, clock, partnership_id
        self.samples = Samples(clock().date(), self.store)
        self.main_instance_id: int | None = None
        self.partner: str | None = PARTNER  # the partner's user attached to the partnership

    @classmethod
    def propose(
        cls,
        pf,
        clock,
        *,
        title: str = IDEA["idea_title"],
        proposer: str = PROPOSER,
        partner: str | None = PARTNER,
        idea: dict | None = None,
        partner_organisations: tuple[int, ...] = (),
    ) -> Walk:
        """The direction registers the partnership (with its partner organisations of the
        map, if given), attaches the partner's user, and a professional proposes the idea
        (the cycle's start form)."""
        ensure_our_organisation(pf)
        with pf.uow() as uow:
            pid = services.create_partnership(uow, title=title, actor=DIRECTION,
                                              partner_organisation_ids=partner_organisations)
        if partner:
            with pf.uow() as uow:
                services.attach_member(uow, partnership_id=pid, username=partner, actor=DIRECTION)
        walk = cls(pf, clock, pid)
        walk.partner = walk.samples.partner = partner
        with pf.uow() as uow:
            walk.main_instance_id = services.start_instance(
                uow,
                partnership_id=pid,
                process_key="partnership_cycle",
                actor=proposer,
                data=dict(idea or IDEA, idea_title=title),
            )
        announce(pf)
        return walk

    # --- documents
    def store(self, filename: str, content: bytes) -> str:
        with self.pf.uow() as uow:
            sha = documents.store(
                uow,
                partnership_id=self.pid,
                filename=filename,
                content=content,
                actor=DELEGATE,
                max_bytes=self.pf.settings.max_upload_bytes,
            )
            uow.commit()
        return sha

    # --- what users see
    def inbox(self, username: str) -> list[HumanTask]:
        """The user's open tasks for this partnership, as their inbox lists them."""
        with self.pf.read() as session:
            rows = queries.inbox(
                session, username, self.clock(), InboxFilter(partnership_id=self.pid, limit=200)
            )
            ids = [r.id for r in rows]
            tasks = session.scalars(select(HumanTask).where(HumanTask.id.in_(ids))).all() if ids else []
        order = {task_id: i for i, task_id in enumerate(ids)}
        return sorted(tasks, key=lambda t: order[t.id])

    def inbox_elements(self, username: str) -> list[str]:
        return sorted(t.element_id for t in self.inbox(username))

    def open_elements(self) -> list[str]:
        """Every open task of the partnership, whoever it is for."""
        with self.pf.read() as session:
            return sorted(t.element_id for t in queries.tasks_of_partnership(session, self.pid))

    def task(self, username: str, element_id: str, task_id: int | None = None) -> HumanTask:
        """The open task `element_id` in the user's inbox (`task_id` picks one of several)."""
        found = [
            t
            for t in self.inbox(username)
            if t.element_id == element_id and (task_id is None or t.id == task_id)
        ]
        assert len(found) == 1, (
            f"{element_id} is not (once) in {username}'s inbox: "
            f"{self.inbox_elements(username)}; open: {self.open_elements()}"
        )
        return found[0]

    def complete(
        self,
        username: str,
        element_id: str,
        choice: str | None = None,
        *,
        data: dict | None = None,
        task_id: int | None = None,
        **overrides,
    ) -> HumanTask:
        """Open the task in the user's inbox, fill its form with sample answers (or `data`),
        change `overrides`, submit."""
        task = self.task(username, element_id, task_id)
        if element_id in ROLE_OF:
            assert task.role == ROLE_OF[element_id], (element_id, task.role)
        if data is None:
            data = self.samples.data(element_id, choice, task.context)
        data = {**data, **overrides}
        with self.pf.uow() as uow:
            done = services.complete_task(
                uow,
                task_id=task.id,
                actor=username,
                data=data,
                password=PASSWORD if task.confirm_password else None,
            )
        assert done.error is None and done.instance_status != "error", (element_id, done.error)
        announce(self.pf)  # the worker tells whoever may act on the new tasks, between two steps
        return task

    # --- the engine's clock
    def fire_timers(self) -> int:
        with self.pf.uow() as uow:
            fired = services.fire_due_timers(uow)
        announce(self.pf)
        return fired

    # --- what the database holds
    def partnership(self) -> Partnership:
        with self.pf.read() as session:
            return session.get(Partnership, self.pid)

    def instances(self) -> list[ProcessInstance]:
        with self.pf.read() as session:
            return queries.instances_of(session, self.pid)

    def main_instance(self) -> ProcessInstance:
        with self.pf.read() as session:
            return session.get(ProcessInstance, self.main_instance_id)

    def tasks(self, element_id: str, state: str | None = "completed") -> list[HumanTask]:
        with self.pf.read() as session:
            query = select(HumanTask).where(
                HumanTask.partnership_id == self.pid, HumanTask.element_id == element_id
            )
            if state:
                query = query.where(HumanTask.state == state)
            return session.scalars(query.order_by(HumanTask.id)).all()

    def workflow_task_rows(self, instance_id: int) -> int:
        with self.pf.read() as session:
            return session.scalar(
                select(func.count()).select_from(WorkflowTask).where(WorkflowTask.instance_id == instance_id)
            )

    def events(self, *types: str) -> list[AuditEvent]:
        with self.pf.read() as session:
            query = select(AuditEvent).where(AuditEvent.partnership_id == self.pid)
            if types:
                query = query.where(AuditEvent.type.in_(types))
            return session.scalars(query.order_by(AuditEvent.seq)).all()

    def verify_audit(self) -> None:
        with self.pf.read() as session:
            breaks = audit.verify(session)
        assert breaks == [], [str(b) for b in breaks]

    # --- the stages, in the users' hands
    def accept_idea(self) -> None:
        self.complete(DIRECTION, "validate_idea", "accept")

    def elaborate(self, send_back: int = 0) -> None:
        """The mission letter, then each party in parallel: the partner states its interests,
        the delegate elaborates; the direction validates (a sent-back elaboration is reworked
        by the delegate alone)."""
        self.complete(DIRECTION, "write_mission_letter")
        if self.partner:  # with nobody attached, the partner's task waits for a contact
            self.complete(self.partner, "partner_states_interests")
        self.complete(DELEGATE, "elaborate_partnership")
        for _ in range(send_back):
            self.complete(DIRECTION, "validate_elaboration", "send_back")
            self.complete(DELEGATE, "rework_elaboration")
        self.complete(DIRECTION, "validate_elaboration", "validate")

    def draft_rounds(self, rounds: int = 1) -> None:
        for n in range(rounds):
            self.complete(DELEGATE, "write_draft")
            self.complete(PARTNER, "comment_draft")
            self.complete(DIRECTION, "validate_draft", "validate" if n == rounds - 1 else "new_version")

    def criteria(self, level: str | None = "L2", *, element_id: str = "fill_formalisation_inputs",
                 **inputs) -> None:
        """The formalisation criteria: the realistic case of `level`, or the given inputs."""
        if inputs:
            self.complete(DIRECTION, element_id, data=formalisation_inputs(**inputs))
        else:
            self.complete(DIRECTION, element_id, level)

    def sign(self, level: str = "L2") -> None:
        """One signature per party, in parallel: ours (the direction at L2, the legal
        representative from L3) and each partner party's, here all by the partner's user."""
        partner_tasks = [t.id for t in self.inbox(PARTNER) if t.element_id == "sign_convention_partner"]
        assert partner_tasks, f"no partner signature open: {self.open_elements()}"
        if level in ("L3", "L4"):
            self.complete(BOARD, "sign_convention_legal_representative")
        else:
            self.complete(DIRECTION, "sign_convention_director")
        for task_id in partner_tasks:
            self.complete(PARTNER, "sign_convention_partner", task_id=task_id)

    def conclude(self, level: str, board: str = "approve", authority: str = "approved",
                 changed: dict | None = None, **negotiation) -> str:
        """From the final negotiation to the end of the level's path. `changed`: the
        commitments changed at the final negotiation, and these are the new criteria (their
        level is then the one followed). Returns the level followed."""
        self.complete(DIRECTION, "hold_final_negotiation", commitments_changed=changed is not None,
                      **negotiation)
        if changed is not None:
            self.criteria(element_id="reassess_formalisation_inputs", **changed)
            level = self.partnership().formalisation_level
        if level == "L0":
            self.complete(DELEGATE, "record_network")
            return level
        if level == "L1":
            self.complete(DELEGATE, "upload_letter_of_intent")
            self.complete(DIRECTION, "sign_letter_of_intent")
            return level
        self.complete(DELEGATE, "write_convention")
        if level in ("L3", "L4"):
            self.complete(BOARD, "deliberate_board", board)
            if board == "refuse":
                return level
        self.sign(level)
        if level == "L4":
            self.complete(DIRECTION, "record_authority_approval", authority)
        return level

    def negotiate(self, level: str = "L2", rounds: int = 1, **options) -> str:
        """The whole negotiation: the criteria of `level`, then its path (L0: the network
        recorded, no draft; otherwise the drafts and the final negotiation)."""
        self.criteria(level)
        if level == "L0":
            self.complete(DELEGATE, "record_network")
            return level
        self.draft_rounds(rounds)
        return self.conclude(level, **options)

    def renegotiate(self, level: str, rounds: int = 1, **options) -> str:
        """After a refusal (board, authority): new draft versions, then the final negotiation;
        the criteria are not asked again unless the commitments changed."""
        self.draft_rounds(rounds)
        return self.conclude(level, **options)

    def follow_up(self, decision: str = "end") -> None:
        """L1: the direction's light follow-up of the letter of intent."""
        self.complete(DIRECTION, "follow_up_letter_of_intent", decision)

    def write_sheets(
        self, mode: str = "single_plan", sheets: list[dict] | None = None, send_back: int = 0
    ) -> None:
        for _ in range(send_back):
            self.complete(
                DELEGATE, "write_action_sheets", data=self.samples.write_action_sheets(mode, sheets=sheets)
            )
            self.complete(STEERING, "validate_action_sheets", "send_back")
            self.complete(PARTNER, "partner_validate_action_sheets", "accept")
        self.complete(
            DELEGATE, "write_action_sheets", data=self.samples.write_action_sheets(mode, sheets=sheets)
        )
        self.complete(STEERING, "validate_action_sheets", "validate")
        self.complete(PARTNER, "partner_validate_action_sheets", "accept")

    def to_negotiation(self) -> None:
        self.accept_idea()
        self.elaborate()

    def to_final_evaluation(self, level: str = "L2") -> None:
        """Single plan whose evaluation dates are already past: their timers fire as soon
        as the engine reaches them."""
        self.to_negotiation()
        self.negotiate(level)
        self.write_sheets("single_plan", [self.samples.action_sheet(1, -30, -10)])
        self.complete(STEERING, "record_realisation")
        self.complete(STEERING, "evaluate_intermediate")
        self.complete(PARTNER, "partner_final_evaluation")
        assert self.inbox_elements(STEERING) == ["evaluate_final"]
