"""Dates, times, numbers and durations as Vietnamese readers write them, through Babel's CLDR data.

Times are shown in the province's zone (Asia/Ho_Chi_Minh) whatever the server's: "02/12/2026 18:35";
numbers with Vietnamese separators ("1.234,5"); durations as "1 phút 05 giây". Templates use the
filters ``datetime``, ``date``, ``time``, ``number``, ``duration`` and ``datetime_local``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
LOCALE = "vi_VN"


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # the store keeps UTC
    return value if isinstance(value, datetime) else None


def local(value: Any) -> datetime | None:
    """The moment in the province's zone (None for nothing, or for what is not a time)."""
    moment = _moment(value)
    return moment.astimezone(ZONE) if moment is not None else None


def datetime_vi(value: Any) -> str:
    moment = local(value)
    return format_datetime(moment, "dd/MM/yyyy HH:mm", locale=LOCALE) if moment else ""


def date_vi(value: Any) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return format_date(value, "dd/MM/yyyy", locale=LOCALE)
    moment = local(value)
    return format_date(moment, "dd/MM/yyyy", locale=LOCALE) if moment else ""


def time_vi(value: Any) -> str:
    moment = local(value)
    return format_time(moment, "HH:mm", locale=LOCALE) if moment else ""


def number_vi(value: Any, digits: int = 0) -> str:
    if value is None:
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=LOCALE)


def duration_vi(seconds: Any) -> str:
    """``75.2`` → "1 phút 15 giây"; under a minute "42 giây"; over an hour "1 giờ 02 phút"."""
    if seconds is None:
        return ""
    total = int(round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} giờ {minutes:02d} phút"
    if minutes:
        return f"{minutes} phút {secs:02d} giây"
    return f"{secs} giây"


def datetime_local_input(value: Any) -> str:
    """The value of an ``<input type="datetime-local">``: local time, to the minute."""
    moment = local(value)
    return moment.strftime("%Y-%m-%dT%H:%M") if moment else ""


def machine_time(value: Any) -> str:
    """A ``<time datetime>`` value: UTC to the second (HTML allows at most three fraction digits)."""
    moment = _moment(value)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def install(env) -> None:
    env.filters.update(datetime=datetime_vi, date=date_vi, time=time_vi, number=number_vi,
                       duration=duration_vi, datetime_local=datetime_local_input, machine_time=machine_time)
