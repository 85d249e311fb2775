"""What a clean PostgreSQL database per test costs (issue 13): a copy of a migrated template against
TRUNCATE of every table, on a throwaway cluster (hub/pgcluster.py), beside a copy of SQLite's file.

    .venv/bin/python -m bench.pg_test_db [--rounds 20]   # prints figures; the last line is one JSON object

In-process timings (time.perf_counter around each statement), median and max over the rounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, inspect

from hub.pgcluster import Cluster, admin
from hub.store import migrate


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hub-bench-pg-", dir="/tmp"))
    cluster = Cluster(root)
    figures: dict[str, list[float]] = {"start_cluster_ms": [], "migrate_template_ms": [], "template_copy_ms": [], "template_file_copy_ms": [],
                                       "drop_ms": [], "truncate_all_ms": [], "sqlite_file_copy_ms": []}
    try:
        figures["start_cluster_ms"].append(_timed(cluster.start))
        url = cluster.url
        admin(url, 'CREATE DATABASE "template_hub"')
        figures["migrate_template_ms"].append(_timed(lambda: migrate(url + "template_hub")))
        for i in range(args.rounds):
            figures["template_copy_ms"].append(_timed(lambda: admin(url, f'CREATE DATABASE "t{i}" TEMPLATE "template_hub"')))
            figures["drop_ms"].append(_timed(lambda: admin(url, f'DROP DATABASE "t{i}" WITH (FORCE)')))
            # PostgreSQL 15's other strategy: a checkpoint and a file copy instead of WAL-logging each block.
            figures["template_file_copy_ms"].append(_timed(lambda: admin(
                url, f'CREATE DATABASE "f{i}" TEMPLATE "template_hub" STRATEGY FILE_COPY')))
            admin(url, f'DROP DATABASE "f{i}" WITH (FORCE)')
        engine = create_engine("postgresql+psycopg://" + url.removeprefix("postgresql://") + "template_hub")
        tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        engine.dispose()
        statement = "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        with psycopg.connect(url + "template_hub", autocommit=True) as conn:
            for _ in range(args.rounds):
                figures["truncate_all_ms"].append(_timed(lambda: conn.execute(statement)))
        sqlite = root / "sqlite" / "template.db"
        migrate(f"sqlite:///{sqlite}")
        for i in range(args.rounds):
            figures["sqlite_file_copy_ms"].append(_timed(lambda: shutil.copyfile(sqlite, sqlite.parent / f"c{i}.db")))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    summary = {name: {"median": round(statistics.median(v), 1), "max": round(max(v), 1)} for name, v in figures.items()}
    summary["tables"] = len(tables)
    for name, value in summary.items():
        print(f"{name:24} {value}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
