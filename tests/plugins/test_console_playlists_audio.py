"""Programme audio in the playlist form (issue 12, item 2): uploaded or recorded in the form's
recorder (static/recorder.js, the bulletin page's own), sent to POST /api/v1/media with an upload
progress bar, mastered by the speech plugin, and added to the playlist as a ``media`` item.
TestClient for the form's parts, Chromium (file and fake microphone) for the whole path."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.clock import local_today
from hub.plugins import make_plugin_manager
from tests.plugins.console_client import PASSWORD, csrf, signed_in


def tone(path: Path, seconds: float, codec: list[str]) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
                    "-ac", "1", "-ar", "48000", *codec, str(path)], check=True)
    return path


@pytest.fixture
def app(settings):
    local = settings.model_copy(update={"disabled_plugins": ["slides"]})
    return create_app(local, pm=make_plugin_manager(local))


@pytest.fixture
def world(app):
    with TestClient(app):
        d = app.state.hub.services.directory
        d.add_commune(None, "A", "Xã Ái")
        d.add_commune(None, "B", "Xã Bé")
        d.add_user(None, "vanhanh", "operator", "A", password=PASSWORD)
        d.add_user(None, "vanhanh-b", "operator", "B", password=PASSWORD)
        yield app.state.hub


def upload(client: TestClient, token: str, path: Path, **fields) -> dict:
    """What recorder.js sends: multipart ``file`` and the section's fields, the session's CSRF token."""
    with path.open("rb") as handle:
        r = client.post("/api/v1/media", files={"file": (path.name, handle)}, data=fields,
                        headers={"X-CSRF-Token": token})
    assert r.status_code == 201, r.text
    return r.json()


def test_the_form_has_the_recorder_aimed_at_the_media_upload(app, world):
    c = signed_in(app, "vanhanh")
    page = c.get("/console/playlists/new").text
    section = re.search(r'<section class="recorder".*?</section>', page, re.S).group(0)
    assert 'data-upload-url="/api/v1/media"' in section and 'data-after="event"' in section
    assert 'data-upload-field="commune" value="A"' in section and 'id="recording-title"' in section
    assert 'class="record-progress"' in section and "Tải lên và thêm vào danh sách" in section
    assert f'data-csrf="{csrf(page)}"' in section and 'src="/console/static/recorder.js"' in page
    js = c.get("/console/static/recorder.js").text
    assert "XMLHttpRequest" in js and "upload.addEventListener(\"progress\"" in js and "recorder:done" in js
    assert "add:media:" in c.get("/console/static/playlist-form.js").text


def test_uploaded_audio_becomes_a_playlist_item(app, world, tmp_path):
    c = signed_in(app, "vanhanh")
    page = c.get("/console/playlists/new").text
    token = csrf(page)
    stored = upload(c, token, tone(tmp_path / "nhac-hieu.ogg", 2, ["-c:a", "libvorbis"]), commune="A",
                    title="Nhạc hiệu đài xã")
    assert stored["commune"] == "A" and stored["mime"] == "audio/mpeg" and stored["duration_s"] >= 2  # mastering pads it
    # What playlist-form.js posts on "recorder:done": the whole form with action add:media:<sha256>.
    fields = {"csrf_token": token, "commune": "A", "name": "Chương trình sáng", "times": "05:30",
              "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start_date": local_today().isoformat(),
              "priority": "0", "enabled": "true", "action": f"add:media:{stored['sha256']}"}
    shown = c.post("/console/playlists/new", data=fields)
    assert shown.status_code == 200
    picked = re.search(r'<ol class="records picked">.*?</ol>', shown.text, re.S).group(0)
    assert f'name="items" value="media:{stored["sha256"]}"' in picked and "Nhạc hiệu đài xã" in picked
    assert f'src="/media/{stored["sha256"]}"' in picked and "giây" in picked
    assert c.get(f"/media/{stored['sha256']}").status_code == 200
    saved = c.post("/console/playlists/new", data={**fields, "items": f"media:{stored['sha256']}", "action": "save"},
                   follow_redirects=False)
    assert saved.status_code == 303, saved.text
    [playlist] = world.services.playlists.listing(world.services.sessions.principal(c.cookies["hub_session"]), "A")
    assert playlist["items"] == [{"media": stored["sha256"]}]


def test_audio_uploaded_for_another_commune_is_not_offered(app, world, tmp_path):
    other = signed_in(app, "vanhanh-b")
    stored = upload(other, csrf(other.get("/console/playlists/new").text),
                    tone(tmp_path / "b.wav", 1, []), commune="B", title="Của xã Bé")
    c = signed_in(app, "vanhanh")
    token = csrf(c.get("/console/playlists/new").text)
    fields = {"csrf_token": token, "commune": "A", "name": "Thử", "times": "05:30", "days": ["mon"],
              "start_date": local_today().isoformat(), "priority": "0", "items": f"media:{stored['sha256']}"}
    shown = c.post("/console/playlists/new", data={**fields, "action": "search"})
    assert "Của xã Bé" not in shown.text and "Không tìm thấy tệp âm thanh này" in shown.text
    refused = c.post("/console/playlists/new", data={**fields, "action": "save"})
    assert refused.status_code == 422 and count_playlists(world) == 0
    # An operator cannot upload for another commune either (the media service's rule).
    with (tmp_path / "b.wav").open("rb") as handle:
        r = c.post("/api/v1/media", files={"file": ("b.wav", handle)}, data={"commune": "B"},
                   headers={"X-CSRF-Token": token})
    assert r.status_code == 404


def test_an_upload_that_is_not_audio_is_refused_and_nothing_added(app, world, tmp_path):
    c = signed_in(app, "vanhanh")
    token = csrf(c.get("/console/playlists/new").text)
    junk = tmp_path / "ghi-chu.mp3"
    junk.write_bytes(b"not audio at all " * 100)
    with junk.open("rb") as handle:
        r = c.post("/api/v1/media", files={"file": (junk.name, handle)}, data={"commune": "A"},
                   headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["detail"]
    without = c.post("/api/v1/media", files={"file": ("x.wav", b"RIFF")}, data={"commune": "A"})
    assert without.status_code in (401, 403)


def count_playlists(hub) -> int:
    from sqlalchemy import func, select

    from hub.models import Playlist

    with hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(Playlist))


# --- in Chromium: a file with its progress bar, then a take from the (fake) microphone ---------------

#: Counts the upload's progress events the page's XMLHttpRequest gets, for the test to read after.
COUNT_PROGRESS = """
(() => {
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (...args) {
    this.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        sessionStorage.setItem("progress-events", String(Number(sessionStorage.getItem("progress-events") || 0) + 1));
        sessionStorage.setItem("progress-total", String(e.total));
      }
    });
    return open.apply(this, args);
  };
  document.addEventListener("recorder:done", () => {
    sessionStorage.setItem("progress-shown", document.querySelector(".record-progress").value);
  });
})();
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from hub.config import Settings
    from hub.store import migrate
    from hub.testing import LiveServer

    work = tmp_path_factory.mktemp("playlist-audio")
    data = work / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    settings = Settings(data_dir=data, workers=0, tts_engines=["espeak"], disabled_plugins=["slides"])
    app = create_app(settings, pm=make_plugin_manager(settings))
    with LiveServer(app) as server:
        hub = app.state.hub
        hub.services.directory.add_commune(None, "LSN-CL", "Xã Cao Lộc")
        hub.services.directory.add_user(None, "vanhanh-cl", "operator", "LSN-CL", password=PASSWORD)
        server.hub, server.work = hub, work
        yield server


@pytest.mark.slow
def test_operator_uploads_and_records_programme_audio_in_chromium(live, monkeypatch):
    from playwright import sync_api

    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    monkeypatch.setenv("HUB_TEST_SCREENSHOTS", "/tmp/shots/playlists")
    song = tone(live.work / "dan-ca-vi-dam.wav", 20, [])  # about 1.9 MB: the upload takes several events
    voice = tone(live.work / "mic.wav", 4, [])
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright, fake_audio=voice)
        try:
            context = browser.new_context(viewport=SIZES["phone"])
            context.grant_permissions(["microphone"], origin=live.url)
            context.add_init_script(COUNT_PROGRESS)
            page = context.new_page()
            sign_in(page, live.url, "vanhanh-cl", PASSWORD)
            page.goto(live.url + "/console/playlists/new")
            page.fill("#name", "Chương trình dân ca")
            page.fill("#times", "19:00")
            page.set_input_files("#recording-file", str(song))
            page.fill("#recording-title", "Dân ca ví dặm")
            look(page, "playlists-audio-chosen")
            page.click("button.record-upload")
            page.wait_for_selector("ol.picked li.record:has-text('Dân ca ví dặm')", timeout=60_000)
            assert int(page.evaluate("sessionStorage.getItem('progress-events')")) >= 1
            assert int(page.evaluate("sessionStorage.getItem('progress-total')")) > song.stat().st_size
            assert page.evaluate("sessionStorage.getItem('progress-shown')") == "100"
            # The form kept what was typed; the item plays from the hub.
            assert page.input_value("#name") == "Chương trình dân ca" and page.input_value("#times") == "19:00"
            heard = page.locator("ol.picked audio").first.evaluate(
                "a => new Promise(done => { a.addEventListener('loadedmetadata', () => done(a.duration)); a.load(); })")
            assert heard >= 20
            look(page, "playlists-audio-uploaded")
            # A take from the microphone, through the same recorder as a bulletin's.
            page.click("button.record-start")
            page.wait_for_selector("button.record-stop:not([disabled])")
            page.wait_for_timeout(1500)
            page.click("button.record-stop")
            page.wait_for_selector("audio.record-playback:not([hidden])")
            page.click("button.record-send")
            page.locator("ol.picked li.record").nth(1).wait_for(timeout=60_000)
            look(page, "playlists-audio-recorded")
            page.set_viewport_size(SIZES["desktop"])
            look(page, "playlists-audio-recorded")
            page.click("button[value=save]")
            page.wait_for_url("**/console/playlists?*done=saved*")
        finally:
            browser.close()
    rows = live.hub.services.playlists.listing(operator(live.hub), "LSN-CL")
    [saved] = [p for p in rows if p["name"] == "Chương trình dân ca"]
    assert [set(i) for i in saved["items"]] == [{"media"}, {"media"}]
    uploads = live.hub.services.media.programmes(operator(live.hub), [i["media"] for i in saved["items"]])
    assert uploads[saved["items"][0]["media"]]["title"] == "Dân ca ví dặm"
    assert uploads[saved["items"][0]["media"]]["duration_s"] >= 20 and uploads[saved["items"][1]["media"]]["duration_s"] > 1


def operator(hub):
    return hub.services.sessions.sign_in("vanhanh-cl", PASSWORD, ip=None, user_agent=None)[1]
