"""The store: one SQLAlchemy engine and session factory per hub, schema kept by Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from hub import audit_chain, changes, notify

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # First, so that even switching the journal mode waits for a lock instead of failing.
    cursor.execute("PRAGMA busy_timeout=15000")
    # WAL lets readers (device polls) run beside the writer; FULL makes a commit survive power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` (what administrators write) mean psycopg 3 here."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres://"))


#: Connections per process on PostgreSQL: the pool's resting size and how far it may grow under load
#: (uvicorn's thread pool runs up to 40 requests at once; render workers and the scheduler add a few).
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 30


def make_engine(url: str, *, writer: bool = True) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            # Writers take the write lock at BEGIN so they queue instead of failing mid-transaction
            # (a read-then-write transaction in WAL mode cannot wait for the lock); readers never block.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        # pysqlite's own transaction handling must be off for the BEGIN above to be ours.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        return engine
    if url.startswith("postgresql"):
        # SQLAlchemy's QueuePool over psycopg 3 connections (docs.sqlalchemy.org, dialects/postgresql
        # "psycopg"): pre-ping replaces a connection the server dropped (a restart, a failover).
        # The session time zone is UTC, as SQLite's stored text is, so that date_trunc/date() in
        # roll-ups and reports cut days the same on both stores; the columns are timestamptz.
        return create_engine(url, pool_pre_ping=True, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW,
                             pool_timeout=30, connect_args={"options": "-c timezone=UTC"})
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (creating the database if needed)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
    if url.startswith("sqlite:///"):
        # Leave the file in WAL mode: the hub's connections then never need to switch it.
        engine = make_engine(url)
        with engine.connect():
            pass
        engine.dispose()


class Store:
    """Owns the engines; hands out sessions that commit on success and roll back on error."""

    def __init__(self, url: str) -> None:
        url = normalise_url(url)
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else url.split(":", 1)[0].split("+", 1)[0]
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: Called after a commit that changed what devices must play (see hub/changes.py).
        self.on_schedule_change: list = []
        changes.install(self._sessions, on_bump=self._schedule_changed)
        audit_chain.install(self._sessions)
        notify.install_job_announcer(self._sessions)
        self.read_engine = make_engine(url, writer=False) if url.startswith("sqlite") else self.engine
        self._readers = sessionmaker(self.read_engine, expire_on_commit=False)

    def install(self, listeners) -> None:
        """Call ``listeners(session_factory)`` to attach session events to every write session
        (hub/public_media.py keeps its links around commits so)."""
        listeners(self._sessions)

    def _schedule_changed(self) -> None:
        for callback in self.on_schedule_change:
            callback()

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reads only: on SQLite it never takes the write lock."""
        # Closing (not rolling back) ends the transaction without expiring what was loaded,
        # so objects stay readable after the block.
        with self._readers() as session:
            yield session

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()
