"""The records the engine keeps, as SQLAlchemy 2.0 typed mappings."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite integer primary keys must be INTEGER to autoincrement; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


TERM_TYPE = String(40).with_variant(String(40, collation="C"), "postgresql")
NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict: JsonType}


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60), default="association")
    siret: Mapped[str | None] = mapped_column(String(14))
    finess: Mapped[str | None] = mapped_column(String(9))
    address: Mapped[str | None] = mapped_column(Text)
    contacts: Mapped[str | None] = mapped_column(Text)
    is_own: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # our organisation's délégation (CASF D312-176-5): what the director may commit alone,
    # set once by the direction, read by the negotiation before the formalisation criteria
    delegated_ceiling_eur: Mapped[int | None] = mapped_column(Integer)
    delegation_date: Mapped[date | None] = mapped_column(Date)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    # kept in the signed session at sign-in; signing out or changing the password moves it
    # on, and a session carrying an older value no longer signs anyone in
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    groups: Mapped[list[Group]] = relationship(
        secondary="group_member", lazy="selectin", order_by="Group.key"
    )

    @property
    def role_keys(self) -> set[str]:
        """The keys of the groups this user is a member of."""
        return {g.key for g in self.groups}


class Group(Base):
    """A group of people tasks are offered to: the method's nine roles (seeded) and the
    organisation's own; lanes and candidate groups resolve to these keys."""

    __tablename__ = "app_group"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    label_fr: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))


class GroupMember(Base):
    __tablename__ = "group_member"

    group_key: Mapped[str] = mapped_column(ForeignKey("app_group.key"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True, index=True)


class Partnership(Base):
    __tablename__ = "partnership"
    # the dashboard's count per stage reads this index alone
    __table_args__ = (Index("ix_partnership_status_stage", "status", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), default="partnership")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    stage: Mapped[str] = mapped_column(String(40), default="idea")
    formalisation_level: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]


class PartnershipMember(Base):
    """A user attached to a partnership: partner representatives see only these."""

    __tablename__ = "partnership_member"

    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), default="partner")


class CommitteeMember(Base):
    """A member of a partnership's steering committee, as the convention composes it: a
    person of either party; the steering tasks go to those who have an account."""

    __tablename__ = "committee_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    full_name: Mapped[str] = mapped_column(String(200))
    side: Mapped[str] = mapped_column(String(10))  # ours or partner
    party: Mapped[str] = mapped_column(String(200))
    function: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class PartnershipOrganisation(Base):
    __tablename__ = "partnership_organisation"

    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)


class ProcessVersion(Base):
    """One deployed version of a process or decision; its source is stored once."""

    __tablename__ = "process_version"
    __table_args__ = (
        UniqueConstraint("process_key", "version"),
        UniqueConstraint("process_key", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(120), index=True)
    kind: Mapped[str] = mapped_column(String(4))  # bpmn | dmn
    name: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(Text)
    source_hash: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    # process keys this version calls, pinned to version ids: {"stage_idea": 12, ...}
    dependencies: Mapped[dict] = mapped_column(default=dict)
    # lane name -> group key, chosen by the designer at upload for lanes that name no group
    lane_mapping: Mapped[dict] = mapped_column(default=dict, server_default="{}")
    # the names of the file's elements per language, read at deploy: element id ->
    # {"fr": its name, "en": its camunda:property name_en}; a sequence flow also has its
    # "source" and "target" (engine/runtime/names.py)
    names: Mapped[dict] = mapped_column(default=dict, server_default="{}")
    start_message: Mapped[str | None] = mapped_column(String(200))
    deployed_by: Mapped[str | None] = mapped_column(String(80))
    deployed_at: Mapped[datetime]


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (Index("ix_instance_next_timer", "status", "next_timer_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    process_key: Mapped[str] = mapped_column(String(120))
    label: Mapped[str | None] = mapped_column(String(200))
    # the label in English, when the version names its process in English
    label_en: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="running")
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    # the workflow's own state, without its tasks and without its spec
    workflow_state: Mapped[dict] = mapped_column(default=dict)
    next_timer_at: Mapped[datetime | None]
    # message names this instance's catch events wait for (routing without a restore)
    waiting_messages: Mapped[list] = mapped_column(JsonType, default=list)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_element: Mapped[str | None] = mapped_column(String(200))
    started_by: Mapped[str | None] = mapped_column(String(80))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    parent_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))

    __mapper_args__ = {"version_id_col": lock_version}


class WorkflowTask(Base):
    """One SpiffWorkflow task of an instance, stored as its own row."""

    __tablename__ = "workflow_task"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True
    )
    task_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    # "" for the top workflow, else the id of the task that owns the subprocess
    subprocess_uuid: Mapped[str] = mapped_column(String(36), default="")
    state: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)


class HumanTask(Base):
    """The inbox projection: one row per user task, written with the workflow state."""

    __tablename__ = "human_task"
    __table_args__ = (
        # the inbox reads the tasks assigned to a user as one index range in due order; the
        # offered ones are ranges of task_offer
        Index("ix_human_task_inbox_assignee", "assignee", "state", "sort_due", "id"),
        Index("ix_human_task_instance", "instance_id", "task_uuid"),
        # the opinions a user is asked for, read as one index range in due order
        Index("ix_human_task_inbox_delegate", "delegated_to", "state", "sort_due", "id"),
        # the tasks the worker has still to announce: a small partial index, empty at rest
        Index("ix_human_task_unannounced", "id", sqlite_where=text("announced = 0"),
              postgresql_where=text("NOT announced")),
        # the open tasks of a form in due order (the dashboard's evaluations due)
        Index("ix_human_task_form_due", "form_key", "state", "sort_due"),
        # the open tasks past their due date, counted by role (the dashboard)
        Index("ix_human_task_state_due_role", "state", "sort_due", "role"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), index=True)
    task_uuid: Mapped[str] = mapped_column(String(36))
    process_key: Mapped[str] = mapped_column(String(120))
    element_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    # the title in English, when the diagram gives one (camunda:property name_en or title_en)
    title_en: Mapped[str | None] = mapped_column(String(300))
    stage: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str | None] = mapped_column(String(40))
    candidate_groups: Mapped[str | None] = mapped_column(String(300))
    candidate_users: Mapped[str | None] = mapped_column(String(300))
    assignee: Mapped[str | None] = mapped_column(String(80))
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    form_key: Mapped[str | None] = mapped_column(String(120))
    due_at: Mapped[datetime | None]
    # due_at, or far in the future when there is none: tasks without a due date sort last
    sort_due: Mapped[datetime] = mapped_column(default=lambda: NO_DUE_DATE)
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="open")
    completed_by: Mapped[str | None] = mapped_column(String(80))
    completed_at: Mapped[datetime | None]
    draft: Mapped[dict | None] = mapped_column(nullable=True)
    # the task's data when it became ready, so a form page needs no workflow restore
    context: Mapped[dict] = mapped_column(default=dict)
    # what the user submitted, for the partnership pages (action sheets, evaluations)
    result: Mapped[dict | None] = mapped_column(nullable=True)
    # a schema built from camunda:formData fields when the diagram declares the form inline
    inline_schema: Mapped[dict | None] = mapped_column(nullable=True)
    overdue_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    # whether whoever may act on the task was told of it: the worker announces new tasks
    # (notifications.announce_new_tasks), so that completing a task writes no notification
    announced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the diagram's camunda:property confirm_password: completing asks for the password again
    confirm_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # who the holder asked for an opinion and has not answered yet (a TaskDelegation pending):
    # Camunda's DelegationState PENDING; the task goes back to its holder once answered
    delegated_to: Mapped[str | None] = mapped_column(String(80))
    # « relance le » : the day the holder means to chase the task up (set by its holder)
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    offers: Mapped[list[TaskOffer]] = relationship(cascade="all, delete-orphan", lazy="select",
                                                   passive_deletes=True)
    terms: Mapped[list[TaskTerm]] = relationship(cascade="all, delete-orphan", lazy="select",
                                                 passive_deletes=True)

    __mapper_args__ = {"version_id_col": row_version}


class TaskDuration(Base):
    """How long a completed task stayed open, for the dashboard's time per stage: one row per
    completed task of a stage, kept for the year the dashboard shows (engine/method/figures.py
    writes it with the completion; the worker drops the rows older than the year)."""

    __tablename__ = "task_duration"
    __table_args__ = (
        # a stage's tasks in order of time open within a bucket: the median's rank is read
        # from the bucket counts, then within one bucket; the slowest is the range's end
        Index("ix_task_duration_rank", "stage", "bucket", "days", "task_id", "completed_at"),
    )

    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("human_task.id", ondelete="CASCADE"),
                                         primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"))
    stage: Mapped[str] = mapped_column(String(40))
    bucket: Mapped[int] = mapped_column(Integer)
    days: Mapped[float] = mapped_column(Float)
    completed_at: Mapped[datetime] = mapped_column(index=True)


class TaskDurationBucket(Base):
    """How many rows of task_duration each (stage, bucket) holds: a per-stage histogram of the
    time open, buckets 10 % wide, kept with the rows."""

    __tablename__ = "task_duration_bucket"

    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    tasks: Mapped[int] = mapped_column(Integer, default=0)


class EvaluationDate(Base):
    """An evaluation date written in a partnership's latest action sheets (its latest
    completed `action_sheets` task), replaced when a newer round of sheets is completed."""

    __tablename__ = "evaluation_date"
    __table_args__ = (Index("ix_evaluation_date_due", "due", "partnership_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), index=True)
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("human_task.id", ondelete="CASCADE"))
    which: Mapped[str] = mapped_column(String(12))  # intermediate | final
    due: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(Text, default="")


class PartnershipObjective(Base):
    """The objective of the partnership plan a partnership's idea names: that of the latest
    start of one of its instances that names one (written with the start by the method)."""

    __tablename__ = "partnership_objective"
    __table_args__ = (Index("ix_partnership_objective", "objective", "partnership_id"),)

    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), primary_key=True)
    objective: Mapped[str] = mapped_column(String(200))


class TaskOffer(Base):
    """Who an open task is offered to: one row per candidate group and per candidate user,
    so the inbox reads one index range per group in due order (a task offered to two groups
    is in both ranges). Rows exist while the task is open and assigned to nobody by name;
    `sync_offers` keeps them, with the task's claim and partnership, so a range is read
    from its index alone."""

    __tablename__ = "task_offer"
    __table_args__ = (Index("ix_task_offer_range", "kind", "key", "sort_due", "task_id",
                            "claimed_by", "partnership_id"),)

    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("human_task.id", ondelete="CASCADE"),
                                         primary_key=True)
    kind: Mapped[str] = mapped_column(String(5), primary_key=True)  # group | user
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    sort_due: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    partnership_id: Mapped[int] = mapped_column(Integer)


class TaskTerm(Base):
    """The words an inbox search finds a task by (engine.runtime.search writes them with the
    projection row): its title, its partnership, the partner organisations and its variables'
    values. `audience`: `shared` when a partner representative may find the task by it,
    `internal` for the value of a variable only staff read."""

    __tablename__ = "task_term"
    # the prefix index covers the audience (a partner's search reads no table row); on SQLite
    # the rows live in the primary key's b-tree (task, word, audience: the per-task check)
    __table_args__ = (Index("ix_task_term_prefix", "term", "task_id", "audience"),
                      {"sqlite_with_rowid": False})

    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("human_task.id", ondelete="CASCADE"),
                                         primary_key=True)
    # byte order on PostgreSQL too: a prefix is searched as a range of the index
    term: Mapped[str] = mapped_column(TERM_TYPE, primary_key=True)
    audience: Mapped[str] = mapped_column(String(10), default="internal")


class SavedFilter(Base):
    """An inbox filter kept under a name: a user's own (`owner`), or shared with everyone
    (`owner` None), which the direction defines. `query` holds the inbox's parameters."""

    __tablename__ = "saved_filter"
    __table_args__ = (Index("ix_saved_filter_owner", "owner", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str | None] = mapped_column(String(120))
    query: Mapped[dict] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class InboxVersion(Base):
    """How many times what an inbox shows through one key changed: `group:<key>` (the tasks
    offered to a group), `user:<name>` (the tasks assigned to, reserved by, delegated to or
    offered by name to a user, and their own saved filters), `site` (what every inbox shows of
    others: names, groups, memberships, partnership titles, shared filters). Bumped in the
    transaction that makes the change (engine.runtime.inbox_cache); a reader's cached inbox
    holds while the versions of its keys are those it was read at."""

    __tablename__ = "inbox_version"

    key: Mapped[str] = mapped_column(String(90), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def wanted_offers(task: HumanTask) -> set[tuple[str, str]]:
    """(kind, key) pairs an open task is offered through: its candidate groups (else its
    role) and its candidate users; none once it is closed or assigned to someone by name."""
    if task.state != "open" or task.assignee:
        return set()
    groups = _split(task.candidate_groups) or ([task.role] if task.role else [])
    return {("group", g) for g in groups} | {("user", u) for u in _split(task.candidate_users)}


@event.listens_for(Session, "before_flush")
def sync_offers(session, _context, _instances) -> None:
    """Whoever opens, closes or re-offers a task, its offer rows follow in the same flush."""
    for task in [*session.new, *session.dirty]:
        if not isinstance(task, HumanTask):
            continue
        if task in session.dirty and not any(
                inspect(task).attrs[name].history.has_changes()
                for name in ("state", "role", "candidate_groups", "candidate_users", "sort_due",
                             "assignee", "claimed_by", "partnership_id")):
            continue
        fields = {"sort_due": task.sort_due or NO_DUE_DATE, "claimed_by": task.claimed_by,
                  "partnership_id": task.partnership_id}
        wanted = wanted_offers(task)
        if not wanted and task.id is not None and "offers" in inspect(task).unloaded:
            # a task leaving the inbox: its offers go with one DELETE, without reading them
            session.info.setdefault("unoffered_task_ids", set()).add(task.id)
            continue
        current = {(o.kind, o.key): o for o in task.offers}
        keep = [o for k, o in current.items() if k in wanted]
        for offer in keep:
            for name, value in fields.items():
                if getattr(offer, name) != value:
                    setattr(offer, name, value)
        task.offers = keep + [TaskOffer(kind=k, key=key, **fields)
                              for k, key in sorted(wanted - set(current))]


@event.listens_for(Session, "before_flush")
def note_closed_tasks(session, _context, _instances) -> None:
    """A task that closes leaves the inbox: its search words go (after the flush)."""
    closed = [t.id for t in session.dirty if isinstance(t, HumanTask) and t.id is not None
              and t.state != "open" and inspect(t).attrs["state"].history.has_changes()]
    if closed:
        session.info.setdefault("closed_task_ids", set()).update(closed)


@event.listens_for(Session, "after_flush")
def forget_closed_task_terms(session, _context) -> None:
    closed = session.info.pop("closed_task_ids", None)
    if closed:
        session.connection().execute(TaskTerm.__table__.delete().where(
            TaskTerm.__table__.c.task_id.in_(sorted(closed))))
    unoffered = session.info.pop("unoffered_task_ids", None)
    if unoffered:
        session.connection().execute(TaskOffer.__table__.delete().where(
            TaskOffer.__table__.c.task_id.in_(sorted(unoffered))))


class AuditChainHead(Base):
    """The last event of each audit chain: a deleted tail shows as a mismatch here."""

    __tablename__ = "audit_chain_head"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
    # HMAC-SHA256 over (chain, last_seq, last_hash) with the audit key kept outside the database
    mac: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    """Append-only; each event carries the hash of the one before it in its chain."""

    __tablename__ = "audit_event"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_partnership", "partnership_id", "id"),
        # the audit page's filters: the distinct actors and types of a chain, one entry each
        Index("ix_audit_chain_actor", "chain", "actor"),
        Index("ix_audit_chain_type", "chain", "type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(60), index=True)
    actor: Mapped[str | None] = mapped_column(String(80))
    occurred_at: Mapped[datetime]
    partnership_id: Mapped[int | None] = mapped_column(Integer)
    instance_id: Mapped[int | None] = mapped_column(Integer)
    task_uuid: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC-SHA256 over (chain, seq, hash) with the audit key; not part of the hash
    mac: Mapped[str | None] = mapped_column(String(64))
    # path -> salted commitment of each personal value (engine/audit/personal.py): the hash
    # covers these instead of the values, which can then be erased; None before they existed
    commitments: Mapped[dict | None] = mapped_column(nullable=True)


class AuditVerification(Base):
    """The last verification of one chain: when, by whom, up to which event, and its result;
    pages show it instead of verifying the whole chain on every view."""

    __tablename__ = "audit_verification"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    verified_at: Mapped[datetime]
    verified_by: Mapped[str | None] = mapped_column(String(80))
    last_seq: Mapped[int] = mapped_column(BigInteger)
    intact: Mapped[bool] = mapped_column(Boolean)
    first_break_seq: Mapped[int | None] = mapped_column(BigInteger)
    problem: Mapped[str | None] = mapped_column(Text)


class AuditPersonal(Base):
    """The salt of one personal value of an audit event, and a keyed digest to find it;
    erasing the value deletes the salt and records when."""

    __tablename__ = "audit_personal"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    salt: Mapped[str | None] = mapped_column(String(32))
    lookup: Mapped[str | None] = mapped_column(String(64), index=True)
    erased_at: Mapped[datetime | None]


class Document(Base):
    """A file in a partnership's document base, addressed by its SHA-256."""

    __tablename__ = "document"

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int | None] = mapped_column(ForeignKey("partnership.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(40), default="upload")  # upload | convention | export
    label: Mapped[str | None] = mapped_column(String(200))
    uploaded_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]


class LoginAttempt(Base):
    """Failed and successful logins, for throttling across every web process."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_user_at", "username", "at"),
                      Index("ix_login_attempt_addr_at", "remote_addr", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    success: Mapped[bool] = mapped_column(Boolean)
    # no account has this name: such failures count per address, not per name
    unknown_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # sign_in, or signature (the password typed again to sign counts as a sign-in)
    purpose: Mapped[str] = mapped_column(String(20), default="sign_in", server_default="sign_in")


class ExternalIdentity(Base):
    """An account of an OpenID Connect provider (issuer and subject) that signs in as a user."""

    __tablename__ = "external_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    linked_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class FormVersion(Base):
    """A form definition saved from the browser; the newest one wins over forms/<key>.json."""

    __tablename__ = "form_version"
    __table_args__ = (UniqueConstraint("form_key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_key: Mapped[str] = mapped_column(String(120), index=True)
    version: Mapped[int] = mapped_column(Integer)
    schema: Mapped[dict] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    saved_by: Mapped[str | None] = mapped_column(String(80))
    saved_at: Mapped[datetime]


class ProcessDraft(Base):
    """Work in progress on a diagram, saved from the modeller; never executed."""

    __tablename__ = "process_draft"

    process_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(4))
    filename: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(Text)
    saved_by: Mapped[str | None] = mapped_column(String(80))
    saved_at: Mapped[datetime]


class Signature(Base):
    """A signatory's consent to one exact document, identified by its SHA-256."""

    __tablename__ = "signature"

    id: Mapped[int] = mapped_column(primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), index=True)
    document_sha256: Mapped[str] = mapped_column(String(64), index=True)
    username: Mapped[str] = mapped_column(String(80))
    full_name: Mapped[str] = mapped_column(String(200))
    quality: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(80))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"))
    signed_at: Mapped[datetime]


class Relationship(Base):
    """A line of the organisation's map: a network, a cooperation or a partnership."""

    __tablename__ = "relationship"
    __table_args__ = (Index("ix_relationship_orgs", "organisation_id", "partner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    kind: Mapped[str] = mapped_column(String(20))  # network | cooperation | partnership
    since: Mapped[datetime | None]
    agreement: Mapped[str] = mapped_column(String(10), default="oral")  # oral | written
    convention_start: Mapped[datetime | None]
    convention_end: Mapped[datetime | None]
    renewal_date: Mapped[datetime | None]
    formalisation_level: Mapped[str | None] = mapped_column(String(2))
    referents: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    partnership_id: Mapped[int | None] = mapped_column(ForeignKey("partnership.id"))
    external_ref: Mapped[str | None] = mapped_column(String(120), index=True)
    # the SHA-256 of the convention in the partnership's document base (a process put it here)
    convention_document: Mapped[str | None] = mapped_column(String(64))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class Notification(Base):
    """Something a user should know: in the app at once, by e-mail when delivery works."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "username", "read_at"),
                      Index("ix_notification_email", "email_status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))  # task_assigned | task_overdue | escalation | reminder
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    partnership_id: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    # pending | sent | failed | skipped | digest
    email_status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class WorkerHeartbeat(Base):
    """The last round of each worker process: what /ready and the metrics read."""

    __tablename__ = "worker_heartbeat"

    worker: Mapped[str] = mapped_column(String(120), primary_key=True)  # host:pid
    beat_at: Mapped[datetime]
    round_ms: Mapped[int] = mapped_column(Integer, default=0)
    timers: Mapped[int] = mapped_column(Integer, default=0)
    emails: Mapped[int] = mapped_column(Integer, default=0)


class Incident(Base):
    """A step of an instance failed: where, why, when, and what data it had; open until the
    instance is retried, resumed from a task or cancelled."""

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_open", "resolved_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"),
                                             index=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), index=True)
    element_id: Mapped[str | None] = mapped_column(String(200))
    # engine_steps | task_completion | timer | retry | resume
    during: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(default=dict)
    actor: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    # retried | resumed | cancelled
    resolution: Mapped[str | None] = mapped_column(String(20))


class Comment(Base):
    """A message of a partnership's thread or of one of its tasks' (`task_id`): internal (staff
    only) or shared with the partner (access.comment_visibility decides)."""

    __tablename__ = "comment"
    __table_args__ = (Index("ix_comment_thread", "partnership_id", "task_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"))
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("human_task.id"))
    author: Mapped[str] = mapped_column(String(80))
    visibility: Mapped[str] = mapped_column(String(10))  # internal | shared
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class TaskDelegation(Base):
    """A task's holder asking a colleague for an opinion (Camunda's delegateTask): pending
    until the delegate answers (resolved) or the holder withdraws the question; the task
    stays its holder's, who alone completes it."""

    __tablename__ = "task_delegation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("human_task.id"), index=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"))
    owner: Mapped[str] = mapped_column(String(80))
    delegate: Mapped[str] = mapped_column(String(80))
    question: Mapped[str] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(10))  # internal | shared
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending | resolved | withdrawn
    opinion: Mapped[str | None] = mapped_column(Text)
    recommendation: Mapped[str | None] = mapped_column(String(20))
    requested_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(80))


class Absence(Base):
    """A period (calendar days in Europe/Paris, both included) during which a user's tasks
    are offered to a deputy too and their notifications copied to them."""

    __tablename__ = "absence"
    __table_args__ = (Index("ix_absence_user", "user_id", "ends_on"),
                      Index("ix_absence_deputy", "deputy_id", "ends_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    deputy_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    # ended early (or called off before it began)
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(80))


class ApiToken(Base):
    """A bearer token for the API: a personal access token a user created (kind `personal`),
    or one the token endpoint issued to an OAuth2 client (kind `client`). Only the SHA-256 of
    the token is kept: tokens are 256 random bits, so a fast hash cannot be brute-forced and
    each API call checks one with a single indexed lookup."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown on the page to recognise a token
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_client.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="personal")  # personal | client
    name: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(String(10), default="read")  # read | write
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class OAuthClient(Base):
    """Another piece of software an administrator registered: it gets tokens from the token
    endpoint with its secret (client credentials) and acts as its service account, whose
    groups the access policy reads."""

    __tablename__ = "oauth_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    secret_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(10), default="read")
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ExternalTask(Base):
    """A service task whose topic no bundled connector serves, waiting for an external worker
    (Camunda 7's external task): fetched and locked by topic, completed, failed with retries,
    or ended by a BPMN error."""

    __tablename__ = "external_task"
    __table_args__ = (Index("ix_external_task_fetch", "state", "topic"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"),
                                             index=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnership.id"), index=True)
    task_uuid: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    element_name: Mapped[str] = mapped_column(String(300))
    process_key: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    variables: Mapped[dict] = mapped_column(default=dict)  # the process data it was offered with
    # open | completed | cancelled (an incident leaves it open with no retries left)
    state: Mapped[str] = mapped_column(String(12), default="open")
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lock_expires_at: Mapped[datetime | None]
    retries: Mapped[int | None] = mapped_column(Integer)
    retry_at: Mapped[datetime | None]  # fetchable again from then (a failure's retry delay)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
