"""Bulletins from elsewhere: CAP 1.2 alerts posted to the hub, and RSS/Atom feeds it polls.

See docs/ingest.md for the settings (``HUB_INGEST_*``), the severity table and the trust model.
"""

from __future__ import annotations

from fastapi import APIRouter

from hub import hookimpl

from .api import build_router
from .feeds import Poller, add_source, list_sources, poll_once, start_poller
from .settings import IngestSettings

__all__ = ["IngestSettings", "Poller", "add_source", "build_router", "hub_register_commands", "hub_register_routes", "list_sources",
           "poll_once", "start_poller"]


@hookimpl
def hub_register_commands(subparsers) -> None:
    from .cli import add_arguments

    add_arguments(subparsers)


@hookimpl
def hub_register_routes() -> list[APIRouter]:
    # Reads HUB_INGEST_* only; the poller thread starts with the app's lifespan, not here.
    return [build_router(IngestSettings())]
