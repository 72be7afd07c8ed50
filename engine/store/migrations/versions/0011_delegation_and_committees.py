"""the director's delegation on our organisation; each partnership's steering committee

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the délégation (CASF D312-176-5), set once for the organisation, not per partnership
    with op.batch_alter_table('organisation') as batch_op:
        batch_op.add_column(sa.Column('delegated_ceiling_eur', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('delegation_date', sa.Date(), nullable=True))
    # the joint steering committee of a partnership, members from each party
    op.create_table(
        'committee_member',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('partnership_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('full_name', sa.String(length=200), nullable=False),
        sa.Column('side', sa.String(length=10), nullable=False),
        sa.Column('party', sa.String(length=200), nullable=False),
        sa.Column('function', sa.String(length=200), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['partnership_id'], ['partnership.id']),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_committee_member_partnership_id', 'committee_member', ['partnership_id'])


def downgrade() -> None:
    op.drop_index('ix_committee_member_partnership_id', table_name='committee_member')
    op.drop_table('committee_member')
    with op.batch_alter_table('organisation') as batch_op:
        batch_op.drop_column('delegation_date')
        batch_op.drop_column('delegated_ceiling_eur')
