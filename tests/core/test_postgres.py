"""The store on both lanes where they differ (issue 13): job claims by several processes, times in UTC,
URL spellings. PostgreSQL-only tests take the `pg_database` fixture and run on the PostgreSQL lane."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from hub import hookimpl
from hub.app import create_app
from hub.models import AuditEvent, Job
from hub.plugin_types import RenderedMedia, Renderer
from hub.plugins import make_plugin_manager
from hub.store import Store, normalise_url
from tests.conftest import People, bulletin_payload


class Tiny:
    @hookimpl
    def hub_register_renderers(self):
        return [Renderer(name="tiny", channel="speaker", render=lambda ctx: [
            RenderedMedia(kind="audio", mime="audio/mpeg", data=ctx.bulletin.content_hash.encode())])]


def _client(settings) -> TestClient:
    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"]})
    pm = make_plugin_manager(local)
    pm.register(Tiny(), name="tiny")
    return TestClient(create_app(local, pm=pm))


def _queue(client: TestClient, n: int) -> None:
    people = People(client.app.state.hub)
    people.commune("X1")
    author, approver = people.user("a", "editor"), people.user("b", "editor")
    for i in range(n):
        bid = client.post("/api/v1/bulletins", json=bulletin_payload(title=f"Tin {i}", targets=["X1"]),
                          headers=author).json()["id"]
        assert client.post(f"/api/v1/bulletins/{bid}/submit", headers=author).status_code == 200
        assert client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver).status_code == 200


def test_two_hubs_on_one_database_never_claim_a_job_twice(settings):
    """Two hubs (two engines, as two processes have) and four threads claim at once: every job once."""
    with _client(settings) as one, _client(settings) as two:
        _queue(one, 10)
        pipelines = [one.app.state.hub.pipeline, two.app.state.hub.pipeline]
        claimed: list[int] = []
        lock = threading.Lock()

        def claim_all(pipeline) -> None:
            owner = pipeline.new_owner()
            while (job := pipeline.claim(owner)) is not None:
                with lock:
                    claimed.append(job.id)

        threads = [threading.Thread(target=claim_all, args=(pipelines[i % 2],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with one.app.state.hub.store.reader() as session:
            jobs = session.scalars(select(Job.id)).all()
        assert len(jobs) >= 10
        assert sorted(claimed) == sorted(jobs)


@pytest.mark.postgres_only  # row locks are PostgreSQL's; SQLite serialises its writers instead
def test_a_claim_skips_a_job_another_transaction_has_locked(settings):
    """FOR UPDATE SKIP LOCKED: while another worker's transaction holds the first job, a claim takes
    the next one at once instead of waiting for that transaction to end."""
    with _client(settings) as client:
        _queue(client, 2)
        pipeline = client.app.state.hub.pipeline
        with client.app.state.hub.store.reader() as session:
            first, second = session.scalars(select(Job.id).order_by(Job.priority, Job.run_after, Job.id)).all()[:2]
        other = create_engine(normalise_url(settings.database_url))
        held, result = threading.Event(), {}
        try:
            with other.connect() as conn:
                conn.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": first})

                def claim() -> None:
                    job = pipeline.claim(pipeline.new_owner())
                    result["job"], result["while_held"] = job.id if job else None, held.is_set()

                held.set()
                thread = threading.Thread(target=claim)
                thread.start()
                thread.join(timeout=30)
                alive = thread.is_alive()
                held.clear()
                conn.rollback()
            thread.join()
        finally:
            other.dispose()
        assert not alive, "the claim waited for the other transaction's row lock"
        assert result == {"job": second, "while_held": True}


def test_times_are_timestamptz_and_read_back_in_utc_whatever_the_server_zone(pg_database):
    from hub.pgcluster import admin
    from hub.store import migrate

    # An administrator's server set to Vietnam's time: the hub's sessions still run in UTC.
    name = pg_database.rsplit("/", 1)[1]
    admin(pg_database, f'ALTER DATABASE "{name}" SET timezone TO \'Asia/Ho_Chi_Minh\'')
    migrate(pg_database)
    store = Store(pg_database)
    try:
        with store.session() as session:
            naive_cols = session.execute(text(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND data_type = 'timestamp without time zone'")).all()
            assert naive_cols == []
            assert session.execute(text("SHOW timezone")).scalar_one() == "UTC"
            local = datetime(2026, 12, 3, 7, 30, 15, 123456, tzinfo=timezone(timedelta(hours=7)))
            session.add(AuditEvent(at=local, action="test", object_type="t", object_id="1"))
        with store.reader() as session:
            back = session.scalar(select(AuditEvent.at).where(AuditEvent.action == "test"))
            day = session.execute(text("SELECT date(at) FROM audit_events WHERE action = 'test'")).scalar_one()
        assert back == local and back.utcoffset() == timedelta(0)
        assert str(day) == "2026-12-03"  # 00:30:15 UTC
    finally:
        store.dispose()


@pytest.mark.parametrize("given, used", [
    ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_database_url_spellings(given, used):
    assert normalise_url(given) == used


@pytest.mark.postgres_only
def test_a_full_disk_under_postgresql_answers_507_saves_nothing_and_recovers(settings, tmp_path):
    """The bulletin_revisions table moved to a tablespace on a 1 MB tmpfs fills for real: PostgreSQL answers
    SQLSTATE 53100 "could not extend file …: No space left on device"; the hub says 507, keeps nothing
    of the failed write, and writes again once the table is back on a disk with room."""
    import os
    import shutil
    import subprocess
    import tempfile

    from sqlalchemy import func

    from hub.models import Bulletin
    from hub.pgcluster import admin

    if os.geteuid() != 0 or "@127.0.0.1:" not in settings.database_url:
        pytest.skip("needs root (to mount a small tmpfs) and the test cluster on this machine")
    mount = tempfile.mkdtemp(prefix="hub-pgfull-", dir="/tmp")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], capture_output=True).returncode:
        pytest.skip("this machine does not let us mount a tmpfs")
    space = f"full_{os.getpid()}_{os.path.basename(mount).replace('-', '_')}"
    try:
        shutil.chown(mount, "postgres", "postgres")
        admin(settings.database_url, f"CREATE TABLESPACE {space} LOCATION '{mount}'")
        with _client(settings) as client:
            hub = client.app.state.hub
            people = People(hub)
            people.commune("C1")
            author = people.user("a", "editor")

            def count() -> int:
                with hub.store.reader() as session:
                    return session.scalar(select(func.count()).select_from(Bulletin))

            with hub.store.session() as session:
                session.execute(text(f"ALTER TABLE bulletin_revisions SET TABLESPACE {space}"))
            before = count()
            # Incompressible bodies (TOAST compresses repeated text): each bulletin adds ~15 kB.
            big = [bulletin_payload(targets=["C1"], body=os.urandom(7500).hex()) for _ in range(150)]
            answers = []
            for payload in big:
                answers.append(client.post("/api/v1/bulletins", json=payload, headers=author))
                if answers[-1].status_code == 507:
                    break
            assert answers[-1].status_code == 507, [a.status_code for a in answers]
            assert "disk is full" in answers[-1].json()["detail"]
            assert all(a.status_code == 201 for a in answers[:-1])
            assert count() == before + len(answers) - 1
            with hub.store.session() as session:
                session.execute(text("ALTER TABLE bulletin_revisions SET TABLESPACE pg_default"))
            assert client.post("/api/v1/bulletins", json=big[0], headers=author).status_code == 201
    finally:
        admin(settings.database_url, f"DROP TABLESPACE IF EXISTS {space}")
        subprocess.run(["umount", mount], capture_output=True)
        os.rmdir(mount)


def test_every_migration_runs_on_postgresql_up_down_and_up_and_matches_the_models(pg_server):
    """From an empty database to head (0006's roll-up backfill and 0007's audit chain included),
    the schema is what the models say; down to base and up again."""
    import os

    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from hub.models import Base
    from hub.pgcluster import admin
    from hub.store import alembic_config, migrate

    name = f"hub_migrations_{os.getpid()}"
    admin(pg_server, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    url = pg_server + name
    engine = create_engine(normalise_url(url))
    try:
        migrate(url)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migrations disagree on PostgreSQL: {diff}"
        command.downgrade(alembic_config(url), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(url)
        assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set(Base.metadata.tables)
    finally:
        engine.dispose()
        admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
