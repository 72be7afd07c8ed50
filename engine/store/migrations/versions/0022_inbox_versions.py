"""the version of what each inbox key shows (a group's offers, a user's tasks, the site):
a reader's cached inbox is valid while its keys keep their versions

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbox_version',
        sa.Column('key', sa.String(length=90), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('inbox_version')
