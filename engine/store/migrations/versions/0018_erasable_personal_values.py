"""personal values of audit events hashed as salted commitments, erasable; the last
verification of each chain

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event') as batch:
        batch.add_column(sa.Column('commitments', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
    op.create_table(
        'audit_personal',
        sa.Column('chain', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('path', sa.String(length=300), nullable=False),
        sa.Column('salt', sa.String(length=32), nullable=True),
        sa.Column('lookup', sa.String(length=64), nullable=True),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('chain', 'seq', 'path'),
    )
    op.create_index('ix_audit_personal_lookup', 'audit_personal', ['lookup'])
    op.create_table(
        'audit_verification',
        sa.Column('chain', sa.String(length=40), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('verified_by', sa.String(length=80), nullable=True),
        sa.Column('last_seq', sa.BigInteger(), nullable=False),
        sa.Column('intact', sa.Boolean(), nullable=False),
        sa.Column('first_break_seq', sa.BigInteger(), nullable=True),
        sa.Column('problem', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('chain'),
    )


def downgrade() -> None:
    op.drop_table('audit_verification')
    op.drop_index('ix_audit_personal_lookup', table_name='audit_personal')
    op.drop_table('audit_personal')
    with op.batch_alter_table('audit_event') as batch:
        batch.drop_column('commitments')
