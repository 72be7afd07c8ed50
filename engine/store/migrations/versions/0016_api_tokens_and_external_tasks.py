"""API tokens, OAuth2 clients and external tasks

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'oauth_client',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('client_id', sa.String(64), nullable=False, unique=True),
        sa.Column('name', sa.String(120), nullable=False),
        sa.Column('secret_hash', sa.String(64), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('scope', sa.String(10), nullable=False),
        sa.Column('created_by', sa.String(80)),
        sa.Column('created_at', When, nullable=False),
        sa.Column('revoked_at', When),
    )
    op.create_table(
        'api_token',
        sa.Column('id', BigId, primary_key=True),
        sa.Column('token_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('prefix', sa.String(16), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('app_user.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('client_id', sa.Integer(), sa.ForeignKey('oauth_client.id', ondelete='CASCADE')),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('name', sa.String(120), nullable=False),
        sa.Column('scope', sa.String(10), nullable=False),
        sa.Column('created_at', When, nullable=False),
        sa.Column('expires_at', When, nullable=False),
        sa.Column('last_used_at', When),
        sa.Column('revoked_at', When),
    )
    op.create_index('ix_api_token_user_id', 'api_token', ['user_id'])
    op.create_table(
        'external_task',
        sa.Column('id', BigId, primary_key=True),
        sa.Column('instance_id', sa.Integer(),
                  sa.ForeignKey('process_instance.id', ondelete='CASCADE'), nullable=False),
        sa.Column('partnership_id', sa.Integer(), sa.ForeignKey('partnership.id'), nullable=False),
        sa.Column('task_uuid', sa.String(36), nullable=False),
        sa.Column('element_id', sa.String(200), nullable=False),
        sa.Column('element_name', sa.String(300), nullable=False),
        sa.Column('process_key', sa.String(200), nullable=False),
        sa.Column('topic', sa.String(200), nullable=False),
        sa.Column('variables', Json, nullable=False),
        sa.Column('state', sa.String(12), nullable=False),
        sa.Column('worker_id', sa.String(200)),
        sa.Column('lock_expires_at', When),
        sa.Column('retries', sa.Integer()),
        sa.Column('retry_at', When),
        sa.Column('error_message', sa.Text()),
        sa.Column('error_details', sa.Text()),
        sa.Column('created_at', When, nullable=False),
        sa.Column('completed_at', When),
    )
    op.create_index('ix_external_task_instance_id', 'external_task', ['instance_id'])
    op.create_index('ix_external_task_partnership_id', 'external_task', ['partnership_id'])
    op.create_index('ix_external_task_fetch', 'external_task', ['state', 'topic'])
    groups = sa.table('app_group', sa.column('key', sa.String), sa.column('label_fr', sa.String),
                      sa.column('label_en', sa.String))
    op.bulk_insert(groups, [{'key': 'worker', 'label_fr': 'Travailleur externe',
                             'label_en': 'External worker'}])


def downgrade() -> None:
    op.execute("DELETE FROM group_member WHERE group_key = 'worker'")
    op.execute("DELETE FROM app_group WHERE key = 'worker'")
    op.drop_table('external_task')
    op.drop_table('api_token')
    op.drop_table('oauth_client')
