"""A real Icecast 2 (Debian's icecast2) for the tests: its own config from deploy/icecast's
template, on a free loopback port, stopped at the end."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from string import Template

import httpx

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "icecast" / "icecast.xml.template"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Icecast:
    def __init__(self, folder: Path, hub_url: str, *, source_password: str = "src-pass-test",
                 auth_key: str = "auth-key-test", clients: int = 100) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.source_password = source_password
        self.auth_key = auth_key
        self.hub_url = hub_url
        self.clients = clients
        self.proc: subprocess.Popen | None = None
        self.logs: Path | None = None

    def config(self) -> str:
        # Its own folder in /tmp: the unprivileged user must reach it (pytest's tmp_path is 0700).
        logs = self.logs = Path(tempfile.mkdtemp(prefix="icecast-"))
        logs.chmod(0o755)
        # Icecast will not run as root: it changes to an unprivileged user after binding.
        owner = ""
        if os.geteuid() == 0:
            user = "nobody"
            group = "nogroup"
            entry = pwd.getpwnam(user)
            os.chown(logs, entry.pw_uid, entry.pw_gid)
            owner = f"<changeowner><user>{user}</user><group>{group}</group></changeowner>"
        return Template(TEMPLATE.read_text()).substitute(
            location="test", admin_email="test@localhost", hostname="127.0.0.1", clients=self.clients,
            sources=8, burst_size=8192, source_password=self.source_password, admin_password="admin-pass-test",
            port=self.port, bind_address="127.0.0.1", hub_url=self.hub_url, auth_key=self.auth_key,
            log_dir=str(logs), log_level=3, changeowner=owner)

    def start(self) -> "Icecast":
        if shutil.which("icecast2") is None:
            raise RuntimeError("icecast2 is not installed (./dev setup installs it)")
        # free_port() only finds a port that was free a moment ago: another test (or xdist worker)
        # may take it first, and Icecast then exits at once, saying why only in its error.log.
        for attempt in range(3):
            if attempt:
                shutil.rmtree(self.logs, ignore_errors=True)
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
            why = self._start_once()
            if why is None:
                return self
        raise RuntimeError(f"icecast2 did not start: {why}")

    def _start_once(self) -> str | None:
        """None once Icecast answers; else why it did not (its process is gone then)."""
        path = self.folder / "icecast.xml"
        path.write_text(self.config())
        self.proc = subprocess.Popen(["icecast2", "-c", str(path)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                stderr = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                return f"exited ({self.proc.returncode}): {stderr.strip()} {self.error_log()[-2000:]}"
            try:
                httpx.get(self.url + "/status-json.xsl", timeout=0.5)
                return None
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        return "it did not start listening within 10 s"

    def status(self) -> dict:
        return httpx.get(self.url + "/status-json.xsl", timeout=2).json()

    def mounts(self) -> list[str]:
        source = self.status().get("icestats", {}).get("source")
        sources = source if isinstance(source, list) else [source] if source else []
        return [s.get("listenurl", "").rsplit("/", 2)[-2] + "/" + s.get("listenurl", "").rsplit("/", 1)[-1]
                for s in sources]

    def error_log(self) -> str:
        path = self.logs / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "logs", None) is not None:
            shutil.rmtree(self.logs, ignore_errors=True)
