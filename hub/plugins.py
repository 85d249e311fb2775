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


def _callers(pm: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Any]]:
    """(plugin name, a hook caller for that plugin alone) for each implementation, in call order.

    Going through pluggy's own callers (not calling the functions directly) keeps hook wrappers,
    tracing and argument checks working for every plugin.
    """
    impls = list(reversed(getattr(pm.hook, hook_name).get_hookimpls()))  # pluggy calls the last registered first
    plugins = [impl.plugin for impl in impls]
    return [(impl.plugin_name, pm.subset_hook_caller(hook_name, remove_plugins=[p for p in plugins if p is not impl.plugin]))
            for impl in impls]


def collect(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a registration hook on every plugin and return (plugin name, item) pairs, flattened."""
    pairs: list[tuple[str, Any]] = []
    for plugin, caller in _callers(pm, hook_name):
        for items in caller(**kwargs):
            pairs.extend((plugin, item) for item in items or ())
    return pairs


def collect_named(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> dict[str, Any]:
    """The one collection rule of every registration hook: items keyed by their ``name``; two
    plugins (or one plugin twice) offering one name is an error naming both."""
    found: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for plugin, item in collect(pm, hook_name, **kwargs):
        name = item.name
        if name in found:
            raise PluginError(f"{hook_name}: '{name}' is registered by both {owners[name]} and {plugin}")
        found[name] = item
        owners[name] = plugin
    return found


def notify(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Call a notification hook on each plugin in turn; a failing plugin is logged and skips nobody."""
    for plugin, caller in _callers(pm, hook_name):
        try:
            caller(**kwargs)
        except Exception:
            log.exception("plugin %s failed in %s", plugin, hook_name)


class Registrations:
    """What plugins registered, collected once per process by the one rule of :func:`collect_named`.

    Registration hooks are cheap and free of side effects by contract, so their results for given
    settings never change within a process. Keeping them means objects with state — a TTS engine's
    circuit breaker, a normaliser's loaded lexicon — live as long as the process, not one render.
    Renderers get this as ``ctx.hook``.
    """

    def __init__(self, pm: pluggy.PluginManager, settings: Any) -> None:
        self.pm = pm
        self.settings = settings
        self._results: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def named(self, hook_name: str) -> dict[str, Any]:
        """Every item a registration hook returned, by name (cached)."""
        with self._lock:
            if hook_name not in self._results:
                self._results[hook_name] = collect_named(self.pm, hook_name, settings=self.settings)
            return self._results[hook_name]

    def renderers(self) -> dict[str, Any]:
        return self.named("hub_register_renderers")

    def tts_engines(self) -> dict[str, Any]:
        return self.named("hub_register_tts_engines")

    def text_normalizers(self) -> list[Any]:
        """The normaliser steps in the order they run (ascending ``order``, then name)."""
        return sorted(self.named("hub_register_text_normalizers").values(), key=lambda step: (step.order, step.name))

    def __getattr__(self, name: str) -> Any:
        # The pluggy relay's shape (``hook.hub_register_x(settings=…)`` gives a list per plugin),
        # for plugins written against it: the same cached items, one list.
        if name.startswith("hub_register_") and name not in ("hub_register_routes", "hub_register_commands"):
            return lambda **_kwargs: [list(self.named(name).values())]
        raise AttributeError(name)


def collect_renderers(pm: pluggy.PluginManager, settings: Any) -> dict[str, Any]:
    return collect_named(pm, "hub_register_renderers", settings=settings)


def collect_text_normalizers(pm: pluggy.PluginManager, settings: Any) -> list[Any]:
    return Registrations(pm, settings).text_normalizers()

