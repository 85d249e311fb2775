"""Console pages: monitor (being built; see docs/console.md "Not built yet")."""

from __future__ import annotations

from fastapi import APIRouter

from .pages import Console


def register(router: APIRouter, console: Console) -> None:
    """No routes yet."""
