"""Small input rules that every door applies alike.

NUL characters: SQLite stores them but PostgreSQL refuses them in text, which would be a 500 on one
store and not the other. Every text a client sends is checked with :data:`NoNul` (pydantic fields)
or :func:`refuse_nul` (query parameters, path ids), so both stores answer 422 or 404 alike.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import AfterValidator

T = TypeVar("T", str, list[str], None)


def has_nul(value: str | list[str] | None) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and "\x00" in v for v in values)


def _no_nul(value: T) -> T:
    if has_nul(value):
        raise ValueError("must not contain NUL characters")
    return value


#: A ``str`` field that refuses NUL characters with a 422 naming the field.
NoNul = Annotated[str, AfterValidator(_no_nul)]


def refuse_nul(name: str, value: str | list[str] | None) -> None:
    """For values that are not pydantic fields (query parameters): raise Invalid naming ``name``."""
    from hub.errors import Invalid

    if has_nul(value):
        raise Invalid(f"{name} must not contain NUL characters")


def well_formed_id(value: object, max_length: int = 64) -> bool:
    """Whether a path id could name a row at all (never NUL, never absurdly long): else 404 at once."""
    return isinstance(value, str) and 0 < len(value) <= max_length and "\x00" not in value


#: The largest page offset any list accepts: far past any real list, well inside a 64-bit integer.
OFFSET_MAX = 1_000_000_000
