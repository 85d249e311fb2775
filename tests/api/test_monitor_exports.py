"""The airtime exports (CSV and XLSX) hold the JSON airtime's rows; the roll-ups agree with the
play reports they count; operators get only their commune's rows (none for another, as CONTRACT §Monitoring says)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from openpyxl import load_workbook

from hub.clock import LOCAL_TZ, local_today, utcnow
from hub.services.devices import Play

NUMBERS = ("plays", "seconds", "bulletins", "emergency_plays", "interrupted", "failed", "scheduled")


def _play(bid=None, start=None, seconds=42.0, result="played"):
    start = start or utcnow() - timedelta(minutes=5)
    return {"report_id": str(uuid.uuid4()), "item_id": "i1", "bulletin_id": bid, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(seconds=seconds)).isoformat(), "result": result}


@pytest.fixture
def aired(desk):
    """Plays in A over three days (one emergency bulletin, one normal), one in B."""
    loa_a = desk.people.device("loa-a", "A")
    loa_b = desk.people.device("loa-b", "B")
    urgent = desk.approved(targets=["A"], priority="emergency")
    normal = desk.approved(targets=["A", "B"])
    now = utcnow()
    plays_a = [_play(urgent, now - timedelta(days=1, minutes=3), 30.5), _play(normal, now - timedelta(days=1)),
               _play(normal, now - timedelta(days=2), 61.2), _play(None, now - timedelta(minutes=9), 12, "interrupted"),
               _play(normal, now - timedelta(minutes=4), 0, "failed")]
    assert desk.client.post("/api/v1/device/plays", json={"plays": plays_a}, headers=loa_a).status_code == 200
    assert desk.client.post("/api/v1/device/plays", json={"plays": [_play(normal)]}, headers=loa_b).status_code == 200
    today = local_today()
    return desk, f"from={(today - timedelta(days=3)).isoformat()}&to={today.isoformat()}"


def test_xlsx_numbers_are_the_json_airtime(aired):
    desk, query = aired
    monitor = desk.people.user("gs", "monitor")
    rows = desk.client.get(f"/api/v1/monitor/airtime?{query}", headers=monitor).json()
    r = desk.client.get(f"/api/v1/monitor/airtime.xlsx?{query}", headers=monitor)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert "attachment" in r.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == ["commune", "date", *NUMBERS]
    assert len(values) - 1 == len(rows) == 8
    for row, line in zip(rows, values[1:]):
        assert line[0] == row["commune"]
        assert isinstance(line[1], datetime) and line[1].date() == date.fromisoformat(row["date"])
        for name, cell in zip(NUMBERS, line[2:]):
            assert isinstance(cell, (int, float)) and not isinstance(cell, bool), (name, cell)
            assert cell == pytest.approx(row[name])
    assert sheet["B2"].number_format == "dd/mm/yyyy"
    assert sheet.column_dimensions["A"].width >= 10 and sheet.freeze_panes == "A2"
    assert sum(row["plays"] for row in rows) == 5 and sum(row["failed"] for row in rows) == 1


def test_csv_has_the_same_rows_with_a_bom(aired):
    desk, query = aired
    monitor = desk.people.user("gs", "monitor")
    rows = desk.client.get(f"/api/v1/monitor/airtime?{query}", headers=monitor).json()
    r = desk.client.get(f"/api/v1/monitor/airtime.csv?{query}", headers=monitor)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(parsed) == len(rows)
    for row, line in zip(rows, parsed):
        assert line["commune"] == row["commune"] and line["date"] == row["date"]
        for name in NUMBERS:
            assert float(line[name]) == pytest.approx(row[name])


def test_operators_export_only_their_commune(aired):
    desk, query = aired
    op_a = desk.people.user("op-a", "operator", "A")
    for ext in ("", ".csv", ".xlsx"):
        r = desk.client.get(f"/api/v1/monitor/airtime{ext}?{query}", headers=op_a)
        assert r.status_code == 200
        # CONTRACT §Monitoring: only their own commune's rows, so none for B (200, not 404).
        other = desk.client.get(f"/api/v1/monitor/airtime{ext}?{query}&commune=B", headers=op_a)
        assert other.status_code == 200
        if ext == "":
            assert other.json() == []
        elif ext == ".csv":
            assert list(csv.reader(io.StringIO(other.content.decode("utf-8-sig")))) == [["commune", "date", *NUMBERS]]
        else:
            assert load_workbook(io.BytesIO(other.content)).active.max_row == 1
    parsed = list(csv.DictReader(io.StringIO(
        desk.client.get(f"/api/v1/monitor/airtime.csv?{query}", headers=op_a).content.decode("utf-8-sig"))))
    assert {line["commune"] for line in parsed} == {"A"}
    sheet = load_workbook(io.BytesIO(desk.client.get(f"/api/v1/monitor/airtime.xlsx?{query}",
                                                     headers=op_a).content)).active
    assert {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)} == {"A"}
    speaker = desk.people.device("loa-x", "A")
    assert desk.client.get(f"/api/v1/monitor/airtime.xlsx?{query}", headers=speaker).status_code == 403
    assert desk.client.get(f"/api/v1/monitor/airtime.csv?{query}").status_code == 401


def test_exports_refuse_bad_ranges(desk):
    monitor = desk.people.user("gs", "monitor")
    for ext in (".csv", ".xlsx"):
        r = desk.client.get(f"/api/v1/monitor/airtime{ext}?from=2026-12-05&to=2026-12-01", headers=monitor)
        assert r.status_code == 422


plays_strategy = st.lists(st.tuples(
    st.sampled_from(["A", "B"]), st.integers(0, 4 * 24 * 60), st.floats(0, 900, allow_nan=False),
    st.sampled_from(["played", "played", "interrupted", "failed"]), st.sampled_from([0, 1, 2, None]),
    st.booleans(), st.one_of(st.none(), st.floats(0, 1200, allow_nan=False))), min_size=1, max_size=25)


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(plays_strategy, min_size=1, max_size=4))
def test_roll_up_equals_a_count_of_the_raw_reports(desk, batches):
    """After random batches (some sent twice), the roll-up's airtime is the raw reports' count."""
    hub = desk.hub
    if not hasattr(desk, "_rollup"):
        bids = [desk.approved(render=False, targets=["A", "B"], priority=p) for p in ("normal", "emergency", "priority")]
        desk._rollup = bids
        desk._devices = {}
        for code in ("A", "B"):
            desk.people.device(f"p-{code}", code)
            desk._devices[code] = desk.people.ids[f"p-{code}"]
    bids = desk._rollup
    from hub.auth import Principal

    # Ten days ago (a fixed date would one day be older than the hub accepts plays for).
    day = (datetime.now(timezone.utc) - timedelta(days=10)).date()
    base = datetime(day.year, day.month, day.day, 17, 0, tzinfo=timezone.utc)  # local midnight of the next day
    for batch in batches:
        by_device: dict[str, list[Play]] = {}
        for code, minute, seconds, result, bulletin, twice, heard in batch:
            start = base + timedelta(minutes=minute)
            play = Play(uuid.uuid4().hex, "i", bids[bulletin] if bulletin is not None else None, start,
                        start + timedelta(seconds=seconds), result, heard_s=heard)
            by_device.setdefault(code, []).extend([play, play] if twice else [play])
        for code, plays in by_device.items():
            device = Principal(id=desk._devices[code], name=f"p-{code}", role="device", commune=code)
            hub.services.devices.record_plays(device, plays)
    monitor = Principal(id="m", name="m", role="monitor", commune=None)
    args = (day.isoformat(), (day + timedelta(days=6)).isoformat())
    rolled = hub.services.monitoring.airtime(monitor, *args, scheduled=False)
    raw = hub.services.monitoring.airtime_raw(monitor, *args, scheduled=False)
    assert len(rolled) == len(raw)
    for one, other in zip(rolled, raw):
        assert one.keys() == other.keys()
        for key in one:
            if key == "seconds":
                assert one[key] == pytest.approx(other[key], abs=0.11)
            else:
                assert one[key] == other[key], (key, one, other)
