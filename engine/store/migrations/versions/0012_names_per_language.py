"""element names per language: a version's catalogue, a task's English title, an instance's
English label

A deployed version keeps the names of its elements in each language (`process_version.names`:
element id -> {"fr": name, "en": the camunda:property name_en}, read from its file at deploy);
a task keeps its English title beside the French one, an instance its English label. Versions
deployed before get their French names from their file; they have no English ones.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""
import sqlalchemy as sa
from alembic import op
from lxml import etree
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def _french_names(source: str) -> dict:
    """The names of a stored BPMN file's elements (the same reading as deploy's, frozen here)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(source.encode("utf-8"), parser=parser)
    except etree.XMLSyntaxError:
        return {}
    names = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN:
            continue
        if element.get("id") and (element.get("name") or "").strip():
            names[element.get("id")] = {"fr": element.get("name").strip()}
    return names


def upgrade() -> None:
    with op.batch_alter_table('process_version') as batch_op:
        batch_op.add_column(sa.Column('names', JSON, server_default='{}', nullable=False))
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.add_column(sa.Column('title_en', sa.String(length=300), nullable=True))
    with op.batch_alter_table('process_instance') as batch_op:
        batch_op.add_column(sa.Column('label_en', sa.String(length=200), nullable=True))
    versions = sa.table('process_version', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                        sa.column('source', sa.Text), sa.column('names', JSON))
    conn = op.get_bind()
    for version_id, source in conn.execute(sa.select(versions.c.id, versions.c.source)
                                           .where(versions.c.kind == 'bpmn')).all():
        conn.execute(versions.update().where(versions.c.id == version_id)
                     .values(names=_french_names(source)))


def downgrade() -> None:
    with op.batch_alter_table('process_instance') as batch_op:
        batch_op.drop_column('label_en')
    with op.batch_alter_table('human_task') as batch_op:
        batch_op.drop_column('title_en')
    with op.batch_alter_table('process_version') as batch_op:
        batch_op.drop_column('names')
