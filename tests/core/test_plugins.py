"""The plugin system: entry points, disabling, throwaway plugins, duplicates, listing."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from hub import hookimpl
from hub.app import create_app
from hub.cli import main as hub_cli
from hub.errors import PluginError
from hub.plugin_types import Renderer, TextNormalizer
from hub.plugins import collect_renderers, collect_text_normalizers, list_plugins, make_plugin_manager

BUILT_INS = {"normalize_vi", "tts_espeak", "tts_gtts", "speech"}


def test_built_ins_load_through_entry_points(settings):
    pm = make_plugin_manager(settings)
    names = {p["name"] for p in list_plugins(pm)}
    assert BUILT_INS <= names
    declared = {ep.name for ep in importlib.metadata.entry_points(group="hub")}
    assert BUILT_INS <= declared


def test_disabled_plugin_is_not_loaded(settings):
    pm = make_plugin_manager(settings.model_copy(update={"disabled_plugins": ["tts_gtts"]}))
    names = {p["name"] for p in list_plugins(pm)}
    assert "tts_gtts" not in names and "tts_espeak" in names


def test_disabled_applies_to_extra_plugins_too(settings):
    local = settings.model_copy(update={"extra_plugins": ["tests.slow_plugin"], "disabled_plugins": ["tests.slow_plugin"]})
    assert "tests.slow_plugin" not in {p["name"] for p in list_plugins(make_plugin_manager(local))}
    local = settings.model_copy(update={"extra_plugins": ["tests.slow_plugin"]})
    assert "slow" in collect_renderers(make_plugin_manager(local), local)


def test_no_plugins_installed_is_a_clear_error(settings, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [])
    with pytest.raises(PluginError, match="no hub plugins are installed"):
        make_plugin_manager(settings)


def test_unimportable_extra_plugin_is_a_clear_error(settings):
    with pytest.raises(PluginError, match="cannot import 'no_such_module_xyz'"):
        make_plugin_manager(settings.model_copy(update={"extra_plugins": ["no_such_module_xyz"]}))


def test_throwaway_plugin_registers_and_unregisters(settings):
    class Throwaway:
        @hookimpl
        def hub_register_text_normalizers(self):
            return [TextNormalizer(name="shout", order=950, normalize=str.upper)]

    pm = make_plugin_manager(settings)
    plugin = Throwaway()
    pm.register(plugin, name="throwaway")
    try:
        steps = collect_text_normalizers(pm, settings)
        assert steps[-1].name == "shout"
        assert [s.order for s in steps] == sorted(s.order for s in steps)
        assert "throwaway" in {p["name"] for p in list_plugins(pm)}
    finally:
        pm.unregister(plugin)
    assert "shout" not in {s.name for s in collect_text_normalizers(pm, settings)}


def test_duplicate_names_are_an_error_naming_both_plugins(settings):
    class One:
        @hookimpl
        def hub_register_renderers(self):
            return [Renderer(name="twin", channel="web", render=lambda ctx: [])]

    class Two(One):
        pass

    pm = make_plugin_manager(settings)
    pm.register(One(), name="plugin-one")
    pm.register(Two(), name="plugin-two")
    with pytest.raises(PluginError, match="'twin' is registered by both plugin-(one|two) and plugin-(one|two)"):
        collect_renderers(pm, settings)


def test_bad_hook_implementation_is_refused(settings):
    from pluggy import PluginValidationError

    class Bad:
        @hookimpl
        def hub_register_renderers(self, no_such_argument):
            return []

    pm = make_plugin_manager(settings)
    with pytest.raises(PluginValidationError):
        pm.register(Bad())


def test_plugin_routes_are_mounted(settings):
    from fastapi import APIRouter
    from fastapi.testclient import TestClient

    class Routes:
        @hookimpl
        def hub_register_routes(self, settings):
            router = APIRouter(prefix="/api/v1/hello")
            router.add_api_route("", lambda: {"province": settings.province})
            return [router]

    pm = make_plugin_manager(settings)
    pm.register(Routes())
    with TestClient(create_app(settings, pm=pm)) as client:
        assert client.get("/api/v1/hello").json() == {"province": settings.province}


def test_notification_hooks_are_called_and_a_failing_one_does_not_break_approval(settings):
    from fastapi.testclient import TestClient

    from tests.conftest import People, bulletin_payload

    seen: dict[str, list] = {"approved": [], "stored": []}

    class Listener:
        @hookimpl
        def hub_on_bulletin_approved(self, bulletin):
            seen["approved"].append(bulletin)

        @hookimpl
        def hub_on_artifact_stored(self, artifact, bulletin):
            seen["stored"].append((artifact, bulletin.id))

        @hookimpl
        def hub_register_renderers(self):
            from hub.plugin_types import RenderedMedia

            return [Renderer(name="echo", channel="web",
                             render=lambda ctx: [RenderedMedia("feed", "text/plain", ctx.bulletin.title.encode())])]

    class Broken:
        @hookimpl
        def hub_on_bulletin_approved(self):
            raise RuntimeError("listener bug")

    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"]})
    pm = make_plugin_manager(local)
    pm.register(Listener())
    pm.register(Broken())
    with TestClient(create_app(local, pm=pm)) as client:
        people = People(client.app.state.hub)
        author, approver = people.user("a", "editor"), people.user("b", "editor")
        bid = client.post("/api/v1/bulletins", json=bulletin_payload(channels=["web"]), headers=author).json()["id"]
        client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
        assert client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver).status_code == 200
        assert [b.id for b in seen["approved"]] == [bid]
        assert seen["approved"][0].content_hash == client.get(f"/api/v1/bulletins/{bid}", headers=author).json()["content_hash"]
        assert client.app.state.hub.pipeline.run_one()
    assert seen["stored"][0][1] == bid and seen["stored"][0][0]["kind"] == "feed"


def test_plugins_cli_and_api_agree(settings, client, people, capsys, monkeypatch):
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    assert hub_cli(["plugins", "--json"]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    headers = people.user("m", "monitor")
    from_api = client.get("/api/v1/plugins", headers=headers).json()
    assert from_cli == from_api
    assert all(set(p) == {"name", "version", "hooks"} for p in from_api)
    espeak = next(p for p in from_api if p["name"] == "tts_espeak")
    assert espeak["hooks"] == ["hub_register_tts_engines"] and espeak["version"]
    assert client.get("/api/v1/plugins").status_code == 401


def test_plugins_add_cli_commands(settings, capsys):
    from hub.cli import build_parser

    class Weather:
        @hookimpl
        def hub_register_commands(self, subparsers):
            p = subparsers.add_parser("weather", help="print the forecast")
            p.add_argument("--commune", required=True)
            p.set_defaults(func=lambda args, settings: print(f"nắng ở {args.commune}") or 3)

    pm = make_plugin_manager(settings)
    pm.register(Weather())
    args = build_parser(pm, settings).parse_args(["weather", "--commune", "X1"])
    assert args.func(args, settings) == 3
    assert capsys.readouterr().out.strip() == "nắng ở X1"
    # The built-in ingest plugin contributes `hub sources` the same way.
    assert build_parser(pm, settings).parse_args(["sources", "list"]).func.__module__ == "hub_ingest.cli"
