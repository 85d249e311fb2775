"""The schema comes from Alembic migrations, and they agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from hub.models import Base
from hub.store import alembic_config, migrate


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_empty_database_to_head_matches_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    assert _tables(url) == set(Base.metadata.tables)
    engine = create_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_downgrade_one_step_and_up_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    from alembic import command

    command.downgrade(alembic_config(url), "-1")
    engine = create_engine(url)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == previous
    engine.dispose()
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
    engine.dispose()
    assert _tables(url) == set(Base.metadata.tables)


def test_every_migration_downgrades_to_base_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    migrate(url, "head")  # a second upgrade is a no-op
    from alembic import command

    command.downgrade(alembic_config(url), "base")
    assert _tables(url) == set()
    migrate(url)
    assert _tables(url) == set(Base.metadata.tables)


def test_the_counter_rows_exist_after_migrating(tmp_path):
    """The first bump of each counter is an UPDATE, so two processes cannot both INSERT it."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    with create_engine(url).connect() as connection:
        rows = dict(connection.execute(text("SELECT name, value FROM counters")).all())
    # "audit" serialises the audit log's hash chain (migration 0007).
    assert rows == {"schedule": 0, "devices": 0, "audit": 0}
    migrate(url)  # again: nothing doubled
    with create_engine(url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM counters")).scalar() == 3


def test_the_audit_entries_before_the_chain_are_chained_by_its_migration(tmp_path):
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from hub import audit_chain

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url, "0006")
    engine = create_engine(url)
    with engine.begin() as connection:
        for n in range(5):
            connection.execute(text(
                "INSERT INTO audit_events (at, actor, action, object_type, object_id, detail) "
                "VALUES (:at, NULL, 'create', 'commune', :oid, :detail)"),
                {"at": f"2026-11-0{n + 1} 08:00:00.000000", "oid": f"C{n}", "detail": '{"name": "Xã ' + str(n) + '"}'})
    migrate(url)
    with Session(engine) as session:
        count, broken = audit_chain.verify(session)
    assert (count, broken) == (5, None)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET object_id = 'C9' WHERE object_id = 'C2'"))
    with Session(engine) as session:
        assert audit_chain.verify(session)[1].entry_id == 3
