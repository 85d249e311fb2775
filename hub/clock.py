"""Time, one definition: the hub's local time zone and the clock every part reads.

Schedules are stored in UTC and shown and scheduled in Asia/Ho_Chi_Minh (DESIGN rule 7).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

#: The province's wall clock. Vietnam keeps no daylight saving, but nothing here assumes it.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def local(value: datetime) -> datetime:
    """An aware time shown in local time; a naive one is taken to be local wall-clock time."""
    if value.tzinfo is None:
        return value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(LOCAL_TZ)


def local_today() -> date:
    return utcnow().astimezone(LOCAL_TZ).date()
