"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a folder, its own port on 127.0.0.1.

No pytest here, so ``bench/``, ``./dev test`` and the pytest fixtures (tests/conftest.py) share it.
Uses Debian's server binaries (package ``postgresql``: /usr/lib/postgresql/<version>/bin). PostgreSQL
refuses to run as root, so as root the cluster's folder is given to the ``postgres`` user (the
Debian package makes it) and initdb, pg_ctl and the server run as that user; as anyone else they
run as the caller. Connections are over TCP on 127.0.0.1 with ``trust`` authentication: the
cluster is for one machine's tests only, never for a hub that serves anyone.

Command line (what ./dev test uses)::

    python -m hub.pgcluster start DIR [PID]  # prints the server URL (postgresql://postgres@127.0.0.1:PORT/);
                                             # with PID, stops it by itself once that process is gone
    python -m hub.pgcluster stop DIR
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hub.testing import free_port

SUPERUSER = "postgres"


def find_bindir() -> Path:
    """The folder with initdb and pg_ctl: $HUB_PG_BINDIR, the newest Debian version, or $PATH."""
    if os.environ.get("HUB_PG_BINDIR"):
        return Path(os.environ["HUB_PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("no PostgreSQL server found: install Debian's postgresql package (./dev setup does)")


def _run_as() -> pwd.struct_passwd | None:
    """The user the server runs as when we are root (PostgreSQL will not run as root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root needs a 'postgres' user to own the cluster (Debian's "
                           "postgresql package makes one)") from None


class Cluster:
    """One PostgreSQL server on its own data folder and port. ``start()`` then ``url``; ``stop()``."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root)
        self.data = self.root / "data"
        self.port = port or free_port()
        self.bindir = find_bindir()
        self.user = _run_as()

    @property
    def url(self) -> str:
        """The server's URL without a database name; add one (``url + "hub"``)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/"

    def _cmd(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self.user is not None:
            uid, gid = self.user.pw_uid, self.user.pw_gid

            def demote() -> None:
                os.setgid(gid)
                os.setuid(uid)
            kwargs["preexec_fn"] = demote
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=timeout,
                              cwd=self.root, env=env, **kwargs)

    def start(self) -> "Cluster":
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        if self.user is not None:
            for folder in self.root.resolve().parents:
                if not os.stat(folder).st_mode & 0o001:
                    raise RuntimeError(f"the postgres user cannot reach {self.root}: {folder} is closed to "
                                       "others (put the cluster in a folder of its own under /tmp)")
        if not (self.data / "PG_VERSION").exists():
            # No fsync: a test cluster lost in a crash is simply made again.
            try:
                self._cmd(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                          "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(f"initdb failed: {exc.stderr.strip()}") from exc
        options = (f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{self.root}' "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                   "-c shared_buffers=64MB -c timezone=UTC")
        try:
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                      "-o", options, "-w", "-t", "60", "start")
        except subprocess.CalledProcessError as exc:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:] if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from exc
        return self

    def watch(self, owner_pid: int) -> None:
        """Start a watchdog process that stops the cluster and removes its folder once ``owner_pid``
        is gone, so a test run killed before its clean-up (a timeout, kill -9) leaves no server behind."""
        subprocess.Popen([sys.executable, "-m", "hub.pgcluster", "watch", str(self.root), str(owner_pid)],
                         start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, close_fds=True)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def server_url(url: str) -> str:
    """``postgresql://user@host:port/anything`` → the same without the database (ending in ``/``)."""
    head, _, _ = url.partition("://")
    rest = url[len(head) + 3:]
    authority = rest.split("/", 1)[0]
    return f"{head}://{authority}/"


def admin(url: str, *statements: str) -> None:
    """Run statements (CREATE/DROP DATABASE …) in autocommit on the server's ``postgres`` database."""
    import psycopg

    with psycopg.connect(server_url(url) + "postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def wait_ready(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server_url(url) + "postgres", connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str]) -> int:
    """``start DIR [OWNER_PID]`` prints the URL (with OWNER_PID, a watchdog stops the cluster when
    that process ends); ``stop DIR`` stops it; ``watch DIR PID`` is the watchdog itself."""
    if len(argv) < 2 or argv[0] not in ("start", "stop", "watch"):
        print("usage: python -m hub.pgcluster start DIR [OWNER_PID] | stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    if argv[0] == "watch":
        owner = int(argv[2])
        while _alive(owner) and (root / "data").exists():
            time.sleep(1)
        if (root / "data").exists():
            Cluster(root, port=0).stop()
            shutil.rmtree(root, ignore_errors=True)
        return 0
    cluster = Cluster(root)
    if argv[0] == "start":
        cluster.start()
        if len(argv) > 2:
            cluster.watch(int(argv[2]))
        print(cluster.url)
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
