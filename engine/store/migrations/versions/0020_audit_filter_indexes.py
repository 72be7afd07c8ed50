"""the audit page's filter choices (actors, event types of a chain) read as loose index
scans: one index entry per distinct value instead of every event of the chain

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_chain_actor', 'audit_event', ['chain', 'actor'])
    op.create_index('ix_audit_chain_type', 'audit_event', ['chain', 'type'])


def downgrade() -> None:
    op.drop_index('ix_audit_chain_type', table_name='audit_event')
    op.drop_index('ix_audit_chain_actor', table_name='audit_event')
