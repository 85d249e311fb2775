"""The device pull protocol: manifest with ETag/304, events, heartbeats, play reports."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from hub import manifests
from hub.models import utcnow


def manifest(client, headers, etag=None):
    extra = {"If-None-Match": etag} if etag else {}
    return client.get("/api/v1/device/manifest", headers={**headers, **extra})


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_manifest_shape_and_etag(desk):
    speaker = desk.people.device("loa-a", "A")
    r = manifest(desk.client, speaker)
    assert r.status_code == 200
    body = r.json()
    assert {"device", "generated_at", "server_time", "window_end", "items", "slides"} <= set(body)
    assert body["device"] == desk.people.ids["loa-a"]
    assert parse(body["window_end"]) >= utcnow() + timedelta(hours=24)
    assert abs((parse(body["server_time"]) - utcnow()).total_seconds()) < 5
    etag = r.headers["etag"]
    not_modified = manifest(desk.client, speaker, etag)
    assert not_modified.status_code == 304
    # The hub's clock rides on every answer, a 304 too, for devices to keep their clocks right.
    assert abs((parse(not_modified.headers["x-server-time"]) - utcnow()).total_seconds()) < 5
    assert manifest(desk.client, speaker, '"other"').status_code == 200


def test_emergency_appears_at_once_only_for_targeted_communes(desk):
    speaker_a = desk.people.device("loa-a", "A")
    speaker_b = desk.people.device("loa-b", "B")
    etag_a = manifest(desk.client, speaker_a).headers["etag"]
    etag_b = manifest(desk.client, speaker_b).headers["etag"]
    before = utcnow()
    bid = desk.approved(targets=["A"], priority="emergency", title="Khẩn cấp: lũ quét")
    r = manifest(desk.client, speaker_a, etag_a)
    assert r.status_code == 200
    items = [i for i in r.json()["items"] if i["bulletin_id"] == bid]
    assert items, "the emergency is in A's manifest"
    first = items[0]
    assert first["priority"] == "emergency"
    assert parse(first["starts_at"]) <= before + timedelta(seconds=10)
    assert first["media"]["url"] == f"/media/{first['media']['sha256']}" and first["media"]["bytes"] > 0
    assert desk.client.get(first["media"]["url"], headers=speaker_a).status_code == 200
    # B is untouched: same ETag, still 304, nothing of the emergency.
    assert manifest(desk.client, speaker_b, etag_b).status_code == 304
    # Withdrawal removes it from every manifest.
    assert desk.client.post(f"/api/v1/bulletins/{bid}/withdraw", headers=desk.approver).status_code == 200
    after = manifest(desk.client, speaker_a).json()
    assert all(i["bulletin_id"] != bid for i in after["items"])


def test_playlist_plays_appear_sorted_and_in_local_time(desk):
    bid = desk.approved(targets=["A"])
    now_local = utcnow().astimezone(manifests.TZ)
    soon = (now_local + timedelta(hours=2)).strftime("%H:00")
    r = desk.client.post("/api/v1/playlists", headers=desk.approver, json={
        "name": "P", "commune": "A", "items": [{"bulletin_id": bid}],
        "schedule": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "times": [soon],
                     "start_date": (now_local.date() - timedelta(days=1)).isoformat()}})
    assert r.status_code == 201, r.text
    speaker = desk.people.device("loa-a", "A")
    items = manifest(desk.client, speaker).json()["items"]
    starts = [parse(i["starts_at"]) for i in items]
    assert starts == sorted(starts)
    local_starts = {s.astimezone(manifests.TZ).strftime("%H:%M") for s in starts if s > utcnow()}
    assert soon in local_starts


def test_a_poll_does_not_resolve_again(desk, monkeypatch):
    speaker = desk.people.device("loa-a", "A")
    other = desk.people.device("loa-a2", "A")
    desk.approved(targets=["A"], priority="emergency")
    calls = []
    real = manifests.resolve_commune
    monkeypatch.setattr(manifests, "resolve_commune", lambda *a, **k: calls.append(1) or real(*a, **k))
    desk.hub.manifests.clear()
    first = manifest(desk.client, speaker)
    for _ in range(5):
        again = manifest(desk.client, speaker)
        assert again.headers["etag"] == first.headers["etag"]
        assert again.json()["items"] == first.json()["items"]
    assert len(calls) == 1
    # A second device of the same commune reuses the commune's resolved timeline.
    manifest(desk.client, other)
    assert len(calls) == 1


def test_heartbeat_and_monitor(desk):
    speaker = desk.people.device("loa-a", "A")
    desk.people.device("loa-b", "B")
    assert desk.client.post("/api/v1/device/heartbeat", json={"status": "playing", "volume": 70},
                            headers=speaker).status_code == 204
    monitor = desk.people.user("gs", "monitor")
    rows = {r["name"]: r for r in desk.client.get("/api/v1/monitor/devices", headers=monitor).json()}
    assert rows["loa-a"]["online"] is True and rows["loa-a"]["status"] == "playing" and rows["loa-a"]["volume"] == 70
    assert rows["loa-b"]["online"] is False and rows["loa-b"]["last_seen"] is None
    assert set(rows["loa-a"]) >= {"id", "name", "commune", "kind", "online", "last_seen", "status", "volume"}
    op_b = desk.people.user("op-b", "operator", "B")
    assert [r["name"] for r in desk.client.get("/api/v1/monitor/devices", headers=op_b).json()] == ["loa-b"]


@pytest.mark.parametrize("body", [
    {"status": "dancing"}, {"status": "idle", "volume": 101}, {"volume": 5}, [], {"status": "idle", "x": "y" * 5000},
])
def test_bad_heartbeats_are_422(desk, body):
    speaker = desk.people.device("loa-a", "A")
    r = desk.client.post("/api/v1/device/heartbeat", json=body, headers=speaker)
    assert r.status_code == 422 and r.json()["detail"]


def _play(bid=None, **overrides):
    start = utcnow() - timedelta(minutes=5)
    play = {"report_id": str(uuid.uuid4()), "item_id": "i1", "bulletin_id": bid,
            "started_at": start.isoformat(), "ended_at": (start + timedelta(seconds=42)).isoformat(),
            "result": "played"}
    play.update(overrides)
    return play


def test_play_reports_are_idempotent_and_counted_in_airtime(desk):
    speaker = desk.people.device("loa-a", "A")
    bid = desk.approved(targets=["A"], priority="emergency")
    plays = [_play(bid), _play(bid), _play(None, result="interrupted")]
    r = desk.client.post("/api/v1/device/plays", json={"plays": plays}, headers=speaker)
    assert r.json() == {"accepted": 3, "duplicates": 0}
    r = desk.client.post("/api/v1/device/plays", json={"plays": plays + [_play(bid)]}, headers=speaker)
    assert r.json() == {"accepted": 1, "duplicates": 3}
    monitor = desk.people.user("gs", "monitor")
    today = utcnow().astimezone(manifests.TZ).date().isoformat()
    rows = desk.client.get(f"/api/v1/monitor/airtime?from={today}&to={today}", headers=monitor).json()
    row = next(r for r in rows if r["commune"] == "A")
    assert row["date"] == today
    assert row["plays"] == 4 and row["emergency_plays"] == 3 and row["bulletins"] == 1
    assert row["seconds"] == pytest.approx(4 * 42, abs=0.5)
    assert next(r for r in rows if r["commune"] == "B")["plays"] == 0
    op_b = desk.people.user("op-b", "operator", "B")
    assert {r["commune"] for r in desk.client.get(f"/api/v1/monitor/airtime?from={today}&to={today}",
                                                  headers=op_b).json()} == {"B"}


@pytest.mark.parametrize("play", [
    {"result": "maybe"}, {"started_at": "2026-12-01T06:00:00"}, {"ended_at": "2020-01-01T00:00:00+07:00"},
    {"report_id": ""},
])
def test_bad_play_reports_are_422_and_store_nothing(desk, play):
    speaker = desk.people.device("loa-a", "A")
    good = _play()
    r = desk.client.post("/api/v1/device/plays", json={"plays": [good, _play(**play)]}, headers=speaker)
    assert r.status_code == 422
    r = desk.client.post("/api/v1/device/plays", json={"plays": [good]}, headers=speaker)
    assert r.json() == {"accepted": 1, "duplicates": 0}


def test_tokens_never_cross_kinds(desk):
    speaker = desk.people.device("loa-a", "A")
    editor = desk.author
    assert desk.client.get("/api/v1/device/manifest", headers=editor).status_code == 403
    assert desk.client.get("/api/v1/bulletins", headers=speaker).status_code == 403
    assert desk.client.get("/api/v1/monitor/devices", headers=speaker).status_code == 403
    assert desk.client.post("/api/v1/device/plays", json={"plays": []}, headers=editor).status_code == 403
    assert desk.client.get("/api/v1/device/manifest").status_code == 401
    assert desk.client.get("/api/v1/device/manifest",
                           headers={"Authorization": "Bearer hubd_" + "x" * 43}).status_code == 401


def test_airtime_bad_ranges(desk):
    monitor = desk.people.user("gs", "monitor")
    for query in ("from=2026-13-01", "from=2026-12-05&to=2026-12-01", "from=2020-01-01&to=2026-01-01"):
        r = desk.client.get(f"/api/v1/monitor/airtime?{query}", headers=monitor)
        assert r.status_code == 422 and r.json()["detail"]


def test_emergency_repeats_as_the_bulletin_says(desk):
    speaker = desk.people.device("loa-a", "A")
    bid = desk.approved(targets=["A"], priority="emergency", repeat_count=3, repeat_interval_s=120)
    body = desk.client.get(f"/api/v1/bulletins/{bid}", headers=desk.author).json()
    assert (body["repeat_count"], body["repeat_interval_s"]) == (3, 120)
    plays = [i for i in manifest(desk.client, speaker).json()["items"] if i["bulletin_id"] == bid]
    starts = [parse(p["starts_at"]) for p in plays]
    assert len(plays) == 3 and all(p["interrupt"] for p in plays)
    assert [(b - a).total_seconds() for a, b in zip(starts, starts[1:])] == [120.0, 120.0]
    r = desk.client.post("/api/v1/bulletins", json={"title": "t", "body": "b", "targets": ["A"], "repeat_count": 0},
                         headers=desk.author)
    assert r.status_code == 422


def test_a_bulletin_leaves_the_cached_manifest_when_it_expires(desk):
    speaker = desk.people.device("loa-a", "A")
    until = utcnow() + timedelta(minutes=30)
    bid = desk.approved(targets=["A"], priority="emergency", valid_until=until.isoformat())
    device = desk.hub.device_tokens.lookup(desk.people.tokens["loa-a"])
    now = utcnow()
    before = desk.hub.manifests.get(device, now=now)
    assert bid.encode() in before.body
    later = desk.hub.manifests.get(device, now=until + timedelta(seconds=1))
    assert later.etag != before.etag and bid.encode() not in later.body
    assert manifest(desk.client, speaker).status_code == 200


def test_the_fast_path_answers_as_the_route_does(desk, monkeypatch):
    from hub.api.device import ManifestFastPath

    speaker = desk.people.device("loa-a", "A")
    desk.approved(targets=["A"], priority="emergency")
    answered = []
    real = ManifestFastPath._answer

    async def spy(hub, scope, send):
        done = await real(hub, scope, send)
        answered.append(done)
        return done

    monkeypatch.setattr(ManifestFastPath, "_answer", staticmethod(spy))
    first = manifest(desk.client, speaker)       # a cold cache: the route builds it
    second = manifest(desk.client, speaker)      # warm: answered before the framework
    assert answered == [False, True]
    for name in ("etag", "cache-control", "content-type"):
        assert first.headers[name] == second.headers[name]
    one, two = first.json(), second.json()
    one.pop("server_time"), two.pop("server_time")
    assert one == two
    assert manifest(desk.client, speaker, second.headers["etag"]).status_code == 304
    assert answered[-1] is True
    # A token the cache does not know goes on to the route, which refuses it properly.
    r = desk.client.get("/api/v1/device/manifest", headers={"Authorization": "Bearer hubd_nope"})
    assert r.status_code == 401 and r.json()["detail"]
