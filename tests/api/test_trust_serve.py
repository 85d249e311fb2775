"""Issue 14: `hub serve` bounds slow and idle clients (uvicorn's limits) and does not log a flood
line by line; the API's documentation pages come from the hub, never from a CDN, or are off."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.plugins import make_plugin_manager
from hub.testing import ServerProcess, wait_until

pytestmark = pytest.mark.sqlite_only


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real `hub serve` for the module, with a small connection limit and a short keep-alive."""
    folder = tmp_path_factory.mktemp("serve") / "var"
    folder.mkdir()
    process = ServerProcess({"HUB_DATA_DIR": str(folder), "HUB_WORKERS": "0",
                             "HUB_SERVE_LIMIT_CONCURRENCY": "8", "HUB_SERVE_KEEP_ALIVE_S": "1"}).start()
    process.folder = folder
    yield process
    process.stop()


def test_serve_sheds_connections_past_its_limit_and_thins_the_warning(server):
    slow: list[socket.socket] = []
    try:
        # A slowloris: connections that never finish their headers hold every slot.
        for _ in range(8):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(sock)
        time.sleep(0.3)
        answers = [httpx.get(f"{server.url}/healthz", timeout=5).status_code for _ in range(15)]
        assert set(answers) == {503}, answers  # answered at once, not left to time out
        for sock in slow:
            sock.close()
        wait_until(lambda: httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200, 10, "recovery")

        # An idle keep-alive connection is closed after HUB_SERVE_KEEP_ALIVE_S.
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        started = time.monotonic()
        data = b""
        while chunk := idle.recv(65536):
            data += chunk
        idle.close()
        assert data.startswith(b"HTTP/1.1 200") and time.monotonic() - started < 8
    finally:
        for sock in slow:
            sock.close()
    log = next(server.folder.glob("server-*.log")).read_text()
    warnings = re.findall(r"Exceeded concurrency limit", log)
    assert 1 <= len(warnings) <= 6, log[-2000:]  # 15 refusals, at most 5 lines (+1 summary) per 10 s


def test_api_docs_come_from_the_hub(server):
    for page in ("/docs", "/redoc"):
        r = httpx.get(server.url + page, timeout=10)
        assert r.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', r.text) + re.findall(r"url: '([^']+)'", r.text)
        assert urls and all(u.startswith("/") for u in urls), urls  # nothing from another host
        # No address of another host anywhere in the page, not only in src/href (fonts, CDNs).
        assert "cdn" not in r.text.lower() and not re.search(r"https?://(?!127\.0\.0\.1|localhost)", r.text)
        for url in urls:
            assert httpx.get(server.url + url, timeout=10).status_code == 200, url


def test_api_docs_can_be_switched_off(tmp_path):
    settings = Settings(data_dir=tmp_path / "var", workers=0, api_docs=False)
    with TestClient(create_app(settings, pm=make_plugin_manager(settings, entrypoints=False))) as client:
        assert client.get("/openapi.json").status_code == 200  # clients are still generated from it
        for path in ("/docs", "/redoc", "/docs-static/swagger-ui-bundle.js"):
            r = client.get(path)
            assert r.status_code == 404 and r.json()["detail"], path


def test_swagger_ui_renders_the_hubs_description_offline(server, tmp_path):
    """In Chromium with every request outside the hub refused: Swagger UI shows the operations."""
    from playwright.sync_api import sync_playwright

    from tests.plugins.console_browser import launch

    outside: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 800})

        def route(r):
            if r.request.url.startswith(server.url):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        page.screenshot(path=str(tmp_path / "docs.png"))
        browser.close()
    assert any("/api/v1/bulletins" in p for p in paths)
    assert outside == []
