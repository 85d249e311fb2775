"""A bulletin written, approved and rendered through the real chain, for the voice engines' tests."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.app import create_app
from hub.plugins import make_plugin_manager
from tests.conftest import People, bulletin_payload


def rendered_audio(settings, *, engines: list[str], body: str, title: str = "Thông báo",
                   commune_voice: str | None = None) -> list[dict]:
    """The audio artifacts of a bulletin for commune A (its voice ``commune_voice``), spoken by ``engines``."""
    local = settings.model_copy(update={"tts_engines": engines, "disabled_plugins": ["slides"]})
    with TestClient(create_app(local, pm=make_plugin_manager(local))) as client:
        hub = client.app.state.hub
        people = People(hub)
        people.commune("A")
        if commune_voice:
            hub.services.directory.update_commune(None, "A", voice=commune_voice)
        author, approver = people.user("a", "editor"), people.user("b", "editor")
        payload = bulletin_payload(targets=["A"], channels=["speaker"], title=title, body=body)
        bid = client.post("/api/v1/bulletins", json=payload, headers=author).json()["id"]
        client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
        client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver)
        while hub.pipeline.run_one():
            pass
        view = client.get(f"/api/v1/bulletins/{bid}", headers=author).json()
        assert view["render_status"] == "done", view["error"]
        return [a for a in view["artifacts"] if a["kind"] == "audio"]
