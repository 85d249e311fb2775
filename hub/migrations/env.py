"""Alembic environment: the hub runs migrations programmatically (hub.store.migrate)."""

from alembic import context
from sqlalchemy import create_engine, pool

from hub.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    # On PostgreSQL the session runs in UTC, as the hub's own connections do (hub/store.py).
    extra = {"connect_args": {"options": "-c timezone=UTC"}} if url.startswith("postgresql") else {}
    engine = create_engine(url, poolclass=pool.NullPool, **extra)
    with engine.connect() as connection:
        # Batch mode lets ALTER TABLE steps work on SQLite as well as PostgreSQL.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
