"""Backup, restore and move: one archive holds the database, the media store and the signing keys.

An archive is an uncompressed tar (the media are MP3 and PNG, which do not compress):

- ``database/hub.db`` (SQLite, taken with SQLite's online backup API) or ``database/hub.pgdump``
  (PostgreSQL, ``pg_dump --format=custom``);
- ``media/<ab>/<sha256>``: every file of the media store;
- ``keys/…``: the manifest signing keys (devices trust them; a hub restored without them would
  sign with new keys that no device trusts);
- ``backup.json``, last: the format, the hub's version and schema revision, and every media file's
  sha256 and size.

Consistent while the hub runs: the database is copied first as one snapshot, then the media.
Media files are written once under their hash before any row names them and never change, so
every file the snapshot names is already there; a file stored after the snapshot is archived too,
harmlessly (nothing in the restored database names it). Every media file is hashed as it is
read, and a restore hashes it again before it is stored.

``copy_database`` moves the rows of one database to another with the same schema (SQLite to
PostgreSQL), read in one read transaction so that a running hub's data arrive consistent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, Integer, MetaData, delete, func, insert, inspect, select, text

from hub import __version__
from hub.config import Settings
from hub.errors import HubError
from hub.media import SHA256_RE
from hub.models import Base
from hub.store import make_engine, migrate

FORMAT = "grassroots-hub-backup/1"
MANIFEST = "backup.json"
SQLITE_MEMBER = "database/hub.db"
PG_MEMBER = "database/hub.pgdump"
#: Rows the migrations themselves write; an otherwise empty target may hold them.
SEEDED = {"counters", "alembic_version"}
#: Rows per INSERT when copying a database.
BATCH = 1000


class BackupError(HubError):
    """An archive that cannot be written or restored: the reason, and nothing half done."""

    status_code = 422


@dataclass
class Report:
    """What a backup, restore or copy did, printed by the command as one JSON object."""

    archive: str | None = None
    database: str | None = None
    media_files: int = 0
    media_bytes: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"archive": self.archive, "database": self.database, "media_files": self.media_files,
                "media_bytes": self.media_bytes, "rows": self.rows}


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def libpq_url(url: str) -> str:
    """The URL ``pg_dump`` and ``pg_restore`` understand (no SQLAlchemy driver suffix)."""
    scheme, _, rest = url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _schema_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _snapshot_sqlite(url: str, destination: Path) -> None:
    """SQLite's online backup API: a consistent copy while other processes go on writing."""
    source = sqlite3.connect(f"file:{_sqlite_path(url)}?mode=ro", uri=True, timeout=15)
    target = sqlite3.connect(destination)
    try:
        source.execute("PRAGMA busy_timeout=15000")
        # All pages in one step: a step-wise copy restarts whenever another connection writes.
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()


def _pg_tool(name: str, *args: str) -> None:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run([found, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{name} failed: {done.stderr.strip() or done.returncode}")


def _referenced_media(engine: Engine) -> set[str]:
    """Every sha256 the database names (media records and artifacts)."""
    with engine.connect() as conn:
        found = set(conn.execute(text("SELECT sha256 FROM media")).scalars())
        found |= set(conn.execute(text("SELECT sha256 FROM artifacts")).scalars())
    return found


def backup(settings: Settings, archive: Path) -> Report:
    """Write one archive of this hub: the database snapshot, then every media file, then the keys."""
    url = settings.sqlalchemy_url
    archive = archive.resolve()
    if archive.exists():
        raise BackupError(f"{archive} exists already: give the name of a new file")
    archive.parent.mkdir(parents=True, exist_ok=True)
    report = Report(archive=str(archive), database="sqlite" if _is_sqlite(url) else "postgresql")
    partial = archive.with_name(f".{archive.name}.partial")
    with tempfile.TemporaryDirectory(prefix="hub-backup-") as scratch:
        if _is_sqlite(url):
            member, dump = SQLITE_MEMBER, Path(scratch) / "hub.db"
            if not _sqlite_path(url).is_file():
                raise BackupError(f"no database at {_sqlite_path(url)}")
            _snapshot_sqlite(url, dump)
            snapshot_url = f"sqlite:///{dump}"
        else:
            member, dump = PG_MEMBER, Path(scratch) / "hub.pgdump"
            # pg_dump reads in one repeatable-read transaction: a consistent snapshot.
            _pg_tool("pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(dump),
                     "--dbname", libpq_url(url))
            snapshot_url = url
        engine = make_engine(snapshot_url, writer=False)
        try:
            revision = _schema_revision(engine)
            wanted = _referenced_media(engine)
        finally:
            engine.dispose()
        media: list[dict] = []
        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                tar.add(dump, arcname=member)
                for path in sorted(settings.media_dir.glob("??/*")):
                    if not SHA256_RE.match(path.name) or not path.is_file():
                        continue  # a write in progress (.tmp-…) or something that is not media
                    sha256, size = _hash_file(path)
                    if sha256 != path.name:
                        raise BackupError(f"media file {path} does not match its name (sha256 {sha256}): "
                                          "the store is damaged; nothing was written")
                    tar.add(path, arcname=f"media/{sha256[:2]}/{sha256}")
                    media.append({"sha256": sha256, "bytes": size})
                missing = wanted - {item["sha256"] for item in media}
                if missing:
                    raise BackupError(f"{len(missing)} media file(s) the database names are not in the media "
                                      f"store, e.g. {sorted(missing)[0]}; nothing was written")
                keys = settings.data_dir / "keys"
                if keys.is_dir():
                    tar.add(keys, arcname="keys")
                manifest = {"format": FORMAT, "created_at": datetime.now(timezone.utc).isoformat(),
                            "hub_version": __version__, "schema_revision": revision,
                            "database": {"kind": report.database, "member": member},
                            "media": media}
                data = json.dumps(manifest, indent=1).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(datetime.now().timestamp()), 0o600
                tar.addfile(info, io.BytesIO(data))
            with partial.open("rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(partial, 0o600)  # the archive holds the signing keys and every token hash
            os.replace(partial, archive)
        finally:
            partial.unlink(missing_ok=True)
    report.media_files = len(media)
    report.media_bytes = sum(item["bytes"] for item in media)
    return report


def read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        manifest = json.load(tar.extractfile(MANIFEST))
    except (KeyError, ValueError, AttributeError) as exc:
        raise BackupError(f"not a hub backup (no readable {MANIFEST}): {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r} (this hub reads {FORMAT})")
    return manifest


def _table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()


def _nonempty_tables(engine: Engine) -> list[str]:
    """Tables holding rows other than the ones the migrations write."""
    found = []
    with engine.connect() as conn:
        for name in _table_names(engine):
            if name not in SEEDED and conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first():
                found.append(name)
    return found


def _check_empty_target(settings: Settings) -> None:
    url = settings.sqlalchemy_url
    media = settings.media_dir
    if media.is_dir() and any(media.glob("??/*")):
        raise BackupError(f"the media folder {media} is not empty: restore into an empty data folder")
    if (settings.data_dir / "keys").is_dir() and any((settings.data_dir / "keys").iterdir()):
        raise BackupError(f"{settings.data_dir / 'keys'} holds signing keys: restore into an empty data folder")
    if _is_sqlite(url):
        if _sqlite_path(url).exists():
            raise BackupError(f"{_sqlite_path(url)} exists: restore into an empty data folder")
        return
    engine = make_engine(url)
    try:
        busy = _nonempty_tables(engine)
    finally:
        engine.dispose()
    if busy:
        raise BackupError(f"the database is not empty (rows in {', '.join(busy[:5])}): restore into an empty one")


def _safe_member(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    try:
        info = tar.getmember(name)
    except KeyError as exc:
        raise BackupError(f"the archive lacks {name}") from exc
    if not info.isfile():
        raise BackupError(f"{name} in the archive is not a regular file")
    return info


def restore(settings: Settings, archive: Path) -> Report:
    """Bring an archive back into an empty data folder (and, with HUB_DATABASE_URL, an empty
    database), checking every media file's hash; nothing is left half restored on a bad archive."""
    from hub.media import MediaStore

    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    _check_empty_target(settings)
    url = settings.sqlalchemy_url
    report = Report(archive=str(archive.resolve()), database="sqlite" if _is_sqlite(url) else "postgresql")
    with tarfile.open(archive, "r") as tar, tempfile.TemporaryDirectory(prefix="hub-restore-") as scratch:
        manifest = read_manifest(tar)
        listed = {item["sha256"]: item["bytes"] for item in manifest["media"]}
        in_archive = {Path(info.name).name: info for info in tar.getmembers()
                      if info.name.startswith("media/") and info.isfile()}
        if set(in_archive) != set(listed):
            extra, lost = set(in_archive) - set(listed), set(listed) - set(in_archive)
            raise BackupError(f"the archive's media differ from its list ({len(lost)} missing, {len(extra)} unlisted)")
        # Media first, into a staging folder, each hashed: a damaged archive stops here.
        staging = Path(scratch) / "media"
        store = MediaStore(staging)
        for sha256, info in sorted(in_archive.items()):
            data = tar.extractfile(info).read()
            if len(data) != listed[sha256] or hashlib.sha256(data).hexdigest() != sha256:
                raise BackupError(f"media file {sha256} in the archive is damaged (its hash or size differ)")
            store.put(data)
        kind, member = manifest["database"]["kind"], manifest["database"]["member"]
        dump = Path(scratch) / Path(member).name
        with tar.extractfile(_safe_member(tar, member)) as source, dump.open("wb") as target:
            shutil.copyfileobj(source, target)
        keys = [info for info in tar.getmembers() if info.name.startswith("keys/") and info.isfile()]

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if kind == "sqlite" and _is_sqlite(url):
            _check_sqlite(dump)
            database = _sqlite_path(url)
            database.parent.mkdir(parents=True, exist_ok=True)
            partial = database.with_name(f".{database.name}.restoring")
            shutil.copyfile(dump, partial)
            os.replace(partial, database)
        elif kind == "sqlite":
            _check_sqlite(dump)
            migrate(f"sqlite:///{dump}")  # an older hub's backup: brought to this schema before the copy
            report.rows = copy_database(f"sqlite:///{dump}", url)
        elif kind == "postgresql" and not _is_sqlite(url):
            _pg_tool("pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                     "--dbname", libpq_url(url), str(dump))
        else:
            raise BackupError("a PostgreSQL backup restores into PostgreSQL only: set HUB_DATABASE_URL")

        for sha256 in sorted(in_archive):
            target = settings.media_dir / sha256[:2] / sha256
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staging / sha256[:2] / sha256, target)
        for info in keys:
            relative = Path(info.name)
            if ".." in relative.parts or relative.is_absolute():
                raise BackupError(f"refusing the archive member {info.name}")
            target = settings.data_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with tar.extractfile(info) as source, target.open("wb") as handle:
                shutil.copyfileobj(source, handle)
            os.chmod(target, info.mode & 0o777 or 0o600)
    # A backup from an older hub is brought to this hub's schema.
    migrate(url)
    report.media_files = len(listed)
    report.media_bytes = sum(listed.values())
    return report


def _check_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the archive's database is damaged: {exc}") from exc
    finally:
        conn.close()
    if result != "ok":
        raise BackupError(f"the archive's database is damaged: {result}")


@contextmanager
def _engines(source_url: str, target_url: str) -> Iterator[tuple[Engine, Engine]]:
    source, target = make_engine(source_url, writer=False), make_engine(target_url)
    try:
        yield source, target
    finally:
        source.dispose()
        target.dispose()


def copy_database(source_url: str, target_url: str) -> dict[str, int]:
    """Copy every row of ``source_url`` into ``target_url`` (migrated to the same schema, empty
    but for what the migrations write); returns the rows copied per table.

    The source is read in one read transaction (a consistent snapshot of a running SQLite hub:
    WAL readers see the database as it was at their first read); the target is written in one
    transaction, so a failure leaves it as empty as it was. Rows go through the models' column
    types, so times, JSON and booleans arrive as the target's own types.
    """
    if source_url == target_url:
        raise BackupError("the source and the target are the same database")
    migrate(target_url)
    metadata: MetaData = Base.metadata
    rows: dict[str, int] = {}
    with _engines(source_url, target_url) as (source, target):
        source_revision, target_revision = _schema_revision(source), _schema_revision(target)
        if source_revision != target_revision:
            raise BackupError(f"schema {source_revision} of the source differs from the target's "
                              f"{target_revision}: run `hub db upgrade` on the source first")
        unknown = set(_table_names(source)) - set(metadata.tables) - {"alembic_version"}
        if unknown:
            raise BackupError(f"the source has tables this hub does not know: {', '.join(sorted(unknown))}")
        busy = _nonempty_tables(target)
        if busy:
            raise BackupError(f"the target database is not empty (rows in {', '.join(busy[:5])})")
        present = set(_table_names(source))
        with source.connect() as reading, target.begin() as writing:
            for table in _tables(present):
                if table.name in SEEDED:
                    writing.execute(delete(table))
                count, batch = 0, []
                for row in reading.execute(select(table)).mappings():
                    batch.append(dict(row))
                    if len(batch) >= BATCH:
                        writing.execute(insert(table), batch)
                        count, batch = count + len(batch), []
                if batch:
                    writing.execute(insert(table), batch)
                    count += len(batch)
                rows[table.name] = count
            if target.dialect.name == "postgresql":
                _advance_sequences(writing, _tables(present))
    return rows


def _tables(present: set[str]) -> list:
    """The models' tables (in foreign-key order) that the database has: a model whose migration
    is not written yet has no table to copy."""
    return [table for table in Base.metadata.sorted_tables if table.name in present]


def _advance_sequences(conn, tables: list) -> None:
    """Rows copied with their ids leave PostgreSQL's sequences behind: move each past its max."""
    for table in tables:
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                        {"t": table.name, "c": column.name}).scalar()
                if sequence is None:
                    continue
                highest = conn.execute(select(func.max(column))).scalar()
                if highest is not None:
                    conn.execute(text("SELECT setval(:s, :v)"), {"s": sequence, "v": highest})


def compare_databases(first_url: str, second_url: str) -> dict[str, str]:
    """Tables whose rows differ between two databases (each table's rows in primary-key order,
    read through the models' types): ``{table: what differs}``; empty when they are equal."""
    differences: dict[str, str] = {}
    with _engines(first_url, second_url) as (first, second), first.connect() as a, second.connect() as b:
        names = set(_table_names(first))
        if names != set(_table_names(second)):
            differences["(tables)"] = f"{sorted(names)} against {sorted(_table_names(second))}"
        for table in _tables(names & set(_table_names(second))):
            # Sorted here, not by the databases: their collations order strings differently.
            keys = [column.name for column in table.primary_key.columns]
            left, right = ([dict(row) for row in conn.execute(select(table)).mappings()] for conn in (a, b))
            left.sort(key=lambda row: tuple(row[k] for k in keys))
            right.sort(key=lambda row: tuple(row[k] for k in keys))
            if left != right:
                differences[table.name] = f"{len(left)} rows against {len(right)}" if len(left) != len(right) \
                    else next(f"row {l_row} against {r_row}" for l_row, r_row in zip(left, right) if l_row != r_row)
    return differences
