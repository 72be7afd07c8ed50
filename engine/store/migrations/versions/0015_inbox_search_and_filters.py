"""inbox search terms per task, saved and shared inbox filters, the follow-up day of a task

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TERM = sa.String(length=40).with_variant(sa.String(length=40, collation='C'), 'postgresql')

# the shared filters the direction starts with (it edits them from the inbox)
SHARED = [
    ("Mes partenariats en retard", "My overdue partnerships", {"due": "overdue", "sort": "due"}),
    ("À relancer", "To follow up", {"follow_up": "due", "sort": "follow_up"}),
]


def upgrade() -> None:
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.add_column(sa.Column('follow_up_on', sa.Date(), nullable=True))
    op.create_table(
        'task_term',
        sa.Column('task_id', BIG_ID, nullable=False),
        sa.Column('term', TERM, nullable=False),
        sa.Column('audience', sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('task_id', 'term'),
        sqlite_with_rowid=False,
    )
    op.create_index('ix_task_term_prefix', 'task_term', ['term', 'task_id', 'audience'])
    filters = op.create_table(
        'saved_filter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner', sa.String(length=80), nullable=True),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('name_en', sa.String(length=120), nullable=True),
        sa.Column('query', sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql'),
                  nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_saved_filter_owner', 'saved_filter', ['owner', 'name'])
    now = datetime.now(UTC)
    op.bulk_insert(filters, [{"owner": None, "name": fr, "name_en": en, "query": q,
                              "created_by": "system", "created_at": now} for fr, en, q in SHARED])
    _index_open_tasks()


def _index_open_tasks() -> None:
    """The open tasks' words: title, partnership and partner organisations (shared), their
    variables' values (internal until `partnerflow reindex-search` reads the forms'
    audiences)."""
    from partnerflow.engine.store import terms as search

    bind = op.get_bind()
    tasks = sa.table('human_task', sa.column('id'), sa.column('title'), sa.column('title_en'),
                     sa.column('partnership_id'), sa.column('context'), sa.column('state'))
    partnership = sa.table('partnership', sa.column('id'), sa.column('title'))
    link = sa.table('partnership_organisation', sa.column('partnership_id'),
                    sa.column('organisation_id'))
    organisation = sa.table('organisation', sa.column('id'), sa.column('name'))
    titles = dict(bind.execute(sa.select(partnership.c.id, partnership.c.title)).all())
    names: dict[int, list[str]] = {}
    for pid, name in bind.execute(sa.select(link.c.partnership_id, organisation.c.name).join(
            organisation, organisation.c.id == link.c.organisation_id)):
        names.setdefault(pid, []).append(name)
    term = sa.table('task_term', sa.column('task_id'), sa.column('term'), sa.column('audience'))
    rows = []
    for t in bind.execute(sa.select(tasks).where(tasks.c.state == 'open')).mappings():
        words = search.task_terms(t["title"], t["title_en"], titles.get(t["partnership_id"]),
                                  names.get(t["partnership_id"], ()), {}, t["context"] or {})
        rows += [{"task_id": t["id"], "term": w, "audience": a} for w, a in words.items()]
        if len(rows) > 5000:
            bind.execute(term.insert(), rows)
            rows = []
    if rows:
        bind.execute(term.insert(), rows)


def downgrade() -> None:
    op.drop_index('ix_saved_filter_owner', table_name='saved_filter')
    op.drop_table('saved_filter')
    op.drop_index('ix_task_term_prefix', table_name='task_term')
    op.drop_table('task_term')
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.drop_column('follow_up_on')
