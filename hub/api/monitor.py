"""/api/v1/monitor/*: device health and airtime for the department."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.deps import CurrentUser, HubDep
from hub.validation import NoNul

router = APIRouter(prefix="/api/v1/monitor", tags=["monitor"])
Commune = Annotated[NoNul | None, Query(max_length=32)]


@router.get("/devices")
def devices(user: CurrentUser, hub: HubDep, commune: Commune = None) -> list[dict[str, Any]]:
    return hub.services.monitoring.devices(user, commune)


@router.get("/airtime")
def airtime(user: CurrentUser, hub: HubDep,
            from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
            to: Annotated[str | None, Query(max_length=10)] = None,
            commune: Commune = None) -> list[dict[str, Any]]:
    """One row per commune and local day in [from, to]."""
    return hub.services.monitoring.airtime(user, from_, to, commune)


# --- exports and the monthly report ---------------------------------------------------------------

from fastapi import Response  # noqa: E402

from hub.services import monitoring as _m  # noqa: E402

From = Annotated[str | None, Query(alias="from", max_length=10)]
To = Annotated[str | None, Query(max_length=10)]
Month = Annotated[str | None, Query(max_length=7)]


def _file(body: bytes, media_type: str, name: str) -> Response:
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"})


@router.get("/airtime.csv", response_class=Response)
def airtime_csv(user: CurrentUser, hub: HubDep, from_: From = None, to: To = None, commune: Commune = None) -> Response:
    """The airtime rows as CSV (UTF-8 with a byte-order mark, for Excel)."""
    rows = hub.services.monitoring.airtime(user, from_, to, commune)
    return _file(_m.airtime_csv(rows), _m.CSV_MIME, "airtime.csv")


@router.get("/airtime.xlsx", response_class=Response)
def airtime_xlsx(user: CurrentUser, hub: HubDep, from_: From = None, to: To = None, commune: Commune = None) -> Response:
    """The airtime rows as an Excel workbook (dates as dates, numbers as numbers)."""
    rows = hub.services.monitoring.airtime(user, from_, to, commune)
    return _file(_m.airtime_xlsx(rows), _m.XLSX_MIME, "airtime.xlsx")


@router.get("/report")
def report(user: CurrentUser, hub: HubDep, month: Month = None, commune: Commune = None) -> dict[str, Any]:
    """The month's report upward: per commune and in total (docs/monitoring.md)."""
    return hub.services.monitoring.report(user, month, commune)


def _report_name(data: dict[str, Any], ext: str) -> str:
    return f"bao-cao-{data['month']}-{data['scope']}.{ext}"


@router.get("/report.csv", response_class=Response)
def report_csv(user: CurrentUser, hub: HubDep, month: Month = None, commune: Commune = None) -> Response:
    data = hub.services.monitoring.report(user, month, commune)
    return _file(_m.report_csv(data), _m.CSV_MIME, _report_name(data, "csv"))


@router.get("/report.xlsx", response_class=Response)
def report_xlsx(user: CurrentUser, hub: HubDep, month: Month = None, commune: Commune = None) -> Response:
    data = hub.services.monitoring.report(user, month, commune)
    return _file(_m.report_xlsx(data), _m.XLSX_MIME, _report_name(data, "xlsx"))
