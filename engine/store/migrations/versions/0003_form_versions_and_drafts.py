"""form versions, drafts, and the inbox sort column

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sort_due', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE human_task SET sort_due = COALESCE(due_at, '9999-12-31 00:00:00+00:00')")
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.alter_column('sort_due', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_index('ix_human_task_assignee_state')
        batch_op.drop_index('ix_human_task_role_state')
        batch_op.create_index('ix_human_task_inbox_role', ['state', 'role', 'sort_due', 'id'], unique=False)
        batch_op.create_index('ix_human_task_inbox_assignee', ['assignee', 'state', 'sort_due', 'id'],
                              unique=False)
        batch_op.create_index('ix_human_task_inbox_count',
                              ['state', 'role', 'assignee', 'claimed_by', 'partnership_id'], unique=False)
    
    op.create_table('form_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('form_key', sa.String(length=120), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('schema', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('saved_by', sa.String(length=80), nullable=True),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('form_key', 'version')
    )
    with op.batch_alter_table('form_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_version_form_key'), ['form_key'], unique=False)

    op.create_table('process_draft',
    sa.Column('process_key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=4), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('saved_by', sa.String(length=80), nullable=True),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('process_key')
    )
    


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_inbox_count')
        batch_op.drop_index('ix_human_task_inbox_assignee')
        batch_op.drop_index('ix_human_task_inbox_role')
        batch_op.create_index('ix_human_task_role_state', ['role', 'state'], unique=False)
        batch_op.create_index('ix_human_task_assignee_state', ['assignee', 'state'], unique=False)
        batch_op.drop_column('sort_due')
    
    op.drop_table('process_draft')
    with op.batch_alter_table('form_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_version_form_key'))

    op.drop_table('form_version')
    
