"""Alembic environment: migrations run by the service at start (``kudos_service.core.db.migrate``)."""

from __future__ import annotations

from alembic import context
from kudos_service.models import Base
from sqlalchemy import engine_from_config, pool

from kudos_chain.indexer import metadata as index_metadata

config = context.config
target_metadata = [Base.metadata, index_metadata]


def run_migrations() -> None:
    """Run the migrations on the connection the caller passed, or on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
