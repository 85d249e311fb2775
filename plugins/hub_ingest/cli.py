"""``hub sources add|list|poll``: the feeds the hub imports bulletins from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hub.plugin_api import Hub

from .feeds import add_source, list_sources, poll_once
from .settings import IngestSettings


def _print(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def _open_hub(settings: Any) -> Hub:
    return Hub.open(settings)


def cmd_sources_add(args: argparse.Namespace, settings: Any) -> int:
    hub = _open_hub(settings)
    try:
        _print(add_source(hub, args.url, args.commune))
    finally:
        hub.close()
    return 0


def cmd_sources_list(args: argparse.Namespace, settings: Any) -> int:
    hub = _open_hub(settings)
    try:
        _print(list_sources(hub))
    finally:
        hub.close()
    return 0


def cmd_sources_poll(args: argparse.Namespace, settings: Any) -> int:
    """Poll every active source once now; exit status 1 if any of them failed."""
    hub = _open_hub(settings)
    try:
        results = poll_once(hub, IngestSettings())
    finally:
        hub.close()
    _print([result.as_dict() for result in results])
    return 1 if any(result.outcome == "error" for result in results) else 0


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sources add|list|poll`` to the ``hub`` command's subparsers."""
    sources = subparsers.add_parser("sources", help="RSS/Atom feeds to import bulletins from")
    actions = sources.add_subparsers(dest="action", required=True)

    text = "store a feed to poll; its entries become pending bulletins"
    p = actions.add_parser("add", help=text, description=text)
    p.add_argument("url", help="http:// or https:// address of an RSS 2.0 or Atom feed")
    p.add_argument("--commune", help="commune code the entries target (default: every commune)")
    p.set_defaults(func=cmd_sources_add)

    text = "list the stored feeds with their last poll and error"
    p = actions.add_parser("list", help=text, description=text)
    p.set_defaults(func=cmd_sources_list)

    text = "poll every active feed once now and print what was imported"
    p = actions.add_parser("poll", help=text, description=text)
    p.set_defaults(func=cmd_sources_poll)
