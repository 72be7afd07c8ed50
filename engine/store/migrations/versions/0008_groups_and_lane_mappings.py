"""groups and lane mappings

The method's nine roles become rows of app_group (French and English labels) and every
user_role row a group_member row; user_role goes. A version keeps the designer's lane
mapping; an open task's candidate groups and users are offered through task_offer (one
index range per group), which replaces the role indexes of human_task.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# the method's roles as they were when this migration was written (frozen here on purpose)
METHOD_GROUPS = [
    ("direction", "Direction", "Management"),
    ("delegate", "Délégué(e) aux échanges", "Exchange delegate"),
    ("professional", "Professionnel(le)", "Professional"),
    ("partner", "Partenaire", "Partner"),
    ("board", "Conseil d'administration", "Board of directors"),
    ("steering", "Comité de pilotage", "Steering committee"),
    ("designer", "Concepteur des processus", "Process designer"),
    ("admin", "Administrateur", "Administrator"),
    ("auditor", "Auditeur", "Auditor"),
]
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    group = op.create_table('app_group',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label_fr', sa.String(length=200), nullable=False),
    sa.Column('label_en', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.bulk_insert(group, [{"key": k, "label_fr": fr, "label_en": en} for k, fr, en in METHOD_GROUPS])
    op.create_table('group_member',
    sa.Column('group_key', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_key'], ['app_group.key'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('group_key', 'user_id')
    )
    with op.batch_alter_table('group_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_member_user_id'), ['user_id'], unique=False)
    keys = ", ".join(f"'{k}'" for k, _fr, _en in METHOD_GROUPS)
    op.execute("INSERT INTO group_member (group_key, user_id) SELECT role, user_id FROM user_role "
               f"WHERE role IN ({keys})")
    op.drop_table('user_role')

    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lane_mapping', JSON, server_default='{}', nullable=False))

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('candidate_users', sa.String(length=300), nullable=True))
        batch_op.drop_index('ix_human_task_inbox_count')
        batch_op.drop_index('ix_human_task_inbox_role')
    op.create_table('task_offer',
    sa.Column('task_id', BIG_ID, nullable=False),
    sa.Column('kind', sa.String(length=5), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('sort_due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=80), nullable=True),
    sa.Column('partnership_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'kind', 'key')
    )
    with op.batch_alter_table('task_offer', schema=None) as batch_op:
        batch_op.create_index('ix_task_offer_range', ['kind', 'key', 'sort_due', 'task_id',
                                                      'claimed_by', 'partnership_id'], unique=False)
    # the offers of the open tasks assigned to nobody: their candidate groups (comma-separated)
    # else their role
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, role, candidate_groups, sort_due, claimed_by, "
                                "partnership_id FROM human_task "
                                "WHERE state = 'open' AND assignee IS NULL")).all()
    offers = []
    for task_id, role, groups, sort_due, claimed_by, partnership_id in rows:
        keys = [g.strip() for g in (groups or "").split(",") if g.strip()] or ([role] if role else [])
        offers.extend({"task_id": task_id, "kind": "group", "key": k, "sort_due": sort_due,
                       "claimed_by": claimed_by, "partnership_id": partnership_id}
                      for k in dict.fromkeys(keys))
    if offers:
        op.bulk_insert(sa.table('task_offer', sa.column('task_id', BIG_ID), sa.column('kind'),
                                sa.column('key'), sa.column('sort_due', sa.DateTime(timezone=True)),
                                sa.column('claimed_by'), sa.column('partnership_id')),
                       offers)


def downgrade() -> None:
    with op.batch_alter_table('task_offer', schema=None) as batch_op:
        batch_op.drop_index('ix_task_offer_range')
    op.drop_table('task_offer')
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_inbox_role', ['state', 'role', 'sort_due', 'id'], unique=False)
        batch_op.create_index('ix_human_task_inbox_count',
                              ['state', 'role', 'assignee', 'claimed_by', 'partnership_id'], unique=False)
        batch_op.drop_column('candidate_users')
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.drop_column('lane_mapping')
    op.create_table('user_role',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('user_id', 'role')
    )
    op.execute("INSERT INTO user_role (user_id, role) SELECT user_id, group_key FROM group_member")
    with op.batch_alter_table('group_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_member_user_id'))
    op.drop_table('group_member')
    op.drop_table('app_group')
