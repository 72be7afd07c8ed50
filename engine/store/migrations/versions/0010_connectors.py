"""connectors

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a user task that asks for the password again (camunda:property confirm_password)
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.add_column(sa.Column('confirm_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    # the convention a process put on the map (the map.update connector)
    with op.batch_alter_table('relationship') as batch_op:
        batch_op.add_column(sa.Column('convention_document', sa.String(length=64), nullable=True))
    # what the form effects did by form key is now done by the diagram's service tasks: an
    # open signature task (form key 'signature') keeps asking for the password
    op.execute("UPDATE human_task SET confirm_password = TRUE WHERE form_key = 'signature' "
               "AND state = 'open'")


def downgrade() -> None:
    with op.batch_alter_table('relationship') as batch_op:
        batch_op.drop_column('convention_document')
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.drop_column('confirm_password')
