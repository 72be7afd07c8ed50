"""new tasks announced by the worker: human_task.announced and its partial index

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the tasks that exist were announced when they opened
    with op.batch_alter_table('human_task') as batch:
        batch.add_column(sa.Column('announced', sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
    with op.batch_alter_table('human_task') as batch:
        batch.alter_column('announced', server_default=sa.false())
    op.create_index('ix_human_task_unannounced', 'human_task', ['id'],
                    sqlite_where=sa.text('announced = 0'), postgresql_where=sa.text('NOT announced'))


def downgrade() -> None:
    op.drop_index('ix_human_task_unannounced', table_name='human_task')
    with op.batch_alter_table('human_task') as batch:
        batch.drop_column('announced')
