"""Small input rules that every door applies alike.

NUL characters: SQLite stores them but PostgreSQL refuses them in text, which would be a 500 on one
store and not the other. Every text a client sends is checked with :data:`NoNul` (pydantic fields)
or :func:`refuse_nul` (query parameters, path ids), so both stores answer 422 or 404 alike.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
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


# --- times and dates a client sends ---------------------------------------------------------------
# A year-1 or year-9999 time overflows as soon as it is moved to another zone or a day is added
# (a 500, issue 14), and no report or range can honestly name one. Both doors (the device API's
# times, the monitoring dates) refuse anything outside these bounds with a 422.

#: The earliest and latest day a client may name (far around any real broadcast).
DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2199, 12, 31)
TIME_MIN = datetime(2000, 1, 1, tzinfo=timezone.utc)
TIME_MAX = datetime(2199, 12, 31, tzinfo=timezone.utc)


def sane_time(value: datetime) -> datetime:
    """A pydantic validator: an aware time between :data:`TIME_MIN` and :data:`TIME_MAX`, else ValueError."""
    if value.tzinfo is None:
        raise ValueError("times need an offset (ISO 8601, e.g. 2026-12-01T06:00:00+07:00)")
    if not TIME_MIN <= value <= TIME_MAX:
        raise ValueError(f"time out of range: give one between {TIME_MIN.year} and {TIME_MAX.year}")
    return value


def sane_date(name: str, value: date) -> date:
    """Raise Invalid naming ``name`` unless ``value`` is between :data:`DATE_MIN` and :data:`DATE_MAX`."""
    from hub.errors import Invalid

    if not DATE_MIN <= value <= DATE_MAX:
        raise Invalid(f"{name} must be a date between {DATE_MIN.isoformat()} and {DATE_MAX.isoformat()}")
    return value
