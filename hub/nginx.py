"""Debian's nginx in front of real ``hub serve`` processes, for tests and benchmarks: the site file
of deploy/nginx/ with its addresses, certificate and media folder changed, nothing else.

No pytest here, so ``bench/`` uses it too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx

from hub.testing import free_port, wait_until

SITE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "grassroots-hub.conf"


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for ``host`` (openssl), for TLS on loopback."""
    cert, key = folder / "hub.pem", folder / "hub.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    return cert, key


def site_config(upstreams: list[int], media_dir: Path, cert: Path, key: Path, http_port: int,
                https_port: int) -> str:
    """deploy/nginx/grassroots-hub.conf for loopback: each CHANGE line given this run's value."""
    text = SITE.read_text()
    servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in upstreams)
    replacements = [
        ("    server 127.0.0.1:8001 max_fails=1 fail_timeout=5s;\n    server 127.0.0.1:8002 max_fails=1 fail_timeout=5s;",
         servers),
        ("    listen 80;\n    listen [::]:80;", f"    listen 127.0.0.1:{http_port};"),
        ("    listen 443 ssl http2;\n    listen [::]:443 ssl http2;", f"    listen 127.0.0.1:{https_port} ssl http2;"),
        ("/etc/ssl/certs/grassroots-hub.pem", str(cert)),
        ("/etc/ssl/private/grassroots-hub.key", str(key)),
        ("alias /var/lib/grassroots-hub/media/", f"alias {media_dir.resolve()}/"),
        ("root /var/lib/grassroots-hub/media/public;", f"root {media_dir.resolve()}/public;"),
    ]
    for old, new in replacements:
        if old not in text:
            raise ValueError(f"deploy/nginx/grassroots-hub.conf no longer has {old!r}: update hub/nginx.py")
        text = text.replace(old, new)
    return text


class NginxProcess:
    """nginx (in the foreground, its own folder for logs and temporary files) before ``upstreams``."""

    def __init__(self, folder: Path, upstreams: list[int], media_dir: Path, extra: str = "") -> None:
        self.folder = folder
        #: More directives for the HTTPS server block (bench/cluster.py adds a plain static location).
        self.extra = extra
        self.upstreams, self.media_dir = upstreams, media_dir
        self.http_port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.proc: subprocess.Popen | None = None
        self.cert: Path | None = None

    def start(self, timeout: float = 15.0) -> "NginxProcess":
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cert, key = self_signed(self.folder)
        site = site_config(self.upstreams, self.media_dir, self.cert, key, self.http_port, self.https_port)
        if self.extra:
            head, _, tail = site.rstrip().rpartition("}")
            site = f"{head}{self.extra}\n}}{tail}\n"
        (self.folder / "site.conf").write_text(site)
        temp = self.folder / "temp"
        temp.mkdir(exist_ok=True)
        (self.folder / "nginx.conf").write_text(f"""
daemon off;
worker_processes 2;
pid {self.folder}/nginx.pid;
error_log {self.folder}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format hub '$request_method $uri $status $upstream_addr $body_bytes_sent';
    access_log {self.folder}/access.log hub;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {self.folder}/site.conf;
}}
""")
        # As root nginx's workers would switch to nobody, who cannot read a test's media folder.
        user = "" if not _root() else "user root;\n"
        if user:
            conf = self.folder / "nginx.conf"
            conf.write_text(user + conf.read_text())
        check = subprocess.run([binary, "-t", "-c", str(self.folder / "nginx.conf"), "-e", str(self.folder / "error.log")],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t: {check.stderr}")
        self.proc = subprocess.Popen([binary, "-c", str(self.folder / "nginx.conf"), "-e", str(self.folder / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.folder / "stderr.log", "ab"))
        wait_until(lambda: self.proc.poll() is not None or self._listening(), timeout, f"nginx on {self.url}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {self.proc.returncode}; see {self.folder}/error.log")
        return self

    def _listening(self) -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{self.http_port}/", timeout=1)
            return True
        except httpx.HTTPError:
            return False

    def client(self, **kwargs) -> httpx.Client:
        import ssl

        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=str(self.cert)), **kwargs)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _root() -> bool:
    import os

    return os.geteuid() == 0
