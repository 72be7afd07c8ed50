"""the dashboard's figures kept as tasks are completed: task_duration and its per-stage
histogram task_duration_bucket (the time per stage), evaluation_date (the dates of each
partnership's latest action sheets), partnership_objective (the plan objective each idea
names); filled from the tasks completed and the instances started; the open tasks by form
and by due date indexed

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""
import math
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
# the rules of engine/method/figures.py at this revision (a migration does not follow later
# changes of the code): buckets 10 % wide from one minute; the dates the sheets give
SHEET_DATES = {"intermediate_evaluation_date": "intermediate", "final_evaluation_date": "final"}


def _bucket(days: float) -> int:
    minutes = days * 1440
    return 0 if minutes < 1 else 1 + int(math.log(minutes) / math.log(1.1))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def upgrade() -> None:
    durations = op.create_table(
        'task_duration',
        sa.Column('task_id', BigId, nullable=False),
        sa.Column('partnership_id', sa.Integer(), nullable=False),
        sa.Column('stage', sa.String(length=40), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('days', sa.Float(), nullable=False),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['partnership_id'], ['partnership.id']),
        sa.PrimaryKeyConstraint('task_id'),
    )
    op.create_index('ix_task_duration_rank', 'task_duration',
                    ['stage', 'bucket', 'days', 'task_id', 'completed_at'])
    op.create_index('ix_task_duration_completed_at', 'task_duration', ['completed_at'])
    buckets = op.create_table(
        'task_duration_bucket',
        sa.Column('stage', sa.String(length=40), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('tasks', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('stage', 'bucket'),
    )
    dates = op.create_table(
        'evaluation_date',
        sa.Column('id', BigId, nullable=False),
        sa.Column('partnership_id', sa.Integer(), nullable=False),
        sa.Column('task_id', BigId, nullable=False),
        sa.Column('which', sa.String(length=12), nullable=False),
        sa.Column('due', sa.Date(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['partnership_id'], ['partnership.id']),
        sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_evaluation_date_due', 'evaluation_date', ['due', 'partnership_id'])
    op.create_index('ix_evaluation_date_partnership_id', 'evaluation_date', ['partnership_id'])
    objectives = op.create_table(
        'partnership_objective',
        sa.Column('partnership_id', sa.Integer(), nullable=False),
        sa.Column('objective', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['partnership_id'], ['partnership.id']),
        sa.PrimaryKeyConstraint('partnership_id'),
    )
    op.create_index('ix_partnership_objective', 'partnership_objective',
                    ['objective', 'partnership_id'])
    op.create_index('ix_human_task_form_due', 'human_task', ['form_key', 'state', 'sort_due'])
    op.create_index('ix_human_task_state_due_role', 'human_task', ['state', 'sort_due', 'role'])
    op.create_index('ix_partnership_status_stage', 'partnership', ['status', 'stage'])
    _fill(durations, buckets, dates)
    _fill_objectives(objectives)


def _fill_objectives(objectives) -> None:
    """The objective of the latest start of each partnership that names one, from the audit
    trail (the starts' data)."""
    bind = op.get_bind()
    event = sa.table('audit_event', sa.column('id'), sa.column('partnership_id'),
                     sa.column('type'), sa.column('payload', sa.JSON()))
    named = {}
    for pid, payload in bind.execute(sa.select(event.c.partnership_id, event.c.payload).where(
            event.c.type == 'instance_started', event.c.partnership_id.is_not(None))
            .order_by(event.c.id)):
        data = payload.get("data") if isinstance(payload, dict) else None
        value = data.get("plan_objective") if isinstance(data, dict) else None
        if value not in (None, ""):
            named[pid] = str(value)[:200]
    if named:
        op.bulk_insert(objectives, [{"partnership_id": p, "objective": o} for p, o in named.items()])


def _fill(durations, buckets, dates) -> None:
    bind = op.get_bind()
    task = sa.table('human_task', sa.column('id'), sa.column('partnership_id'), sa.column('stage'),
                    sa.column('state'), sa.column('form_key'),
                    # typed: SQLite hands untyped moments back as text
                    sa.column('created_at', sa.DateTime(timezone=True)),
                    sa.column('completed_at', sa.DateTime(timezone=True)),
                    sa.column('result', sa.JSON()))
    since = datetime.now(UTC) - timedelta(days=365)
    rows, counts = [], {}
    for tid, pid, stage, created, completed in bind.execute(
            sa.select(task.c.id, task.c.partnership_id, task.c.stage, task.c.created_at,
                      task.c.completed_at)
            .where(task.c.state == 'completed', task.c.stage.is_not(None),
                   task.c.completed_at >= since)):
        days = (_utc(completed) - _utc(created)).total_seconds() / 86400.0
        rows.append({"task_id": tid, "partnership_id": pid, "stage": stage,
                     "bucket": _bucket(days), "days": days, "completed_at": completed})
        counts[(stage, _bucket(days))] = counts.get((stage, _bucket(days)), 0) + 1
    if rows:
        op.bulk_insert(durations, rows)
        op.bulk_insert(buckets, [{"stage": s, "bucket": b, "tasks": n} for (s, b), n in counts.items()])
    latest = (sa.select(sa.func.max(task.c.id))
              .where(task.c.form_key == 'action_sheets', task.c.state == 'completed')
              .group_by(task.c.partnership_id))
    found = []
    for tid, pid, result in bind.execute(sa.select(task.c.id, task.c.partnership_id, task.c.result)
                                         .where(task.c.id.in_(latest))):
        sheets = result.get("action_sheets") if isinstance(result, dict) else None
        for sheet in sheets if isinstance(sheets, list) else ():
            if not isinstance(sheet, dict):
                continue
            title = str(sheet.get("title") or sheet.get("number") or "")[:300]
            for field, which in SHEET_DATES.items():
                value = sheet.get(field)
                if isinstance(value, str) and len(value) == 10:
                    try:
                        day = date.fromisoformat(value)
                    except ValueError:
                        continue
                    found.append({"partnership_id": pid, "task_id": tid, "which": which,
                                  "due": day, "title": title})
    if found:
        op.bulk_insert(dates, found)


def downgrade() -> None:
    op.drop_index('ix_partnership_status_stage', table_name='partnership')
    op.drop_index('ix_human_task_state_due_role', table_name='human_task')
    op.drop_index('ix_human_task_form_due', table_name='human_task')
    op.drop_index('ix_partnership_objective', table_name='partnership_objective')
    op.drop_table('partnership_objective')
    op.drop_index('ix_evaluation_date_partnership_id', table_name='evaluation_date')
    op.drop_index('ix_evaluation_date_due', table_name='evaluation_date')
    op.drop_table('evaluation_date')
    op.drop_table('task_duration_bucket')
    op.drop_index('ix_task_duration_completed_at', table_name='task_duration')
    op.drop_index('ix_task_duration_rank', table_name='task_duration')
    op.drop_table('task_duration')
