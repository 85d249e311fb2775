"""Live broadcasts through the API and the console page (TestClient; no audio): who may open one,
bad input, Icecast's listener check, the manifest item devices get, stop."""

from __future__ import annotations

import pytest

from tests.plugins.console_client import PASSWORD, signed_in

KEY = "icecast-key-test"
# One store lane: the live table is plain (migration 0009 is checked on both by test_migrations).
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"icecast_url": "http://127.0.0.1:9", "icecast_auth_key": KEY})


@pytest.fixture
def world(client, hub, people):
    for code in ("X1", "X2"):
        people.commune(code)
    people.user("editor", "editor")
    people.user("op-x1", "operator", "X1")
    people.user("monitor", "monitor")
    people.device("loa-x1", "X1")
    people.device("loa-x2", "X2")
    return people


def auth(people, who):
    return {"Authorization": f"Bearer {people.tokens[who]}"}


def open_live(client, people, who="editor", **fields):
    body = {"title": "Thông báo khẩn", "targets": ["X1"], "priority": "emergency", **fields}
    return client.post("/api/v1/live", json=body, headers=auth(people, who))


def listener(client, people, mount, device=None, key=KEY):
    form = {"action": "listener_add", "mount": mount, "user": "device", "pass": people.tokens[device] if device else "",
            "client": "1", "ip": "127.0.0.1"}
    return client.post(f"/api/v1/live/icecast/listener?key={key}", data=form)


def test_open_a_broadcast_and_who_may(client, world):
    r = open_live(client, world)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "open" and body["targets"] == ["X1"] and body["author"] == "editor"
    assert body["ingest_url"].startswith("ws://") and f"/api/v1/live/{body['id']}/ingest?key=" in body["ingest_url"]
    assert body["stream_url"] == f"http://127.0.0.1:9/live/{body['id']}.mp3"
    # One at a time for a commune.
    assert open_live(client, world).status_code == 409
    # An operator: its own commune only; another commune is not found.
    assert open_live(client, world, "op-x1", targets=["X2"]).status_code == 404
    assert open_live(client, world, "op-x1", targets=["*"]).status_code == 404
    assert open_live(client, world, "op-x1", targets=["X1"]).status_code == 409  # the editor's is open
    assert open_live(client, world, "monitor").status_code == 403
    assert client.post("/api/v1/live", json={"title": "x", "targets": ["X1"]},
                       headers=auth(world, "loa-x1")).status_code == 403
    # The operator sees the broadcast to its commune, not one to another.
    assert client.get(f"/api/v1/live/{body['id']}", headers=auth(world, "op-x1")).status_code == 200
    other = open_live(client, world, targets=["X2"]).json()
    assert client.get(f"/api/v1/live/{other['id']}", headers=auth(world, "op-x1")).status_code == 404
    assert client.post(f"/api/v1/live/{other['id']}/stop", headers=auth(world, "op-x1")).status_code == 404
    assert [b["id"] for b in client.get("/api/v1/live", headers=auth(world, "op-x1")).json()] == [body["id"]]


def test_an_operator_sees_the_province_s_broadcast_and_its_own_devices_plays_but_may_not_stop_it(
        client, hub, world):
    import uuid
    from datetime import datetime, timedelta, timezone

    from hub.auth import Principal
    from hub.services.devices import Play

    body = open_live(client, world, targets=["*"]).json()
    hub.services.live._mark_on_air(body["id"])
    started = datetime.now(timezone.utc)
    for name, code in (("loa-x1", "X1"), ("loa-x2", "X2")):
        [item] = client.get("/api/v1/device/manifest", headers=auth(world, name)).json()["items"]
        device = Principal(world.ids[name], name, "device", code, "speaker")
        hub.services.devices.record_plays(device, [Play(str(uuid.uuid4()), item["id"], None, started,
                                                        started + timedelta(seconds=30), "played", heard_s=28.5)])
    op = auth(world, "op-x1")
    assert [b["id"] for b in client.get("/api/v1/live", headers=op).json()] == [body["id"]]
    seen = client.get(f"/api/v1/live/{body['id']}", headers=op).json()
    assert [(p["device"], p["heard_s"]) for p in seen["plays"]] == [("loa-x1", 28.5)]  # not X2's loudspeaker
    assert len(client.get(f"/api/v1/live/{body['id']}", headers=auth(world, "editor")).json()["plays"]) == 2
    refused = client.post(f"/api/v1/live/{body['id']}/stop", headers=op)
    assert refused.status_code == 403 and "detail" in refused.json()
    assert client.get(f"/api/v1/live/{body['id']}", headers=op).json()["status"] == "on_air"


def test_bad_input_is_4xx_and_opens_nothing(client, world):
    for fields in ({"targets": []}, {"targets": ["NOPE"]}, {"targets": ["*", "X1"]}, {"targets": ["X1", "X1"]},
                   {"priority": "normal"}, {"title": " "}, {"title": "x" * 201}, {"title": "a\x00b"}, {"extra": 1}):
        r = open_live(client, world, **fields)
        assert 400 <= r.status_code < 500 and "detail" in r.json(), (fields, r.text)
    assert client.get("/api/v1/live", headers=auth(world, "editor")).json() == []


def test_icecast_lets_in_only_devices_of_the_targeted_commune(client, hub, world):
    body = open_live(client, world).json()
    mount = f"/live/{body['id']}.mp3"
    allowed = listener(client, world, mount, "loa-x1")
    assert allowed.status_code == 200 and allowed.headers.get("icecast-auth-user") == "1"
    for refused in (listener(client, world, mount, "loa-x2"),  # another commune's device
                    listener(client, world, mount),  # no token
                    listener(client, world, "/live/" + "0" * 32 + ".mp3", "loa-x1"),  # no such broadcast
                    listener(client, world, "/status-json.xsl", "loa-x1")):
        assert "icecast-auth-user" not in refused.headers, refused.headers
    # A user's token is not a device's; the wrong key gets nothing at all.
    form = {"action": "listener_add", "mount": mount, "pass": world.tokens["editor"]}
    assert "icecast-auth-user" not in client.post(f"/api/v1/live/icecast/listener?key={KEY}", data=form).headers
    assert listener(client, world, mount, "loa-x1", key="wrong").status_code == 403
    # Once it has ended, nobody.
    assert client.post(f"/api/v1/live/{body['id']}/stop", headers=auth(world, "editor")).json()["status"] == "ended"
    assert "icecast-auth-user" not in listener(client, world, mount, "loa-x1").headers


def test_agents_listen_with_a_ticket_for_the_mount_not_their_token(client, hub, world):
    """What `hub agent` puts in its player's URL opens this broadcast's mount for its own commune's
    device only; the token itself is not in it (docs/device-protocol.md §Live)."""
    from urllib.parse import unquote, urlsplit

    from hub import live
    from hub.agent.manifest import Stream
    from hub.auth import hash_token

    body = open_live(client, world).json()
    mount = f"/live/{body['id']}.mp3"

    def credentials(device, url=body["stream_url"]):
        parts = urlsplit(Stream(url=url, auth="device").url_for(world.tokens[device]))
        return parts.username, unquote(parts.password)

    user, ticket = credentials("loa-x1")
    assert world.tokens["loa-x1"] not in ticket and ticket.startswith("t1.")
    # The agent's ticket is the hub's, whatever path a proxy puts before the mount.
    assert ticket == live.listen_ticket(hash_token(world.tokens["loa-x1"]), mount)
    assert credentials("loa-x1", "https://radio.example/icecast" + mount)[1] == ticket

    def ask(user, password, where=mount):
        form = {"action": "listener_add", "mount": where, "user": user, "pass": password}
        return client.post(f"/api/v1/live/icecast/listener?key={KEY}", data=form).headers

    assert ask(user, ticket).get("icecast-auth-user") == "1"
    other_user, other_ticket = credentials("loa-x2")  # a device of a commune it does not go to
    for refused in (ask(other_user, other_ticket), ask(user, other_ticket), ask(other_user, ticket),
                    ask(user, ticket[:-1] + ("0" if ticket[-1] != "0" else "1")),
                    ask(user, live.listen_ticket(hash_token(world.tokens["loa-x1"]), "/live/" + "0" * 32 + ".mp3")),
                    ask("device-zz", ticket)):
        assert "icecast-auth-user" not in refused, refused
    # The same ticket in Basic auth (Icecast passes it on either way).
    import base64

    basic = base64.b64encode(f"{user}:{ticket}".encode()).decode()
    answer = client.post(f"/api/v1/live/icecast/listener?key={KEY}", data={"action": "listener_add", "mount": mount},
                         headers={"Authorization": f"Basic {basic}"})
    assert answer.headers.get("icecast-auth-user") == "1"
    # Deactivated: its ticket opens nothing.
    hub.services.directory.set_device_active(None, world.ids["loa-x1"], False)
    assert "icecast-auth-user" not in ask(user, ticket)


def test_on_air_the_targeted_devices_get_a_live_item_and_it_leaves_when_stopped(client, hub, world):
    body = open_live(client, world).json()
    # Not on air before audio reached Icecast: nothing in the manifests.
    assert client.get("/api/v1/device/manifest", headers=auth(world, "loa-x1")).json()["items"] == []
    hub.services.live._mark_on_air(body["id"])  # what the ingest does at the first encoded audio
    [item] = client.get("/api/v1/device/manifest", headers=auth(world, "loa-x1")).json()["items"]
    assert item["interrupt"] is True and item["reason"] == "live" and item["priority"] == "emergency"
    # One loudspeaker in X1: joins spread over the least, a second (hub/live.join_spread).
    assert item["stream"] == {"url": body["stream_url"], "duration_s": None, "auth": "device", "join_spread_s": 1.0}
    assert item["live_id"] == body["id"] and "media" not in item
    assert client.get("/api/v1/device/manifest", headers=auth(world, "loa-x2")).json()["items"] == []
    client.post(f"/api/v1/live/{body['id']}/stop", headers=auth(world, "editor"))
    [gone] = client.get("/api/v1/device/manifest", headers=auth(world, "loa-x1")).json()["items"]
    # What stays is the past: it ended now (the device stops the stream at its end).
    assert gone["ends_at"] <= client.get(f"/api/v1/live/{body['id']}", headers=auth(world, "editor")).json()[
        "ended_at"].replace("+00:00", "Z")


def test_the_join_spread_grows_with_the_loudspeakers_a_broadcast_goes_to(hub, world):
    from hub import live
    from hub.models import LiveBroadcast

    with hub.store.session() as session:
        from hub import accounts

        for n in range(600):
            accounts.add_device(session, f"loa-extra-{n}", "X2")
        accounts.add_device(session, "bang", "X1", "display")
    with hub.store.reader() as session:
        one = LiveBroadcast(targets=["X1"])
        province = LiveBroadcast(targets=["*"])
        assert live.join_spread(session, one) == 1.0  # loa-x1 alone (the board does not listen)
        assert live.join_spread(session, province) == round(602 / live.JOINS_PER_S, 1)


def test_the_ingest_refuses_a_wrong_key_or_an_unknown_broadcast(client, world):
    from starlette.websockets import WebSocketDisconnect

    body = open_live(client, world).json()
    for path in (f"/api/v1/live/{body['id']}/ingest?key=wrong", f"/api/v1/live/{body['id']}/ingest",
                 "/api/v1/live/" + "0" * 32 + "/ingest?key=x"):
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect(path) as ws:
                ws.receive_bytes()
        assert refused.value.code == 1008
    assert client.get(f"/api/v1/live/{body['id']}", headers=auth(world, "editor")).json()["status"] == "open"


def test_resuming_gives_its_author_a_new_key_and_refuses_the_old_one(client, world):
    from starlette.websockets import WebSocketDisconnect

    world.user("editor-2", "editor")
    world.user("admin", "admin")
    body = open_live(client, world).json()
    old = body["ingest_url"].split("://", 1)[1].split("/", 1)[1]
    resumed = client.post(f"/api/v1/live/{body['id']}/resume", headers=auth(world, "editor"))
    assert resumed.status_code == 200, resumed.text
    new = resumed.json()["ingest_url"]
    assert new.startswith("ws://") and new != body["ingest_url"] and resumed.json()["status"] == "open"
    with pytest.raises(WebSocketDisconnect) as refused:  # the old key no longer opens the ingest
        with client.websocket_connect("/" + old) as ws:
            ws.receive_bytes()
    assert refused.value.code == 1008
    # Only who opened it, or an admin; an operator of another commune does not see it.
    other = client.post(f"/api/v1/live/{body['id']}/resume", headers=auth(world, "editor-2"))
    assert other.status_code == 403 and "detail" in other.json()
    assert client.post(f"/api/v1/live/{body['id']}/resume", headers=auth(world, "admin")).status_code == 200
    world.user("op-x2", "operator", "X2")
    assert client.post(f"/api/v1/live/{body['id']}/resume", headers=auth(world, "op-x2")).status_code == 404
    assert client.post(f"/api/v1/live/{'0' * 32}/resume", headers=auth(world, "editor")).status_code == 404
    # Ended: nothing to take back.
    client.post(f"/api/v1/live/{body['id']}/stop", headers=auth(world, "editor"))
    late = client.post(f"/api/v1/live/{body['id']}/resume", headers=auth(world, "editor"))
    assert late.status_code == 409 and "detail" in late.json()


def test_live_without_icecast_set_up_is_a_clear_409(app, client, hub, world):
    hub.settings.icecast_url = None
    r = open_live(client, world)
    assert r.status_code == 409 and "HUB_ICECAST_URL" in r.json()["detail"]


@pytest.mark.sqlite_only
def test_console_page_per_role(app, hub, world):
    d = hub.services.directory
    d.add_user(None, "bientap", "editor", password=PASSWORD)
    d.add_user(None, "vanhanh", "operator", "X1", password=PASSWORD)
    d.add_user(None, "giamsat", "monitor", password=PASSWORD)
    with signed_in(app, "bientap") as c:
        page = c.get("/console/live")
        assert page.status_code == 200 and "Phát trực tiếp" in page.text and 'value="*"' in page.text
        assert "Chưa có buổi phát trực tiếp nào." in page.text and "/console/static/live-broadcast.js" in page.text
        assert c.get("/console/static/live-broadcast.js").status_code == 200
    with signed_in(app, "vanhanh") as c:
        page = c.get("/console/live")
        assert page.status_code == 200 and 'value="*"' not in page.text and 'value="X2"' not in page.text
        assert 'value="X1" checked' in page.text
    with signed_in(app, "giamsat") as c:
        assert c.get("/console/live").status_code == 404


def test_a_broadcast_whose_ingest_went_silent_ends_where_it_was_last_alive(client, hub, world):
    from datetime import timedelta

    from hub.models import LiveBroadcast

    body = open_live(client, world).json()
    hub.services.live._mark_on_air(body["id"])
    [item] = client.get("/api/v1/device/manifest", headers=auth(world, "loa-x1")).json()["items"]
    assert item["live_id"] == body["id"]
    # Its hub process died a minute ago: the ingest stopped writing alive_at.
    with hub.store.session() as session:
        row = session.get(LiveBroadcast, body["id"])
        row.started_at, row.alive_at = row.started_at - timedelta(minutes=2), row.started_at - timedelta(minutes=1)
    hub.manifests.clear()
    items = client.get("/api/v1/device/manifest", headers=auth(world, "loa-x1")).json()["items"]
    [cut] = [i for i in items if i.get("live_id") == body["id"]]
    assert cut["ends_at"] == row.alive_at.isoformat().replace("+00:00", "Z"), (cut, row.alive_at)
    # And the commune may speak again: the stale one is ended as failed.
    assert open_live(client, world).status_code == 201
    stale = client.get(f"/api/v1/live/{body['id']}", headers=auth(world, "editor")).json()
    assert stale["status"] == "ended" and stale["end_reason"] == "failed"


def test_the_archive_joins_the_parts_and_is_mastered_to_the_hub_s_loudness(tmp_path):
    import subprocess

    from hub.live import master
    from tests.live.conftest import beeps_wav

    parts = []
    for i, (count, volume) in enumerate(((4, 0.1), (3, 0.3))):  # two connections, quiet and louder
        wav = beeps_wav(tmp_path / f"p{i}.wav", count=count)
        parts.append(tmp_path / f"part-{i}.flac")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-af", f"volume={volume}", str(parts[-1])],
                       check=True)
    made = master(parts + [tmp_path / "missing.flac"], tmp_path, -16.0)
    assert made is not None and abs(made.duration_s - 7.0) < 0.2, made
    # Two-pass loudnorm lands within 1.5 LU here (one pass: 2.6 LU off, −13.4, on these parts).
    assert made.loudness_lufs is not None and abs(made.loudness_lufs + 16.0) <= 1.5, made.loudness_lufs
    assert made.data[:3] == b"ID3" or made.data[:2] == b"\xff\xfb"
    assert master([tmp_path / "missing.flac"], tmp_path, -16.0) is None
