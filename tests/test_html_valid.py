"""Every HTML page the hub serves passes the Nu HTML Checker (vnu) with no error.

The pages are fetched from one hub (public bulletin page and its 404, the display's kiosk page,
the console's sign-in page and, signed in, the console's pages), saved to one folder and checked
by a single run of vnu (one JVM start). vnu comes from npm's vnu-jar and needs Java; ./dev installs
both for the tests (default-jre-headless, and vnu-jar under .venv/node).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.plugins import make_plugin_manager
from tests.conftest import ROOT, People, bulletin_payload
from tests.plugins.console_client import PASSWORD, signed_in
from tests.plugins.test_web_feeds import MediaRenderer

VNU_JAR = Path(os.environ.get("HUB_VNU_JAR", ROOT / ".venv/node/node_modules/vnu-jar/build/dist/vnu.jar"))

#: Console pages whose template has an error that is not ours to fix here (see the reason).
#: Console pages known to be invalid HTML, with the error (strict: fixing one fails its xfail). None now.
CONSOLE_XFAIL: dict[str, str] = {}

PUBLIC_PAGES = ("bulletin", "bulletin-404", "display", "login")
CONSOLE_PAGES = ("console", "bulletins", "bulletin-new", "bulletin-view", "bulletin-edit", "emergency",
                 "users", "user-new", "user", "communes", "commune-new", "commune", "devices", "device-new",
                 "device-token", "audit", "account", "monitor", "monitor-commune", "monitor-bulletin",
                 "console-404", "pronunciations", "pronunciation", "live", "playlists", "playlist-new")


def _vnu(folder: Path) -> list[dict[str, Any]]:
    java = shutil.which("java")
    if java is None or not VNU_JAR.is_file():
        pytest.fail(f"the Nu HTML Checker needs java and {VNU_JAR}: run ./dev setup "
                    "(default-jre-headless, npm's vnu-jar)")
    run = subprocess.run([java, "-jar", str(VNU_JAR), "--errors-only", "--format", "json", str(folder)],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(run.stderr or run.stdout or '{"messages": []}')
    return report["messages"]


@pytest.fixture(scope="module")
def checked(tmp_path_factory, migrated_db) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Page name → vnu's errors on it (an empty list for a clean page)."""
    data = tmp_path_factory.mktemp("html") / "var"
    data.mkdir()
    shutil.copyfile(migrated_db, data / "hub.db")
    settings = Settings(data_dir=data, workers=0, tts_engines=["espeak"], disabled_plugins=["speech", "slides"])
    pm = make_plugin_manager(settings)
    pm.register(MediaRenderer(_mp3(tmp_path_factory), _png()), name="test-media")
    app = create_app(settings, pm=pm)
    with TestClient(app) as client:
        hub = app.state.hub
        people = People(hub)
        people.commune("X1", "Xã Hữu Lũng")
        author = people.user("tacgia", "editor")
        approver = people.user("pheduyet", "editor")
        people.device("bang-1", "X1", kind="display")
        board = people.tokens["bang-1"]
        people.device("loa-1", "X1")
        admin_id = hub.services.directory.add_user(None, "quantri", "admin", None, password=PASSWORD)["id"]

        def created(**fields: Any) -> str:
            r = client.post("/api/v1/bulletins", json=bulletin_payload(**fields), headers=author)
            assert r.status_code == 201, r.text
            return r.json()["id"]

        published = created(title="Lịch tiêm chủng", body="Ngày 05/12 tiêm chủng.\n\nMang sổ tiêm.")
        client.post(f"/api/v1/bulletins/{published}/submit", headers=author)
        assert client.post(f"/api/v1/bulletins/{published}/approve", headers=approver).status_code == 200
        while hub.pipeline.run_one():
            pass
        draft = created(title="Bản nháp")
        word = hub.services.pronunciations.put(None, "Khau Phạ", "Khau Phả", "đèo")["id"]

        urls = {
            "bulletin": (client, f"/b/{published}", {}),
            "bulletin-404": (client, "/b/khong-co", {"Accept": "text/html"}),
            "display": (client, f"/display?token={board}", {}),
            "login": (TestClient(app), "/login", {}),
        }
        console = signed_in(app, "quantri")
        for name, path in (
                ("console", "/console"), ("bulletins", "/console/bulletins"),
                ("bulletin-new", "/console/bulletins/new"), ("bulletin-view", f"/console/bulletins/{published}"),
                ("bulletin-edit", f"/console/bulletins/{draft}/edit"), ("emergency", "/console/emergency"),
                ("users", "/console/users"), ("user-new", "/console/users/new"),
                ("user", f"/console/users/{admin_id}"), ("communes", "/console/communes"),
                ("commune-new", "/console/communes/new"), ("commune", "/console/communes/X1"),
                ("devices", "/console/devices"), ("device-new", "/console/devices/new"),
                ("device-token", f"/console/devices/{people.ids['loa-1']}/token"),
                ("console-404", "/console/bulletins/khong-co"),
                ("audit", "/console/audit"), ("account", "/console/account"), ("monitor", "/console/monitor"),
                ("monitor-commune", "/console/monitor/communes/X1"),
                ("monitor-bulletin", f"/console/monitor/bulletins/{published}"),
                ("pronunciations", "/console/pronunciations"), ("pronunciation", f"/console/pronunciations/{word}"), ("live", "/console/live"),
                ("playlists", "/console/playlists?commune=X1"), ("playlist-new", "/console/playlists/new?commune=X1")):
            urls[name] = (console, path, {})
        assert set(urls) == set(PUBLIC_PAGES + CONSOLE_PAGES)

        folder = tmp_path_factory.mktemp("pages")
        for name, (who, path, headers) in urls.items():
            response = who.get(path, headers=headers)
            expected = 404 if name.endswith("404") else 200
            assert response.status_code == expected, (name, path, response.status_code)
            assert response.headers["content-type"].startswith("text/html"), (name, path)
            (folder / f"{name}.html").write_bytes(response.content)
        # A page with a known error: proves vnu really read the folder (an empty report proves nothing).
        (folder / "canary.html").write_text('<!doctype html><html lang="en"><title>t</title><img alt="">')
        messages = _vnu(folder)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
    for message in messages:
        name = Path(message.get("url", "").removeprefix("file:")).stem
        found.setdefault(name, []).append(message)
    canary = found.pop("canary", [])
    assert any("src" in m.get("message", "") for m in canary), f"vnu missed the canary's error: {canary}"
    yield found


def _mp3(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("mp3") / "tone.mp3"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k",
                    "-y", str(path)], check=True)
    return path.read_bytes()


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 18), (139, 26, 26)).save(out, format="PNG")
    return out.getvalue()


def _describe(errors: list[dict[str, Any]]) -> str:
    return "\n".join(f"  line {e.get('lastLine')}: {e.get('message')} [{e.get('extract', '').strip()[:80]}]"
                     for e in errors)


def _params() -> list:
    params = []
    for name in PUBLIC_PAGES + CONSOLE_PAGES:
        marks = [pytest.mark.xfail(reason=CONSOLE_XFAIL[name], strict=True)] if name in CONSOLE_XFAIL else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _params())
def test_page_is_valid_html(checked, name):
    errors = checked[name]
    assert not errors, f"{name}.html has {len(errors)} HTML error(s):\n{_describe(errors)}"


def test_vnu_reported_only_pages_we_saved(checked):
    """A message on something else (vnu failing to read the folder, say) is a failure too."""
    assert set(checked) == set(PUBLIC_PAGES + CONSOLE_PAGES), _describe(
        [m for name, ms in checked.items() if name not in PUBLIC_PAGES + CONSOLE_PAGES for m in ms])
