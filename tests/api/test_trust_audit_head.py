"""Issue 14: `hub serve` writes the audit chain's head to its log (hourly by default), so an
outside copy of the log anchors the chain; the head it writes is the one `hub audit verify` prints."""

from __future__ import annotations

import logging
import time

from fastapi.testclient import TestClient

from hub.app import create_app
from hub.plugins import make_plugin_manager
from tests.conftest import People


def _heads(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hub.audit" and "audit head" in r.getMessage()]


def test_the_head_is_logged_at_start_and_every_period(settings, caplog):
    caplog.set_level(logging.INFO, logger="hub.audit")
    local = settings.model_copy(update={"audit_head_log_s": 0.3})
    with TestClient(create_app(local, pm=make_plugin_manager(local, entrypoints=False))) as client:
        hub = client.app.state.hub
        People(hub).commune("C9", "Xã Chín")  # an audited change
        hub.services.directory.add_commune(None, "C8", "Xã Tám")
        deadline = time.monotonic() + 10
        head = hub.services.audit.head()
        while not any(head["head"] in line for line in _heads(caplog)) and time.monotonic() < deadline:
            time.sleep(0.1)
        verified = hub.services.audit.verify()
    lines = _heads(caplog)
    assert len(lines) >= 2, lines
    assert any(f"entry #{head['entry']} hash {head['head']}" in line for line in lines), (head, lines)
    assert verified["intact"] and verified["head"] == head["head"]


def test_zero_switches_it_off(settings, caplog):
    caplog.set_level(logging.INFO, logger="hub.audit")
    local = settings.model_copy(update={"audit_head_log_s": 0})
    with TestClient(create_app(local, pm=make_plugin_manager(local, entrypoints=False))):
        time.sleep(0.2)
    assert _heads(caplog) == []
