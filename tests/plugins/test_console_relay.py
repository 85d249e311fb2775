"""The playlist editor's relay (tiếp sóng): add one from its URL and minutes, check the stream,
save it as the API's {stream_url, duration_s}; bad input is a Vietnamese error. Chromium at the
phone's and the desktop's size."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from hub import stream_check
from hub.auth import Principal
from hub.clock import LOCAL_TZ, local_today
from hub.services.devices import Play
from tests.agent.relay_stream import station  # noqa: F401  (fixture)
from tests.plugins.console_client import PASSWORD, signed_in
from tests.plugins.test_console_playlists import app, form, live  # noqa: F401  (fixtures: the hubs)

VOV = "https://stream.vov.example/vov1.mp3"
# Chromium drives part of this module: the SQLite lane only, like the console's other browser tests.
pytestmark = pytest.mark.sqlite_only


def station_by_name(monkeypatch, station) -> str:
    """The test's station under a public-looking name: the name resolves to it and only its
    loopback address is let through, so the page's check reaches it as it would a real station."""
    port = station.url.split(":")[2].split("/")[0]
    monkeypatch.setattr(stream_check, "_resolve", lambda host, p: ["127.0.0.1"] if host == "vov.test" else [])
    real = stream_check.refused_reason
    monkeypatch.setattr(stream_check, "refused_reason", lambda a: None if a == "127.0.0.1" else real(a))
    return f"http://vov.test:{port}/vov1.mp3"


def test_add_check_and_save_a_relay(app, station, monkeypatch):
    with TestClient(app):
        hub = app.state.hub
        hub.services.directory.add_commune(None, "A", "Xã Ái")
        hub.services.directory.add_user(None, "vanhanh", "operator", "A", password=PASSWORD)
        operator = hub.services.sessions.sign_in("vanhanh", PASSWORD, ip=None, user_agent=None)[1]
        with signed_in(app, "vanhanh") as c:
            page = c.get("/console/playlists/new")
            assert "Tiếp sóng đài phát thanh" in page.text
            bad = c.post("/console/playlists/new", data=form(page.text, action="stream_add",
                                                              stream_url="rtsp://vov.example/x", stream_minutes="30"))
            assert bad.status_code == 422 and "phải bắt đầu bằng http:// hoặc https://" in bad.text
            bad = c.post("/console/playlists/new", data=form(page.text, action="stream_add", stream_url=VOV,
                                                              stream_minutes="999"))
            assert bad.status_code == 422 and "từ 1 đến 360" in bad.text
            asked = len(station.hosts)
            refused = c.post("/console/playlists/new", data=form(page.text, action="stream_check",
                                                                  stream_url=station.url))
            assert "mạng nội bộ" in refused.text  # the test's station is on loopback: never reached
            assert len(station.hosts) == asked
            named = station_by_name(monkeypatch, station)
            checked = c.post("/console/playlists/new", data=form(page.text, action="stream_check", stream_url=named))
            assert "Luồng đang phát: đài trả lời 200 (audio/mpeg)" in checked.text, checked.text
            assert station.hosts[-1].startswith("vov.test:")
            assert f'value="{named}"' in checked.text  # the field keeps what was typed
            page = c.post("/console/playlists/new", data=form(checked.text, action="stream_add", stream_url=VOV,
                                                               stream_minutes="15"))
            assert re.findall(r'name="items" value="([^"]+)"', page.text) == [f"stream:900:{VOV}"]
            assert f"Tiếp sóng: {VOV}" in page.text and 'id="stream_url"' in page.text
            later = (datetime.now(LOCAL_TZ) + timedelta(minutes=1)).strftime("%H:%M")
            if later < datetime.now(LOCAL_TZ).strftime("%H:%M"):
                pytest.skip("too close to midnight for a relay later today")
            r = c.post("/console/playlists/new", data=form(page.text, action="save", name="Tiếp sóng VOV",
                                                           times=later),
                       follow_redirects=False)
            assert r.status_code == 303, r.text
            [saved] = hub.services.playlists.listing(operator, "A")
            assert saved["items"] == [{"stream_url": VOV, "duration_s": 900}]
            edit = c.get(f"/console/playlists/{saved['id']}")
            assert f'value="stream:900:{VOV}"' in edit.text
            # A loudspeaker reports the relay with the seconds it heard; the week shows them.
            speaker = hub.services.directory.register_device(None, "Loa thôn Một", "A")
            [relay] = [p for prog in hub.services.playlists.timeline(operator, "A", local_today(), 1)["programmes"]
                       for p in prog["plays"]]
            device = Principal(speaker["id"], "Loa thôn Một", "device", "A", "speaker")
            hub.services.devices.record_plays(device, [Play(str(uuid.uuid4()), relay["id"], None, relay["starts_at"],
                                                            relay["ends_at"], "played", heard_s=851.4)])
            timeline = c.get("/console/playlists?commune=A").text
            item = timeline.split(f'data-item="{relay["id"]}"', 1)[1].split("</li>", 1)[0]
            assert f"Tiếp sóng: {VOV}" in item and "Loa thôn Một (trọn vẹn, nghe được 14 phút 11 giây)" in item
            # Airtime counts the seconds heard, not the 15-minute slot (raw reports and roll-ups alike).
            today = local_today().isoformat()
            for count in (hub.services.monitoring.airtime, hub.services.monitoring.airtime_raw):
                [row] = count(operator, today, today, "A", scheduled=False)
                assert (row["plays"], row["seconds"]) == (1, pytest.approx(851.4)), row


def test_operator_adds_a_relay_in_chromium(live, station, monkeypatch):
    from playwright import sync_api

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    monkeypatch.setenv("HUB_TEST_SCREENSHOTS", "/tmp/h15a/shots")
    named = station_by_name(monkeypatch, station)
    hub, people = live.hub, live.people
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            # The whole flow on the phone; the desktop only shows the form with a relay in it.
            for size in ("phone", "desktop"):
                name = f"Tiếp sóng VOV ({size})"
                page = browser.new_page(viewport=SIZES[size])
                sign_in(page, live.url, "vanhanh-cl", PASSWORD)
                page.goto(live.url + "/console/playlists/new")
                page.fill("#name", name)
                page.fill("#stream_url", named)
                page.fill("#stream_minutes", "30")
                if size == "phone":
                    page.click("button[value=stream_check]")
                    page.wait_for_load_state()
                    assert "Luồng đang phát" in page.locator("#stream-check").inner_text()
                page.click("button[value=stream_add]")
                page.wait_for_load_state()
                picked = page.locator("ol.picked li.record")
                assert picked.count() == 1 and named in picked.first.inner_text()
                look(page, "relay-form")
                if size == "phone":
                    page.fill("#times", (datetime.now(LOCAL_TZ) + timedelta(hours=1)).strftime("%H:%M"))
                    page.click("button[value=save]")
                    page.wait_for_load_state()
                    assert "done=saved" in page.url, page.locator("main").inner_text()
                    saved = [p for p in hub.services.playlists.listing(people["vanhanh-cl"], "LSN-CL")
                             if p["name"] == name]
                    assert saved[0]["items"] == [{"stream_url": named, "duration_s": 1800}]
                page.close()
        finally:
            browser.close()
