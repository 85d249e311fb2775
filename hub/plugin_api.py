"""What a plugin may use from the core, beside ``hub.hookimpl`` and the types in ``hub.plugin_types``.

Plugins import from here and nowhere else in ``hub`` (a test walks ``plugins/`` to keep it so), in
the spirit of Datasette's and llm's plugin layers: a small surface the core promises to keep, so
the core's internals (its tables, its routers, its pipeline) can change without breaking plugins.
docs/plugins.md, "What a plugin may import", lists these names.

- **Services**: ``Hub.services`` (:class:`hub.services.Services`) is every operation the hub
  offers — bulletins, playlists, the directory, devices, monitoring, play history, media, import sources — each
  running in its own transaction with its after-effects; see docs/architecture.md.
- **Routes**: the dependency aliases a plugin's FastAPI routes declare (``HubDep``,
  ``CurrentUser``, ``CurrentDevice``, ``ReadSession``), and :func:`bearer_token`.
- **Who is asking**: :class:`Principal`, role names, :func:`authenticate` for pages that take a
  token from a query string.
- **Errors** to raise: each maps to its HTTP status in one place (hub/api/errors.py).
- **Small rules**: the local time zone and clock, :data:`NoNul` for text fields, conditional GET.
- **What the public may see**: :mod:`hub.publication` (feeds, public pages, CAP out).
"""

from __future__ import annotations

from hub import __version__, publication
from hub.api.deps import CurrentDevice, CurrentPrincipal, CurrentUser, HubDep, bearer_token
from hub.api.deps import ReadDB as ReadSession
from hub.api.device import event_stream, manifest_response
from hub.auth import EDITORS, ROLES, Principal, authenticate
from hub.breaker import CircuitBreaker, Retryable, looks_like_mp3, retry_after, with_retries
from hub.clock import LOCAL_TZ, local, local_today, utcnow
from hub.errors import Conflict, Forbidden, HubError, Invalid, NotFound, TooLarge, Unauthenticated
from hub.http import etag_for, etag_matches, not_modified
from hub.runtime import Hub
from hub.services import Services, Transaction
from hub.services.pronunciations import entries_for as pronunciations
from hub.services.sessions import Limits as SessionLimits, Throttled, WrongPassword, session_csrf
from hub.validation import NoNul, has_nul, refuse_nul, well_formed_id
from hub.config import PluginSettings, Settings, split_csv

__all__ = [
    "CircuitBreaker", "EDITORS", "Retryable", "looks_like_mp3", "retry_after", "with_retries", "LOCAL_TZ", "PluginSettings", "ROLES", "Settings", "split_csv", "Conflict", "CurrentDevice", "CurrentPrincipal", "CurrentUser", "Forbidden", "Hub",
    "HubError", "Invalid", "NoNul", "NotFound", "Principal", "ReadSession", "Services", "SessionLimits", "Throttled", "WrongPassword", "session_csrf", "TooLarge", "Transaction",
    "Unauthenticated", "__version__", "authenticate", "bearer_token", "etag_for", "etag_matches", "event_stream",
    "has_nul", "local", "local_today", "manifest_response", "not_modified", "plugin_hooks", "pronunciations", "publication",
    "refuse_nul", "utcnow", "well_formed_id",
]


def plugin_hooks(settings):
    """A hook relay for a command that needs registrations (voices, normalisers) without opening
    a hub: a fresh plugin manager whose registration hooks are collected once."""
    from hub.plugins import Registrations, make_plugin_manager

    return Registrations(make_plugin_manager(settings), settings)
