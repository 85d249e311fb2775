"""The plugin manager factory and the helpers that collect what plugins register."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import threading
from typing import Any

import pluggy

from hub import hookspecs
from hub.errors import PluginError

log = logging.getLogger(__name__)
GROUP = "hub"


def make_plugin_manager(settings: Any, *, entrypoints: bool = True) -> pluggy.PluginManager:
    """A fresh manager: hookspecs, installed entry points minus the disabled ones, extra modules."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for name in settings.disabled_plugins:
        pm.set_blocked(name)
    if entrypoints:
        installed = importlib.metadata.entry_points(group=GROUP)
        if not installed:
            raise PluginError(
                "no hub plugins are installed: install the project (pip install -e .) so that its "
                "built-in plugins are registered under the 'hub' entry-point group")
        pm.load_setuptools_entrypoints(GROUP)
    for module_name in settings.extra_plugins:
        if pm.is_blocked(module_name):
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise PluginError(f"HUB_EXTRA_PLUGINS: cannot import {module_name!r}: {exc}") from exc
        pm.register(module, name=module_name)
    pm.check_pending()
    return pm


def plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or repr(plugin)


def list_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Every loaded plugin with its version and the hooks it implements, sorted by name."""
    versions = {id(plugin): dist.version for plugin, dist in pm.list_plugin_distinfo()}
    listing = []
    for plugin in pm.get_plugins():
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        version = versions.get(id(plugin)) or getattr(plugin, "__version__", None)
        listing.append({"name": plugin_name(pm, plugin), "version": version, "hooks": hooks})
    return sorted(listing, key=lambda item: item["name"])


def collect(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a registration hook on every plugin and return (plugin name, item) pairs, flattened."""
    caller = getattr(pm.hook, hook_name)
    pairs: list[tuple[str, Any]] = []
    for impl in caller.get_hookimpls():
        items = impl.function(**{name: kwargs[name] for name in impl.argnames})
        for item in items or ():
            pairs.append((impl.plugin_name, item))
    return pairs


def collect_named(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> dict[str, Any]:
    """Like collect, keyed by each item's ``name``; two plugins offering one name is an error."""
    found: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for plugin, item in collect(pm, hook_name, **kwargs):
        name = item.name
        if name in found:
            raise PluginError(f"{hook_name}: '{name}' is registered by both {owners[name]} and {plugin}")
        found[name] = item
        owners[name] = plugin
    return found


def collect_renderers(pm: pluggy.PluginManager, settings: Any) -> dict[str, Any]:
    return collect_named(pm, "hub_register_renderers", settings=settings)


def collect_tts_engines(pm: pluggy.PluginManager, settings: Any) -> dict[str, Any]:
    return collect_named(pm, "hub_register_tts_engines", settings=settings)


def collect_text_normalizers(pm: pluggy.PluginManager, settings: Any) -> list[Any]:
    steps = collect_named(pm, "hub_register_text_normalizers", settings=settings)
    return sorted(steps.values(), key=lambda step: (step.order, step.name))


def notify(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Call a notification hook on each plugin in turn; a failing plugin is logged and skips nobody."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        try:
            impl.function(**{name: kwargs[name] for name in impl.argnames})
        except Exception:
            log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)


class RegistrationCache:
    """A hook relay that remembers what registration hooks returned.

    Registration hooks are cheap and free of side effects by contract, so their results for given
    settings never change within a process. Keeping them means objects with state — a TTS engine's
    circuit breaker, a normaliser's loaded lexicon — live as long as the process, not one render.
    Every other hook passes straight through.
    """

    def __init__(self, hook: Any) -> None:
        self._hook = hook
        self._results: dict[tuple[str, int], tuple[Any, list]] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        caller = getattr(self._hook, name)
        if not name.startswith("hub_register_") or name in ("hub_register_routes", "hub_register_commands"):
            return caller

        def cached(**kwargs: Any) -> list:
            settings = kwargs.get("settings")
            key = (name, id(settings))
            with self._lock:
                hit = self._results.get(key)
                if hit is None or hit[0] is not settings:
                    hit = (settings, caller(**kwargs))
                    self._results[key] = hit
                return hit[1]

        return cached
