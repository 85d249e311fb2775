"""Backup and restore for real: `hub backup` in its own process while another writes, restored
into a fresh data folder, then every row and every media file compared."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from hub.backup import BackupError, backup, compare_databases, restore
from hub.config import Settings
from sqlalchemy import inspect, select

from hub.models import Base, MediaObject
from hub.runtime import Hub


def run_hub(*args: str, data: Path, database: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HUB_DATA_DIR": str(data)}
    env.pop("HUB_DATABASE_URL", None)
    if database:
        env["HUB_DATABASE_URL"] = database
    done = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def media_files(data: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (data / "media").glob("??/*")}


def rows(hub: Hub) -> dict[str, set]:
    """Every table's rows as a set of tuples."""
    with hub.store.engine.connect() as conn:
        return {table.name: {tuple(map(repr, row)) for row in conn.execute(select(table))}
                for table in Base.metadata.sorted_tables if table.name in inspect(conn).get_table_names()}


def write_load(hub: Hub, stop: threading.Event, written: list[int]) -> None:
    """Communes, devices (audited) and media files with their records, until told to stop."""
    n = 0
    while not stop.is_set():
        n += 1
        hub.services.directory.add_commune(None, f"C{n:05d}", f"Xã {n}")
        hub.services.directory.register_device(None, f"loa-{n}", f"C{n:05d}")
        sha = hub.media.put(f"media {n} ".encode() * 500)
        with hub.store.session() as session:
            session.add(MediaObject(sha256=sha, bytes=len(f"media {n} ".encode()) * 500, mime="audio/mpeg"))
        written.append(n)
        stop.wait(0.05)  # steady writes, not as many as the machine can make: the compare reads them all


def test_backup_under_write_load_restores_every_row_and_file(settings: Settings, tmp_path: Path,
                                                             empty_database, new_pg_database) -> None:
    source = Hub.open(settings)
    stop, written = threading.Event(), []
    load = threading.Thread(target=write_load, args=(source, stop, written), daemon=True)
    load.start()
    try:
        while len(written) < 5:
            stop.wait(0.05)
        # Another process backs up while this one keeps writing.
        run_hub("backup", str(tmp_path / "during.tar"), data=settings.data_dir, database=settings.database_url)
        during = len(written)
    finally:
        stop.set()
        load.join(30)
    assert during > 5, "the load did not keep writing while the backup ran"

    restored = tmp_path / "restored"
    report = run_hub("restore", str(tmp_path / "during.tar"), data=restored, database=empty_database)
    assert '"media_files"' in report.stdout
    # A torn copy would break the audit log's hash chain or name media the archive lacks.
    run_hub("audit", "verify", data=restored, database=empty_database)
    back = Hub.open(Settings(data_dir=restored, database_url=empty_database, workers=0))
    try:
        with back.store.reader() as session:
            names = [m.sha256 for m in session.query(MediaObject)]
        assert names and all(back.media.path(sha) for sha in names)
        # Every row the snapshot holds is the source's row, unchanged (the load only adds rows;
        # only the counters move on).
        restored_rows, source_rows = rows(back), rows(source)
        assert 5 <= len(restored_rows["communes"]) < len(source_rows["communes"])
        for table, found in restored_rows.items():
            if table != "counters":
                assert found <= source_rows[table], table
    finally:
        back.close()

    # Once the writes stop, a second backup restored elsewhere equals the source exactly.
    backup(settings, tmp_path / "after.tar")
    again = Settings(data_dir=tmp_path / "again", workers=0,
                     database_url=new_pg_database() if settings.database_url else None)
    restore(again, tmp_path / "after.tar")
    assert compare_databases(settings.sqlalchemy_url, again.sqlalchemy_url) == {}
    assert media_files(again.data_dir) == media_files(settings.data_dir)
    if (settings.data_dir / "keys").is_dir():
        assert sorted(p.name for p in (again.data_dir / "keys").iterdir()) == \
            sorted(p.name for p in (settings.data_dir / "keys").iterdir())
    source.close()


def test_restore_refuses_a_damaged_archive_and_a_folder_with_data(settings: Settings, tmp_path: Path) -> None:
    hub = Hub.open(settings)
    sha = hub.media.put(b"ID3" + b"\x00" * 4000)
    hub.close()
    backup(settings, tmp_path / "good.tar")
    with pytest.raises(BackupError, match="exists already"):
        backup(settings, tmp_path / "good.tar")

    # The same archive with one media file's bytes changed (same size, same name).
    bad = tmp_path / "bad.tar"
    with tarfile.open(tmp_path / "good.tar") as src, tarfile.open(bad, "w") as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read() if info.isfile() else None
            if info.name.endswith(sha):
                data = b"XYZ" + data[3:]
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
    target = Settings(data_dir=tmp_path / "target", workers=0)
    done = run_hub("restore", str(bad), data=target.data_dir, check=False)
    assert done.returncode == 2 and "damaged" in done.stderr
    assert not (target.data_dir / "hub.db").exists() and not media_files(target.data_dir)

    # Into a folder (and database) that already holds a hub: refused, nothing changed.
    hub = Hub.open(settings)
    try:
        before = rows(hub)
        with pytest.raises(BackupError, match="empty data folder"):
            restore(settings, tmp_path / "good.tar")
        assert rows(hub) == before
    finally:
        hub.close()
