"""The web channel: public feeds (RSS with podcast tags, Atom, JSON Feed), bulletin pages, CAP 1.2 out.

Everything here is public and read-only, and shows only approved, current, currently valid
bulletins published on the web channel; see docs/web.md.
"""

from __future__ import annotations

from typing import Any

from hub import hookimpl

from . import cap, feeds, page
from .settings import WebSettings

__all__ = ["WebSettings", "hub_register_routes"]


@hookimpl
def hub_register_routes(settings: Any) -> list:
    web = WebSettings()
    # CAP first: its /feeds/cap.atom must win over the commune feeds' /feeds/{commune}.atom.
    return [cap.make_router(settings, web), page.make_router(settings, web), feeds.make_router(settings, web)]
