"""Fixtures of the cluster tests: empty PostgreSQL databases on the session's server (tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def new_pg_database(request) -> Iterator[Callable[[], str]]:
    """Makes empty (unmigrated) databases on the session's PostgreSQL server; drops them afterwards."""
    from hub.pgcluster import admin

    made: list[str] = []

    def make() -> str:
        server = request.getfixturevalue("pg_server")  # only when asked: the SQLite lane starts no server
        name = f"cluster_{uuid.uuid4().hex[:12]}"
        admin(server, f'CREATE DATABASE "{name}"')
        made.append(name)
        return server + name

    yield make
    if made:
        server = request.getfixturevalue("pg_server")
    for name in made:
        admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database(request, store_kind: str) -> str | None:
    """Where a restore goes on this test's lane: None (a new data folder's hub.db) or an empty database."""
    return request.getfixturevalue("new_pg_database")() if store_kind == "postgresql" else None
