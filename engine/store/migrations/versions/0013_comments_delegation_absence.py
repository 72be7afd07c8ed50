"""comment threads per task and per partnership; a task's opinion asked of a colleague
(delegation pending until answered); absence periods with a deputy

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # the delegate a task's holder waits for (Camunda's DelegationState PENDING)
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.add_column(sa.Column('delegated_to', sa.String(length=80), nullable=True))
        batch_op.create_index('ix_human_task_inbox_delegate',
                              ['delegated_to', 'state', 'sort_due', 'id'], unique=False)
    op.create_table(
        'comment',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('partnership_id', sa.Integer(), nullable=False),
        sa.Column('task_id', BIG_ID, nullable=True),
        sa.Column('author', sa.String(length=80), nullable=False),
        sa.Column('visibility', sa.String(length=10), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['partnership_id'], ['partnership.id']),
        sa.ForeignKeyConstraint(['task_id'], ['human_task.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_comment_thread', 'comment', ['partnership_id', 'task_id', 'id'])
    op.create_table(
        'task_delegation',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('task_id', BIG_ID, nullable=False),
        sa.Column('partnership_id', sa.Integer(), nullable=False),
        sa.Column('owner', sa.String(length=80), nullable=False),
        sa.Column('delegate', sa.String(length=80), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('visibility', sa.String(length=10), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('opinion', sa.Text(), nullable=True),
        sa.Column('recommendation', sa.String(length=20), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_by', sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(['partnership_id'], ['partnership.id']),
        sa.ForeignKeyConstraint(['task_id'], ['human_task.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_task_delegation_task_id', 'task_delegation', ['task_id'])
    op.create_table(
        'absence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('deputy_id', sa.Integer(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cancelled_by', sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['deputy_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_absence_user', 'absence', ['user_id', 'ends_on'])
    op.create_index('ix_absence_deputy', 'absence', ['deputy_id', 'ends_on'])


def downgrade() -> None:
    op.drop_index('ix_absence_deputy', table_name='absence')
    op.drop_index('ix_absence_user', table_name='absence')
    op.drop_table('absence')
    op.drop_index('ix_task_delegation_task_id', table_name='task_delegation')
    op.drop_table('task_delegation')
    op.drop_index('ix_comment_thread', table_name='comment')
    op.drop_table('comment')
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.drop_index('ix_human_task_inbox_delegate')
        batch_op.drop_column('delegated_to')
