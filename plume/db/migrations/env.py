"""Alembic environment: run by `Database.upgrade()` with an open connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from plume.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` run by hand: the URL from the settings
    from plume.db import normalise_url
    from plume.settings import Settings

    engine = create_engine(normalise_url(Settings().records_url))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
