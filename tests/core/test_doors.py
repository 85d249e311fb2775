"""Every door into approval goes through the one service, so every door fires hub_on_bulletin_approved.

Doors: the API, CAP ingest (a trusted upstream key approves on arrival), RSS import (it submits
through the same ingest; its bulletins are then approved like any other), and the demo. The
console's door is added with the console.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.plugins import make_plugin_manager
from hub_ingest import cap_ingest
from tests.conftest import People, bulletin_payload
from tests.core import approval_recorder

RECORDER = "tests.core.approval_recorder"
CAP = Path(__file__).parent.parent / "plugins" / "fixtures" / "cap" / "flood_alert.xml"
TRUSTED = "trusted-upstream-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def recorded():
    approval_recorder.APPROVED.clear()
    yield approval_recorder.APPROVED
    approval_recorder.APPROVED.clear()


@pytest.fixture
def door_settings(settings):
    return settings.model_copy(update={"extra_plugins": [RECORDER]})


@pytest.fixture
def hub_client(door_settings, monkeypatch):
    digest = hashlib.sha256(TRUSTED.encode()).hexdigest()
    monkeypatch.setenv("HUB_INGEST_KEYS", f"kttv=sha256:{digest}")
    monkeypatch.setenv("HUB_INGEST_TRUSTED", "kttv")
    monkeypatch.setenv("HUB_INGEST_POLL_S", "0")
    with TestClient(create_app(door_settings, pm=make_plugin_manager(door_settings))) as client:
        yield client


def _approved_hash(client, headers, bulletin_id: str) -> str:
    return client.get(f"/api/v1/bulletins/{bulletin_id}", headers=headers).json()["content_hash"]


def test_the_api_door_fires_the_hook_once_after_commit(hub_client, recorded):
    people = People(hub_client.app.state.hub)
    author, approver = people.user("tac-gia", "editor"), people.user("duyet", "editor")
    created = hub_client.post("/api/v1/bulletins", json=bulletin_payload(), headers=author).json()
    hub_client.post(f"/api/v1/bulletins/{created['id']}/submit", headers=author)
    assert recorded == []  # submitting approves nothing
    assert hub_client.post(f"/api/v1/bulletins/{created['id']}/approve", headers=approver).status_code == 200
    assert recorded == [(created["id"], 1, _approved_hash(hub_client, approver, created["id"]))]
    # A refused approval (the author) fires nothing.
    again = hub_client.post("/api/v1/bulletins", json=bulletin_payload(title="Khác"), headers=author).json()
    hub_client.post(f"/api/v1/bulletins/{again['id']}/submit", headers=author)
    assert hub_client.post(f"/api/v1/bulletins/{again['id']}/approve", headers=author).status_code == 403
    assert len(recorded) == 1


def test_the_cap_door_fires_the_hook_when_a_trusted_key_approves(hub_client, recorded, monkeypatch):
    # The fixture alert's own morning: after its <expires> it would create nothing.
    monkeypatch.setattr(cap_ingest, "utcnow", lambda: datetime(2026, 10, 12, 1, 30, tzinfo=timezone.utc))
    people = People(hub_client.app.state.hub)
    people.commune("LS01", "Xã Hữu Lũng")
    people.commune("LS02", "Xã Yên Bình")
    response = hub_client.post("/api/v1/ingest/cap", content=CAP.read_bytes(),
                               headers={"Authorization": f"Bearer {TRUSTED}", "Content-Type": "application/cap+xml"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert recorded == [(body["id"], body["revision"], body["content_hash"])]


class _Feed(BaseHTTPRequestHandler):
    RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
           b'<item><guid>tin-1</guid><title>Lich cat dien</title><description>Ngay mai cat dien.</description></item>'
           b'</channel></rss>')

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        self.wfile.write(self.RSS)

    def log_message(self, *_args):
        pass


def test_the_rss_door_submits_through_the_ingest_and_its_approval_fires_the_hook(hub_client, recorded):
    from hub_ingest.feeds import add_source, poll_once
    from hub_ingest.settings import IngestSettings

    hub = hub_client.app.state.hub
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        add_source(hub, f"http://127.0.0.1:{server.server_address[1]}/rss")
        [result] = poll_once(hub, IngestSettings(poll_s=0, fetch_timeout_s=5))
    finally:
        server.shutdown()
    assert result.created == 1
    approver = People(hub).user("duyet", "editor")
    [imported] = hub_client.get("/api/v1/bulletins", headers=approver).json()
    assert imported["source"].startswith("rss:") and imported["status"] == "pending" and recorded == []
    assert hub_client.post(f"/api/v1/bulletins/{imported['id']}/approve", headers=approver).status_code == 200
    assert [r[0] for r in recorded] == [imported["id"]]


def test_the_demo_door_fires_the_hook_for_each_bulletin(door_settings, recorded, monkeypatch, tmp_path):
    from hub.demo import BULLETINS, run_demo

    monkeypatch.chdir(tmp_path)  # no playlists/ folder here: the demo's bulletins only
    assert run_demo(door_settings) == 0
    assert len(recorded) == len(BULLETINS)
    assert {revision for _id, revision, _hash in recorded} == {1}


def test_ingest_losing_a_race_to_another_process_answers_with_the_winner(client, monkeypatch):
    """Two hub processes importing one entry at once (PostgreSQL): the unique source + source_ref
    refuses the loser's insert; it gets the winner's bulletin, and the caller's transaction goes on."""
    from hub import bulletins as domain

    hub = client.app.state.hub
    people = People(hub)
    people.commune("X1")
    author = hub.services.sources.system_principal("rss:race")
    content = hub.services.bulletins.Content(title="Cắt điện", body="Ngày mai cắt điện.", priority="normal",
                                             channels=["speaker"], targets=["X1"])
    winner, created = hub.services.bulletins.ingest(author, content, source="rss:race", source_ref="tin-1")
    assert created
    real = domain.create

    def blind(session, principal, content, *, source, source_ref):
        # What the loser sees: the winner's row is committed but was not there when it looked.
        bulletin, _ = real(session, principal, content, source=source, source_ref=None)
        bulletin.source_ref = source_ref
        session.flush()
        return bulletin, True

    monkeypatch.setattr(domain, "create", blind)
    with hub.services.transaction() as tx:
        view, created = hub.services.bulletins.ingest(author, content, source="rss:race", source_ref="tin-1", tx=tx)
        assert (view["id"], created) == (winner["id"], False)
        monkeypatch.setattr(domain, "create", real)
        other, created = hub.services.bulletins.ingest(author, content, source="rss:race", source_ref="tin-2", tx=tx)
        assert created
    assert hub.services.bulletins.by_source("rss:race", "tin-1")["id"] == winner["id"]
    assert hub.services.bulletins.by_source("rss:race", "tin-2")["id"] == other["id"]
