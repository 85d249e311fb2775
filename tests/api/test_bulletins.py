"""The bulletin API against CONTRACT.md §Bulletins: fields, workflow, four eyes, audit, limits, scopes."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub import accounts
from hub.app import create_app
from hub.auth import DEVICE_PREFIX, USER_PREFIX
from hub.config import Settings
from hub.models import Approval, AuditEvent, Bulletin, Job, Revision
from tests.api.test_media import tiny_plugin_manager
from tests.conftest import People, bulletin_payload

API = "/api/v1/bulletins"


@pytest.fixture
def pm(settings):
    return tiny_plugin_manager(settings)


def seed(hub) -> SimpleNamespace:
    """Three communes and one of each kind of caller, written in one transaction (it is fast)."""
    users = {"author": ("editor", None), "approver": ("editor", None), "third": ("editor", None),
             "admin": ("admin", None), "op1": ("operator", "C1"), "op2": ("operator", "C2"),
             "monitor": ("monitor", None)}
    with hub.store.session() as session:
        for code in ("C1", "C2", "C3"):
            accounts.add_commune(session, code, f"Xã {code}")
        session.flush()
        records = {name: accounts.add_user(session, name, role, commune) for name, (role, commune) in users.items()}
        records["device"] = accounts.add_device(session, "loa-1", "C1")
    team = SimpleNamespace(ids={n: r["id"] for n, r in records.items()},
                           tokens={n: r["token"] for n, r in records.items()})
    for name, record in records.items():
        setattr(team, name, {"Authorization": f"Bearer {record['token']}"})
    return team


@pytest.fixture
def team(hub):
    return seed(hub)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One hub for the many parametrized cases: each case makes its own bulletin and compares counts."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("bulletins") / "var", workers=0)
    with TestClient(create_app(settings, pm=tiny_plugin_manager(settings))) as client:
        hub = client.app.state.hub
        yield SimpleNamespace(client=client, hub=hub, team=seed(hub))


def create(client, headers, **overrides) -> dict:
    r = client.post(API, json=bulletin_payload(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def act(client, bid: str, action: str, headers, **body):
    return client.post(f"{API}/{bid}/{action}", json=body or None, headers=headers)


def in_state(client, team, status: str, **overrides) -> dict:
    """A fresh bulletin by team.author, moved to ``status`` through the API."""
    bulletin = create(client, team.author, **overrides)
    bid = bulletin["id"]
    steps = {"draft": [], "pending": ["submit"], "approved": ["submit", "approve"],
             "rejected": ["submit", "reject"], "withdrawn": ["withdraw"]}[status]
    for step in steps:
        who = team.author if step in ("submit", "withdraw") else team.approver
        r = act(client, bid, step, who)
        assert r.status_code == 200, r.text
        bulletin = r.json()
    assert bulletin["status"] == status
    return bulletin


def audit_of(hub, bid: str) -> list[AuditEvent]:
    with hub.store.reader() as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.object_type == "bulletin", AuditEvent.object_id == bid).order_by(AuditEvent.id)))


def count(hub, model) -> int:
    with hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


# --- creating ------------------------------------------------------------------------------------


def test_create_gives_a_draft_with_every_contract_field(client, hub, team):
    payload = bulletin_payload(priority="priority", channels=["speaker", "web"], targets=["C1", "C2"],
                               valid_from="2026-12-01T06:00:00+07:00", valid_until="2026-12-31T17:00:00+07:00",
                               source="api", source_ref=None)
    r = client.post(API, json=payload, headers=team.author)
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["status"] == "draft" and b["revision"] == 1
    assert re.fullmatch(r"[0-9a-f]{64}", b["content_hash"])
    assert b["author"] == team.ids["author"]
    for field in ("title", "body", "priority", "channels", "targets", "source", "source_ref"):
        assert b[field] == payload[field], field
    assert b["valid_from"].startswith("2026-11-30T23:00:00") and b["valid_until"].startswith("2026-12-31T10:00:00")
    assert b["render_status"] is None and b["artifacts"] == []
    assert client.get(f"{API}/{b['id']}", headers=team.monitor).json() == b

    [event] = audit_of(hub, b["id"])
    assert (event.action, event.actor, event.from_status, event.to_status) == ("create", team.ids["author"], None,
                                                                                  "draft")
    assert event.content_hash == b["content_hash"] and event.revision == 1 and event.at is not None


def test_times_without_offset_are_vietnam_time(client, team):
    b = create(client, team.author, valid_from="2026-12-01T07:00:00")
    assert b["valid_from"].startswith("2026-12-01T00:00:00")


# --- the workflow and its audit trail ------------------------------------------------------------


def test_submit_approve_starts_rendering_and_audits_every_step(client, hub, team):
    b = create(client, team.author)
    bid, digest = b["id"], b["content_hash"]
    r = act(client, bid, "submit", team.author)
    assert r.status_code == 200 and r.json()["status"] == "pending"
    r = act(client, bid, "approve", team.approver)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "approved" and approved["approved_revision"] == 1
    assert approved["render_status"] == "queued"  # workers=0: queued until someone runs the job

    with hub.store.reader() as session:
        [approval] = session.scalars(select(Approval).where(Approval.bulletin_id == bid)).all()
        jobs = session.scalars(select(Job).where(Job.bulletin_id == bid)).all()
    assert (approval.decision, approval.revision, approval.content_hash) == ("approve", 1, digest)
    assert approval.decided_by == team.ids["approver"]
    assert [(j.renderer, j.revision, j.status) for j in jobs] == [("tiny-audio", 1, "queued")]

    events = audit_of(hub, bid)
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("create", None, "draft"), ("submit", "draft", "pending"), ("approve", "pending", "approved")]
    assert [e.actor for e in events] == [team.ids["author"], team.ids["author"], team.ids["approver"]]
    assert all(e.content_hash == digest and e.at is not None for e in events)
    assert events[0].at <= events[1].at <= events[2].at

    assert hub.pipeline.run_one()
    done = client.get(f"{API}/{bid}", headers=team.author).json()
    assert done["render_status"] == "done" and [a["kind"] for a in done["artifacts"]] == ["audio"]


def test_the_author_cannot_approve(client, hub, team):
    b = in_state(client, team, "pending")
    before = len(audit_of(hub, b["id"]))
    jobs = count(hub, Job)  # queued at submission: the render happens before approval
    r = act(client, b["id"], "approve", team.author)
    assert r.status_code == 403 and "author" in r.json()["detail"]
    assert client.get(f"{API}/{b['id']}", headers=team.author).json()["status"] == "pending"
    assert len(audit_of(hub, b["id"])) == before
    assert count(hub, Approval) == 0 and count(hub, Job) == jobs


def test_self_approval_only_when_configured(tmp_path):
    settings = Settings(data_dir=tmp_path / "solo", workers=0, allow_self_approval=True)
    with TestClient(create_app(settings, pm=tiny_plugin_manager(settings))) as client:
        people = People(client.app.state.hub)
        people.commune("C1")
        solo = people.user("solo", "admin")
        bid = create(client, solo)["id"]
        assert act(client, bid, "submit", solo).status_code == 200
        r = act(client, bid, "approve", solo)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved"


def test_whoever_wrote_the_current_revision_cannot_approve_it_either(client, team):
    bid = in_state(client, team, "pending")["id"]
    r = client.patch(f"{API}/{bid}", json={"body": "Sửa lại giờ tiêm: 8 giờ sáng."}, headers=team.approver)
    assert r.status_code == 200
    assert act(client, bid, "submit", team.approver).status_code == 200
    assert act(client, bid, "approve", team.author).status_code == 403  # wrote revision 1
    assert act(client, bid, "approve", team.approver).status_code == 403  # wrote revision 2
    r = act(client, bid, "approve", team.third)
    assert r.status_code == 200 and r.json()["approved_revision"] == 2


def test_an_edit_makes_a_new_revision_back_in_draft(client, hub, team):
    b = in_state(client, team, "approved")
    bid, old_hash = b["id"], b["content_hash"]
    r = client.patch(f"{API}/{bid}", json={"title": "Thông báo lịch tiêm chủng (sửa đổi)"}, headers=team.author)
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["status"] == "draft" and edited["revision"] == 2
    assert edited["content_hash"] != old_hash and edited["approved_revision"] is None
    assert edited["title"] == "Thông báo lịch tiêm chủng (sửa đổi)" and edited["body"] == b["body"]

    with hub.store.reader() as session:
        revisions = session.scalars(select(Revision).where(Revision.bulletin_id == bid)
                                    .order_by(Revision.revision)).all()
    # Revisions are kept: what was approved stays on record with its own hash.
    assert [(rv.revision, rv.content_hash) for rv in revisions] == [(1, old_hash), (2, edited["content_hash"])]
    last = audit_of(hub, bid)[-1]
    assert (last.action, last.from_status, last.to_status, last.revision, last.content_hash, last.actor) == (
        "edit", "approved", "draft", 2, edited["content_hash"], team.ids["author"])

    # The new revision needs the whole workflow again.
    assert act(client, bid, "approve", team.approver).status_code == 409
    assert act(client, bid, "submit", team.author).status_code == 200
    r = act(client, bid, "approve", team.approver)
    assert r.status_code == 200 and r.json()["approved_revision"] == 2


def test_an_edit_that_changes_nothing_makes_no_revision(client, hub, team):
    b = in_state(client, team, "pending")
    r = client.patch(f"{API}/{b['id']}", json={"title": b["title"], "targets": b["targets"]}, headers=team.author)
    assert r.status_code == 200
    assert (r.json()["revision"], r.json()["status"]) == (1, "pending")
    assert [e.action for e in audit_of(hub, b["id"])] == ["create", "submit"]


def test_approval_binds_to_the_content_hash_read(client, hub, team):
    b = in_state(client, team, "pending")
    bid, stale = b["id"], b["content_hash"]
    client.patch(f"{API}/{bid}", json={"priority": "emergency"}, headers=team.author)
    act(client, bid, "submit", team.author)
    r = act(client, bid, "approve", team.approver, content_hash=stale)
    assert r.status_code == 409 and "detail" in r.json()
    assert client.get(f"{API}/{bid}", headers=team.author).json()["status"] == "pending"
    current = client.get(f"{API}/{bid}", headers=team.author).json()["content_hash"]
    r = act(client, bid, "approve", team.approver, content_hash=current)
    assert r.status_code == 200
    with hub.store.reader() as session:
        approval = session.scalars(select(Approval).where(Approval.bulletin_id == bid)).one()
    assert (approval.revision, approval.content_hash) == (2, current)


def test_reject_with_reason_then_fix_and_approve(client, hub, team):
    bid = in_state(client, team, "pending")["id"]
    r = act(client, bid, "reject", team.approver, reason="Thiếu địa điểm tiêm")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    with hub.store.reader() as session:
        rejection = session.scalars(select(Approval).where(Approval.bulletin_id == bid)).one()
    assert (rejection.decision, rejection.reason) == ("reject", "Thiếu địa điểm tiêm")
    event = audit_of(hub, bid)[-1]
    assert (event.action, event.from_status, event.to_status) == ("reject", "pending", "rejected")
    assert event.detail == {"reason": "Thiếu địa điểm tiêm"}

    assert act(client, bid, "submit", team.author).status_code == 409
    r = client.patch(f"{API}/{bid}", json={"body": "Tiêm tại trạm y tế xã, 8 giờ sáng."}, headers=team.author)
    assert r.json()["status"] == "draft"
    assert act(client, bid, "submit", team.author).status_code == 200
    assert act(client, bid, "approve", team.approver).json()["status"] == "approved"


@pytest.mark.parametrize("status", ["draft", "pending", "approved", "rejected"])
def test_withdraw_from_any_live_state(world, status):
    client, hub, team = world.client, world.hub, world.team
    b = in_state(client, team, status)
    r = act(client, b["id"], "withdraw", team.approver, reason="Hết hiệu lực")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    event = audit_of(hub, b["id"])[-1]
    assert (event.action, event.from_status, event.to_status, event.content_hash) == (
        "withdraw", status, "withdrawn", b["content_hash"])


NOT_ALLOWED = [
    ("draft", "approve"), ("draft", "reject"),
    ("pending", "submit"),
    ("approved", "submit"), ("approved", "approve"), ("approved", "reject"),
    ("rejected", "approve"), ("rejected", "reject"), ("rejected", "submit"),
    ("withdrawn", "submit"), ("withdrawn", "approve"), ("withdrawn", "reject"), ("withdrawn", "withdraw"),
    ("withdrawn", "edit"), ("withdrawn", "noop-edit"),
]


@pytest.mark.parametrize(("status", "action"), NOT_ALLOWED)
def test_transitions_the_machine_does_not_allow_are_409(world, status, action):
    client, hub, team = world.client, world.hub, world.team
    b = in_state(client, team, status)
    before = (len(audit_of(hub, b["id"])), count(hub, Revision), count(hub, Approval), count(hub, Job))
    if action == "edit":
        r = client.patch(f"{API}/{b['id']}", json={"title": "Tiêu đề mới"}, headers=team.approver)
    elif action == "noop-edit":
        r = client.patch(f"{API}/{b['id']}", json={}, headers=team.approver)
    else:
        # The approver is never the author, so only the state machine can refuse.
        r = act(client, b["id"], action, team.approver if action != "submit" else team.author)
    assert r.status_code == 409, r.text
    assert status in r.json()["detail"]
    after = client.get(f"{API}/{b['id']}", headers=team.author).json()
    assert (after["status"], after["revision"]) == (status, b["revision"])
    assert (len(audit_of(hub, b["id"])), count(hub, Revision), count(hub, Approval), count(hub, Job)) == before


# --- ingest idempotency --------------------------------------------------------------------------


def test_same_source_and_ref_again_gives_the_existing_bulletin(client, hub, team):
    first = client.post(API, json=bulletin_payload(source="rss", source_ref="https://so.vn/tin/123"),
                        headers=team.author)
    assert first.status_code == 201
    again = client.post(API, json=bulletin_payload(source="rss", source_ref="https://so.vn/tin/123",
                                                   title="Khác hẳn"), headers=team.approver)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["title"] == first.json()["title"]
    assert count(hub, Bulletin) == 1 and count(hub, Revision) == 1
    assert [e.action for e in audit_of(hub, first.json()["id"])] == ["create"]

    # The key is the pair: the same ref from another source is another bulletin.
    other = client.post(API, json=bulletin_payload(source="cap", source_ref="https://so.vn/tin/123"),
                        headers=team.author)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    # No source_ref: nothing to deduplicate on.
    assert client.post(API, json=bulletin_payload(), headers=team.author).status_code == 201
    assert client.post(API, json=bulletin_payload(), headers=team.author).status_code == 201
    assert count(hub, Bulletin) == 4


# --- limits and bad fields -----------------------------------------------------------------------


def test_title_and_body_limits(client, hub, team):
    assert create(client, team.author, title="T" * 300, body="b" * 20_000)["title"] == "T" * 300
    r = client.post(API, json=bulletin_payload(title="T" * 301), headers=team.author)
    assert r.status_code == 422 and "300" in r.json()["detail"]
    r = client.post(API, json=bulletin_payload(body="b" * 20_001), headers=team.author)
    assert r.status_code == 413 and "20000" in r.json()["detail"]
    bid = create(client, team.author)["id"]
    r = client.patch(f"{API}/{bid}", json={"body": "ư" * 20_001}, headers=team.author)
    assert r.status_code == 413
    assert count(hub, Bulletin) == 2 and count(hub, Revision) == 2


def test_targets_must_be_known_communes(client, hub, team):
    r = client.post(API, json=bulletin_payload(targets=["C1", "XA-MA", "C2"]), headers=team.author)
    assert r.status_code == 422
    assert "XA-MA" in r.json()["detail"] and "C1" not in r.json()["detail"]
    r = client.post(API, json=bulletin_payload(targets=["*", "C1"]), headers=team.author)
    assert r.status_code == 422
    bid = create(client, team.author, targets=["C1"])["id"]
    r = client.patch(f"{API}/{bid}", json={"targets": ["C9"]}, headers=team.author)
    assert r.status_code == 422 and "C9" in r.json()["detail"]
    assert count(hub, Bulletin) == 1 and count(hub, Revision) == 1


BAD_FIELDS = {
    "wrong priority": {"priority": "urgent"},
    "unknown channel": {"channels": ["speaker", "sms"]},
    "extra field": {"colour": "red"},
    "status is not settable": {"status": "approved"},
    "title not a string": {"title": 123},
    "body not a string": {"body": ["a"]},
    "channels not a list": {"channels": "speaker"},
    "targets not a list": {"targets": "C1"},
    "target not a string": {"targets": [1]},
    "no targets": {"targets": []},
    "no channels": {"channels": []},
    "repeated channel": {"channels": ["web", "web"]},
    "empty title": {"title": ""},
    "blank title": {"title": "   "},
    "null title": {"title": None},
    "bad date": {"valid_from": "hôm qua"},
    "ends before it starts": {"valid_from": "2026-12-02T00:00:00Z", "valid_until": "2026-12-01T00:00:00Z"},
    "year 9999": {"valid_until": "9999-12-31T23:59:59-12:00"},
    "year 1": {"valid_from": "0001-01-01T00:00:00"},
    "NUL in title": {"title": "a\x00b"},
    "NUL in target": {"targets": ["C1\x00"]},
}


@pytest.mark.parametrize("fields", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_bad_fields_are_422_and_write_nothing(world, fields):
    client, hub, team = world.client, world.hub, world.team
    bid = create(client, team.author)["id"]
    before = (count(hub, Bulletin), count(hub, Revision), count(hub, AuditEvent))
    r = client.post(API, json=bulletin_payload(**fields), headers=team.author)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    r = client.patch(f"{API}/{bid}", json=fields, headers=team.author)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    assert (count(hub, Bulletin), count(hub, Revision), count(hub, AuditEvent)) == before


def test_missing_required_fields_and_malformed_json(client, hub, team):
    for field in ("title", "body", "targets"):
        payload = bulletin_payload()
        del payload[field]
        r = client.post(API, json=payload, headers=team.author)
        assert r.status_code == 422 and field in str(r.json()["detail"])
    for raw in (b'{"title": "x", ', b"not json", b"", b"[]", b"null", b"\xff\xfe"):
        r = client.post(API, content=raw, headers={**team.author, "Content-Type": "application/json"})
        assert r.status_code == 422, raw
        assert r.json()["detail"]
    assert count(hub, Bulletin) == 0


def test_defaults_fill_priority_channels_and_source(client, team):
    payload = {"title": "Tin ngắn", "body": "Nội dung.", "targets": ["C1"]}
    r = client.post(API, json=payload, headers=team.author)
    assert r.status_code == 201
    b = r.json()
    assert (b["priority"], b["channels"], b["source"], b["source_ref"]) == (
        "normal", ["speaker", "display", "web"], "api", None)


# --- who may do what -----------------------------------------------------------------------------


def test_no_or_bad_token_is_401(client, team):
    bid = create(client, team.author)["id"]
    user_token = team.tokens["author"]
    device_token = team.tokens["device"]
    bad = [
        {}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer   "},
        {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {user_token}"},
        {"Authorization": f"Bearer {user_token}x"},
        # A token works only as the kind it was issued as.
        {"Authorization": f"Bearer {DEVICE_PREFIX}{user_token.removeprefix(USER_PREFIX)}"},
        {"Authorization": f"Bearer {USER_PREFIX}{device_token.removeprefix(DEVICE_PREFIX)}"},
    ]
    for headers in bad:
        for method, url in (("GET", API), ("GET", f"{API}/{bid}"), ("POST", f"{API}/{bid}/submit")):
            r = client.request(method, url, headers=headers)
            assert r.status_code == 401, (headers, url)
            assert r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
    # The scheme is case-insensitive (RFC 7235).
    assert client.get(API, headers={"Authorization": f"bearer {user_token}"}).status_code == 200


def test_a_user_token_never_works_as_a_device(client, team):
    for who in ("admin", "author", "op1", "monitor"):
        r = client.get("/api/v1/device/manifest", headers=getattr(team, who))
        assert r.status_code == 403, who
        assert r.json()["detail"]
    assert client.get("/api/v1/device/manifest", headers=team.device).status_code == 200


def test_a_device_token_on_user_endpoints_is_403(client, team):
    bid = create(client, team.author, targets=["C1"])["id"]
    for method, url, body in (("POST", API, bulletin_payload(targets=["C1"])), ("GET", API, None),
                              ("GET", f"{API}/{bid}", None), ("PATCH", f"{API}/{bid}", {"title": "x"}),
                              ("POST", f"{API}/{bid}/submit", None), ("GET", f"{API}/{bid}/artifacts", None)):
        r = client.request(method, url, json=body, headers=team.device)
        assert r.status_code == 403, url
        assert r.json()["detail"]


def test_operator_creates_only_for_its_own_commune(client, hub, team):
    b = create(client, team.op1, targets=["C1"])
    assert b["targets"] == ["C1"]
    for targets in (["*"], ["C2"], ["C1", "C2"]):
        r = client.post(API, json=bulletin_payload(targets=targets), headers=team.op1)
        assert r.status_code == 403, targets
        assert r.json()["detail"]
    # Nor by editing its own bulletin afterwards.
    r = client.patch(f"{API}/{b['id']}", json={"targets": ["*"]}, headers=team.op1)
    assert r.status_code == 403
    assert count(hub, Bulletin) == 1 and count(hub, Revision) == 1
    # Its own bulletin: submit and withdraw yes, approve never.
    assert act(client, b["id"], "submit", team.op1).status_code == 200
    assert act(client, b["id"], "approve", team.op1).status_code == 403
    assert act(client, b["id"], "withdraw", team.op1).status_code == 200


def test_operator_sees_only_its_commune_and_star(client, team):
    mine = create(client, team.author, targets=["C1"])
    shared = create(client, team.author, targets=["C1", "C3"])
    everyone = create(client, team.author, targets=["*"])
    theirs = create(client, team.author, targets=["C2"])

    listed = client.get(API, headers=team.op1)
    assert {b["id"] for b in listed.json()} == {mine["id"], shared["id"], everyone["id"]}
    assert listed.headers["x-total-count"] == "3"
    for b in (mine, shared, everyone):
        assert client.get(f"{API}/{b['id']}", headers=team.op1).status_code == 200

    hidden = theirs["id"]
    assert client.get(f"{API}/{hidden}", headers=team.op1).status_code == 404
    assert client.get(f"{API}/{hidden}/artifacts", headers=team.op1).status_code == 404
    assert client.patch(f"{API}/{hidden}", json={"title": "x"}, headers=team.op1).status_code == 404
    for action in ("submit", "approve", "reject", "withdraw"):
        r = act(client, hidden, action, team.op1)
        assert r.status_code == 404, action
        assert r.json()["detail"] == "bulletin not found"
    # The same answer as for an id that does not exist: nothing leaks.
    assert client.get(f"{API}/{'0' * 32}", headers=team.op1).json() == \
        client.get(f"{API}/{hidden}", headers=team.op1).json()
    assert client.get(f"{API}/{hidden}", headers=team.op2).status_code == 200


def test_listing_filters_paginates_and_counts(client, team):
    a = in_state(client, team, "pending", targets=["C1"], priority="emergency")
    b = in_state(client, team, "approved", targets=["C2"])
    c = in_state(client, team, "draft", targets=["*"], priority="priority")
    d = in_state(client, team, "pending", targets=["C2", "C3"], priority="emergency")

    def ids(**params):
        r = client.get(API, params=params, headers=team.monitor)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()], int(r.headers["x-total-count"])

    assert ids() == ([d["id"], c["id"], b["id"], a["id"]], 4)  # newest first
    assert ids(status="pending") == ([d["id"], a["id"]], 2)
    assert ids(priority="emergency") == ([d["id"], a["id"]], 2)
    assert ids(commune="C2") == ([d["id"], c["id"], b["id"]], 3)  # "*" reaches every commune
    assert ids(commune="C2", status="pending", priority="emergency") == ([d["id"]], 1)
    assert ids(limit=2) == ([d["id"], c["id"]], 4)
    assert ids(limit=2, offset=2) == ([b["id"], a["id"]], 4)
    assert ids(limit=2, offset=10) == ([], 4)
    assert ids(commune="NOWHERE") == ([c["id"]], 1)
    assert "artifacts" not in client.get(API, headers=team.monitor).json()[0]

    assert ids(offset=1_000_000_000) == ([], 4)
    # Past the bound (a 64-bit integer overflowed SQLite and answered 500): 422, issue 14.
    for params in ({"status": "sent"}, {"priority": "high"}, {"limit": 0}, {"limit": 201}, {"offset": -1},
                   {"limit": "many"}, {"offset": 9223372036854775808}, {"offset": 1_000_000_001}):
        r = client.get(API, params=params, headers=team.monitor)
        assert r.status_code == 422, params
        assert r.json()["detail"]


# --- text search, history, the last approved revision (for the console's bulletin pages) ---------


def test_list_filters_by_text_in_title_or_body(client, team):
    a = create(client, team.author, title="Lịch tiêm phòng", body="Tại trạm y tế xã.")
    b = create(client, team.author, title="Thu thuế", body="Nộp trước ngày 15, tiêm chủng không liên quan.")
    create(client, team.author, title="Họp dân", body="Nhà văn hoá thôn.")
    r = client.get(API, params={"q": "tiêm"}, headers=team.author)
    assert r.status_code == 200 and {x["id"] for x in r.json()} == {a["id"], b["id"]}
    assert r.headers["X-Total-Count"] == "2"
    r = client.get(API, params={"q": "100%_"}, headers=team.author)
    assert r.json() == []
    r = client.get(API, params={"q": "Thu thuế", "priority": "normal"}, headers=team.author)
    assert [x["id"] for x in r.json()] == [b["id"]]


def test_history_and_last_approved(client, hub, team):
    bid = in_state(client, team, "approved", title="Bản một")["id"]
    service = hub.services.bulletins
    from hub.auth import authenticate
    with hub.store.reader() as session:
        author = authenticate(session, team.tokens["author"])
    first = service.last_approved(author, bid)
    assert first["revision"] == 1 and first["title"] == "Bản một"
    client.patch(f"{API}/{bid}", json={"title": "Bản hai"}, headers=team.author)
    assert service.last_approved(author, bid)["title"] == "Bản một"
    steps = service.history(author, bid)
    assert [s["action"] for s in steps] == ["create", "submit", "approve", "edit"]
    assert steps[2]["actor_name"] == "approver" and steps[-1]["revision"] == 2
    fresh = create(client, team.author)
    assert service.last_approved(author, fresh["id"]) is None
