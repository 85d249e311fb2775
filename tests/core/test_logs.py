"""No token reaches the log (issue 14): a real ``hub serve`` with its access log on."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from hub.logs import redact
from hub.testing import free_port, wait_until

SECRET = "hubd_Zq3xY7-secretsecretsecret"


def test_redact_masks_query_tokens_and_bare_hub_tokens():
    assert redact(f"GET /display?token={SECRET}&x=1 HTTP/1.1") == "GET /display?token=…&x=1 HTTP/1.1"
    assert redact(f"/media/ab?access_token={SECRET}") == "/media/ab?access_token=…"
    assert redact(f"Bearer {SECRET}") == "Bearer hubd_…"
    assert redact("/api/v1/bulletins?q=token") == "/api/v1/bulletins?q=token"


def test_a_real_access_log_never_holds_a_token(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "HUB_DATA_DIR": str(tmp_path / "var"), "HUB_WORKERS": "0"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--log-level", "info"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ok(url), timeout=30, what="hub serve answering")
        httpx.get(f"{url}/display?token={SECRET}", timeout=10)
        httpx.get(f"{url}/healthz?token={SECRET}", timeout=10)
        wait_until(lambda: log.read_text().count("/healthz?token=") >= 1, timeout=10, what="the access log line")
        time.sleep(0.2)
        text = log.read_text()
        assert "/display?token=…" in text and SECRET not in text
    finally:
        proc.terminate()
        proc.wait(15)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
