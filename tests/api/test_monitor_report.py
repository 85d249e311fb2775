"""The monthly report upward (GET /api/v1/monitor/report, .csv, .xlsx): its numbers are the plays
sent through the real device play-report path; the CSV and XLSX carry the JSON's rows; operators get
their commune only (404 for another); bad parameters are 422 with a detail. The roll-ups agree with
a recount of the raw play rows after reports, duplicates and a backfilling migration."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from hub.auth import Principal
from hub.clock import LOCAL_TZ, utcnow

KEYS = ("commune", "name", "devices", "availability_pct", "bulletins", "plays", "airtime_minutes",
        "emergency_broadcasts", "emergency_time_to_air_median_s", "emergency_time_to_air_max_s",
        "interrupted", "failed")
NUMBERS = ("devices", "bulletins", "plays", "airtime_minutes", "emergency_broadcasts",
           "emergency_time_to_air_median_s", "emergency_time_to_air_max_s", "interrupted", "failed")


def _play(bid, start, seconds, result="played", report_id=None):
    return {"report_id": report_id or str(uuid.uuid4()), "item_id": "i1", "bulletin_id": bid,
            "started_at": start.isoformat(), "ended_at": (start + timedelta(seconds=seconds)).isoformat(),
            "result": result}


def _approved_at(desk, bid):
    monitor = desk.people.user(f"gs-{bid[:6]}", "monitor")
    r = desk.client.get(f"/api/v1/bulletins/{bid}", headers=monitor)
    assert r.status_code == 200, r.text
    from datetime import datetime
    return datetime.fromisoformat(r.json()["approved_at"])


@pytest.fixture
def month(desk):
    """An emergency 20 s (A) and 50 s (B) after its approval, a normal bulletin played in A three
    times (one interrupted, one sent twice), a failed play in A, one normal play in B."""
    loa_a = desk.people.device("loa-a", "A")
    loa_b = desk.people.device("loa-b", "B")
    urgent = desk.approved(targets=["A", "B"], priority="emergency")
    normal = desk.approved(targets=["A", "B"])
    approved = _approved_at(desk, urgent)
    base = utcnow() - timedelta(hours=1)
    twice = str(uuid.uuid4())
    plays_a = [_play(urgent, approved + timedelta(seconds=20), 30.0),
               _play(normal, base, 60.0, report_id=twice),
               _play(normal, base + timedelta(minutes=5), 90.0, "interrupted"),
               _play(normal, base + timedelta(minutes=9), 0.0, "failed")]
    r = desk.client.post("/api/v1/device/plays", json={"plays": plays_a}, headers=loa_a)
    assert r.json() == {"accepted": 4, "duplicates": 0}
    again = desk.client.post("/api/v1/device/plays", json={"plays": [_play(normal, base, 60.0, report_id=twice)]},
                             headers=loa_a)
    assert again.json() == {"accepted": 0, "duplicates": 1}
    r = desk.client.post("/api/v1/device/plays", headers=loa_b, json={"plays": [
        _play(urgent, approved + timedelta(seconds=50), 30.0), _play(normal, base, 120.0)]})
    assert r.json() == {"accepted": 2, "duplicates": 0}
    code = approved.astimezone(LOCAL_TZ).strftime("%Y-%m")
    assert base.astimezone(LOCAL_TZ).strftime("%Y-%m") == code or pytest.skip("the hour crosses a month")
    return desk, code, urgent, normal


def test_the_report_counts_the_plays_reported(month):
    desk, code, urgent, normal = month
    monitor = desk.people.user("gs", "monitor")
    r = desk.client.get(f"/api/v1/monitor/report?month={code}", headers=monitor)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["month"] == code and data["scope"] == "province"
    rows = {row["commune"]: row for row in data["communes"]}
    assert set(rows) == {"A", "B"}
    a, b = rows["A"], rows["B"]
    assert (a["devices"], a["bulletins"], a["plays"], a["interrupted"], a["failed"]) == (1, 2, 3, 1, 1)
    assert a["airtime_minutes"] == pytest.approx((30 + 60 + 90) / 60, abs=0.05)
    assert a["emergency_broadcasts"] == 1
    assert a["emergency_time_to_air_median_s"] == pytest.approx(20, abs=0.2)
    assert (b["bulletins"], b["plays"], b["failed"], b["emergency_broadcasts"]) == (2, 2, 0, 1)
    assert b["airtime_minutes"] == pytest.approx(150 / 60, abs=0.05)
    assert b["emergency_time_to_air_max_s"] == pytest.approx(50, abs=0.2)
    totals = data["totals"]
    assert (totals["communes"], totals["devices"], totals["bulletins"], totals["plays"]) == (2, 2, 2, 5)
    assert totals["airtime_minutes"] == pytest.approx(330 / 60, abs=0.05)
    assert totals["emergency_broadcasts"] == 1 and totals["failed"] == 1 and totals["interrupted"] == 1
    assert totals["emergency_time_to_air_max_s"] == pytest.approx(50, abs=0.2)
    [emergency] = data["emergencies"]
    assert emergency["bulletin_id"] == urgent and emergency["communes"] == 2
    assert emergency["time_to_air_s"] == pytest.approx(20, abs=0.2)

    one = desk.client.get(f"/api/v1/monitor/report?month={code}&commune=B", headers=monitor).json()
    assert one["scope"] == "B" and [row["commune"] for row in one["communes"]] == ["B"]
    assert one["communes"][0] == b and one["totals"]["plays"] == 2

    earlier = desk.client.get("/api/v1/monitor/report?month=2020-01", headers=monitor).json()
    assert earlier["totals"]["plays"] == 0 and earlier["emergencies"] == []


def _csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def _as_csv(value):
    return "" if value is None else str(value)


@pytest.mark.parametrize("scope", ["", "&commune=A"])
def test_the_csv_has_the_json_rows_and_a_total(month, scope):
    desk, code, _, _ = month
    monitor = desk.people.user("gs", "monitor")
    data = desk.client.get(f"/api/v1/monitor/report?month={code}{scope}", headers=monitor).json()
    r = desk.client.get(f"/api/v1/monitor/report.csv?month={code}{scope}", headers=monitor)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and code in r.headers["content-disposition"]
    header, *lines = _csv_rows(r.content)
    assert header[:2] == ["Mã xã", "Xã/phường"] and len(header) == len(KEYS)
    assert len(lines) == len(data["communes"]) + 1
    for row, line in zip(data["communes"], lines):
        assert line == [_as_csv(row[k]) for k in KEYS]
    assert lines[-1][0] == "*" and float(lines[-1][KEYS.index("plays")]) == data["totals"]["plays"]


@pytest.mark.parametrize("scope", ["", "&commune=B"])
def test_the_xlsx_is_a_real_sheet_with_the_json_numbers(month, scope):
    desk, code, urgent, _ = month
    monitor = desk.people.user("gs", "monitor")
    data = desk.client.get(f"/api/v1/monitor/report?month={code}{scope}", headers=monitor).json()
    r = desk.client.get(f"/api/v1/monitor/report.xlsx?month={code}{scope}", headers=monitor)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("Mã xã", "Xã/phường") and len(values[0]) == len(KEYS)
    assert sheet["A1"].font.bold and sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width >= 20 and sheet.column_dimensions["G"].width >= 10
    assert len(values) == len(data["communes"]) + 2
    for row, line in zip(data["communes"], values[1:]):
        assert line[0] == row["commune"] and line[1] == row["name"]
        for key in NUMBERS:
            cell = line[KEYS.index(key)]
            if row[key] is None:
                assert cell is None
            else:
                assert isinstance(cell, (int, float)) and not isinstance(cell, bool), (key, cell)
                assert cell == pytest.approx(row[key])
    total = values[-1]
    assert total[0] == "*" and total[KEYS.index("plays")] == data["totals"]["plays"]
    assert total[KEYS.index("airtime_minutes")] == pytest.approx(data["totals"]["airtime_minutes"])
    emergencies = list(book.worksheets[1].iter_rows(values_only=True))
    assert len(emergencies) == 2 and emergencies[1][0] == urgent
    assert isinstance(emergencies[1][4], (int, float)) and emergencies[1][4] == pytest.approx(
        data["emergencies"][0]["time_to_air_s"])


def test_operators_get_their_commune_and_404_for_another(month):
    desk, code, _, _ = month
    op_a = desk.people.user("op-a", "operator", "A")
    for ext in ("", ".csv", ".xlsx"):
        r = desk.client.get(f"/api/v1/monitor/report{ext}?month={code}&commune=B", headers=op_a)
        assert r.status_code == 404 and r.json()["detail"], ext
        assert desk.client.get(f"/api/v1/monitor/report{ext}?month={code}&commune=ZZ",
                               headers=desk.people.user(f"gs{ext}", "monitor")).status_code == 404
    own = desk.client.get(f"/api/v1/monitor/report?month={code}", headers=op_a).json()
    assert own["scope"] == "A" and [row["commune"] for row in own["communes"]] == ["A"]
    assert own["totals"]["plays"] == 3 and own["totals"]["emergency_broadcasts"] == 1
    assert [line[0] for line in _csv_rows(desk.client.get(f"/api/v1/monitor/report.csv?month={code}",
                                                          headers=op_a).content)[1:]] == ["A", "*"]
    sheet = load_workbook(io.BytesIO(desk.client.get(f"/api/v1/monitor/report.xlsx?month={code}",
                                                     headers=op_a).content)).worksheets[0]
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["A", "*"]
    speaker = desk.people.device("loa-x", "A")
    assert desk.client.get(f"/api/v1/monitor/report?month={code}", headers=speaker).status_code == 403
    assert desk.client.get(f"/api/v1/monitor/report.xlsx?month={code}").status_code == 401


@pytest.mark.parametrize("query", ["month=2026-13", "month=12-2026", "month=2026-1x", "month=" + "9" * 8,
                                   "month=2026-12-01"])
def test_bad_months_are_422_with_a_detail(desk, query):
    monitor = desk.people.user("gs", "monitor")
    for ext in ("", ".csv", ".xlsx"):
        r = desk.client.get(f"/api/v1/monitor/report{ext}?{query}", headers=monitor)
        assert r.status_code == 422, (ext, query, r.status_code)
        assert r.json()["detail"]


def _recount(hub, first, last):
    monitor = Principal(id="m", name="m", role="monitor", commune=None)
    rolled = hub.services.monitoring.airtime(monitor, first, last, scheduled=False)
    raw = hub.services.monitoring.airtime_raw(monitor, first, last, scheduled=False)
    assert len(rolled) == len(raw) > 0
    for one, other in zip(rolled, raw):
        assert one.keys() == other.keys()
        for key in one:
            assert one[key] == (pytest.approx(other[key], abs=0.11) if key == "seconds" else other[key]), key
    return rolled


def test_roll_ups_survive_duplicates_and_a_backfilling_migration(month):
    """The roll-ups equal a recount of the raw rows; dropped and refilled by migration 0006 they
    are the same again, and later reports add to the refilled rows."""
    from alembic.script import ScriptDirectory

    from alembic import command

    from hub.store import alembic_config

    desk, code, _, normal = month
    hub = desk.hub
    today = utcnow().astimezone(LOCAL_TZ).date()
    first, last = (today - timedelta(days=2)).isoformat(), today.isoformat()
    before = _recount(hub, first, last)
    assert sum(r["plays"] for r in before) == 5 and sum(r["failed"] for r in before) == 1

    config = alembic_config(hub.settings.sqlalchemy_url)  # SQLite or PostgreSQL, the lane's store
    previous = ScriptDirectory.from_config(config).get_revision("0006").down_revision
    command.downgrade(config, previous)
    command.upgrade(config, "head")
    assert _recount(hub, first, last) == before

    loa_a = {"Authorization": f"Bearer {desk.people.tokens['loa-a']}"}
    later = [_play(normal, utcnow() - timedelta(minutes=2), 45.0) for _ in range(3)]
    r = desk.client.post("/api/v1/device/plays", json={"plays": later + later[:1]}, headers=loa_a)
    assert r.json() == {"accepted": 3, "duplicates": 1}
    after = _recount(hub, first, last)
    assert sum(r["plays"] for r in after) == 8
    monitor = desk.people.user("gs", "monitor")
    report = desk.client.get(f"/api/v1/monitor/report?month={code}", headers=monitor).json()
    assert report["totals"]["plays"] == 8
    assert report["totals"]["airtime_minutes"] == pytest.approx((330 + 135) / 60, abs=0.05)
