"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from partnerflow.engine.store import current
from partnerflow.engine.store.models import Base


def test_the_migrated_database_matches_the_models(pf, database_url):
    with pf.db.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []
    assert current(database_url) is not None
