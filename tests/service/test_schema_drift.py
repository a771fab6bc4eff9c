"""The migrations build exactly the tables the models describe: Alembic's autogenerate finds nothing to add,
drop or change after ``upgrade head`` (the indexer's own tables, created by the library, aside)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from kudos_service.core.db import Database
from kudos_service.models import Base


def test_upgrade_head_matches_the_models(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'kudos.db'}")
    db.migrate()
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, type_, _parent: type_ != "table" or name in Base.metadata.tables,
                },
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        db.dispose()
    assert differences == []
