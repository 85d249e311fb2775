"""CAP 1.2 in: POST /api/v1/ingest/cap through the real app, store and plugin manager."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from hub.app import create_app
from hub.clock import LOCAL_TZ
from hub.models import Approval, AuditEvent, Bulletin, Job, User
from hub_ingest import cap, cap_ingest
from hub_ingest.schema import check_cap12
from hub_ingest.settings import IngestSettings

CAP_DIR = Path(__file__).parent / "fixtures" / "cap"
URL = "/api/v1/ingest/cap"
METEO_TOKEN = "meteo-upstream-key-0123456789abcdef"
KTTV_TOKEN = "kttv-trusted-key-fedcba9876543210xyz"
XML = {"Content-Type": "application/cap+xml"}


#: The fixtures' own morning: their alerts are in force then (an expired alert creates nothing).
ALERTS_DAY = datetime(2026, 10, 12, 8, 30, tzinfo=LOCAL_TZ)


@pytest.fixture(autouse=True)
def on_the_alerts_day(monkeypatch):
    monkeypatch.setattr(cap_ingest, "utcnow", lambda: ALERTS_DAY.astimezone(timezone.utc))


def fixture(name: str) -> bytes:
    return (CAP_DIR / name).read_bytes()


def key(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **XML}


@pytest.fixture
def app(settings, pm, monkeypatch):
    # meteo posts plainly; kttv is configured by digest (no secret in the setting) and is trusted.
    digest = hashlib.sha256(KTTV_TOKEN.encode()).hexdigest()
    monkeypatch.setenv("HUB_INGEST_KEYS", f"meteo={METEO_TOKEN},kttv=sha256:{digest}")
    monkeypatch.setenv("HUB_INGEST_TRUSTED", "kttv")
    monkeypatch.setenv("HUB_INGEST_POLL_S", "0")
    return create_app(settings, pm=pm)


@pytest.fixture
def editors(people):
    people.commune("LS01", "Xã Hữu Lũng")
    people.commune("LS02", "Xã Yên Bình")
    return {"alice": {**people.user("alice", "editor"), **XML}, "bob": {**people.user("bob", "editor"), **XML}}


def count_bulletins(hub) -> int:
    with hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(Bulletin))


def audit_trail(hub, bulletin_id: str) -> list[tuple[str, str]]:
    with hub.store.reader() as session:
        rows = session.execute(
            select(AuditEvent.action, User.name).join(User, User.id == AuditEvent.actor)
            .where(AuditEvent.object_type == "bulletin", AuditEvent.object_id == bulletin_id)
            .order_by(AuditEvent.id)).all()
    return [tuple(row) for row in rows]


# --- The severity table ----------------------------------------------------------------------------

EXPECTED = {
    ("Extreme", "Immediate"): "emergency", ("Severe", "Immediate"): "emergency",
    ("Extreme", "Expected"): "priority", ("Severe", "Expected"): "priority",
    ("Extreme", "Future"): "priority", ("Severe", "Past"): "priority", ("Extreme", "Unknown"): "priority",
    ("Moderate", "Immediate"): "priority", ("Moderate", "Expected"): "priority",
}


@pytest.mark.parametrize("severity", cap.SEVERITIES)
@pytest.mark.parametrize("urgency", cap.URGENCIES)
def test_priority_table(severity, urgency):
    expected = EXPECTED.get((severity, urgency))
    if expected is None:
        expected = "priority" if severity in ("Extreme", "Severe") else "normal"
    priority, reason = cap.priority_for(severity, urgency)
    assert priority == expected
    assert severity in reason and urgency in reason


# --- Alerts -----------------------------------------------------------------------------------------


def test_alert_becomes_a_pending_bulletin_from_the_vietnamese_block(client, hub, editors):
    response = client.post(URL, content=fixture("flood_alert.xml"), headers=editors["alice"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert body["author_name"] == "alice"
    assert body["title"] == "Cảnh báo lũ trên sông Kỳ Cùng"
    assert body["body"].startswith("Mực nước sông Kỳ Cùng đang lên, đêm nay vượt báo động cấp II.\nCác xã ven sông")
    assert body["body"].endswith("Di chuyển người và gia súc ra khỏi khu vực ven sông; không đi qua ngầm tràn.")
    assert body["priority"] == "priority"
    assert body["priority_reason"] == "severity Severe, urgency Expected → priority"
    assert body["targets"] == ["LS01", "LS02"]
    assert body["channels"] == ["speaker", "display", "web"]
    # effective, not onset, opens the validity: the warning airs before the flood arrives.
    assert body["valid_from"].startswith("2026-10-11T23:30:00")
    assert body["valid_until"].startswith("2026-10-13T23:00:00")
    assert body["source"] == "cap"
    assert body["source_ref"] == "canhbao@nchmf.gov.vn,NCHMF-2026-10-12-LU-0042"
    # What happened and what to do pass through to the hub's own CAP out (issue 17).
    assert (body["cap_event"], body["cap_category"]) == ("Lũ", "Met")
    assert body["instruction"] == "Di chuyển người và gia súc ra khỏi khu vực ven sông; không đi qua ngầm tràn."
    unmapped = {(u["area"], u["valueName"], u["value"]): u["reason"] for u in body["unmapped"]}
    assert unmapped[("Xã ven sông Kỳ Cùng", "commune", "LS99")] == "no commune with this code"
    assert "HUB_INGEST_GEOCODE_NAMES" in unmapped[("Tỉnh Lạng Sơn", "province", "20")]
    assert "polygons" in unmapped[("Vùng trũng thấp", None, None)]
    assert audit_trail(hub, body["id"]) == [("create", "alice"), ("submit", "alice")]

    # The author cannot approve it; a second editor can.
    assert client.post(f"/api/v1/bulletins/{body['id']}/approve", headers=editors["alice"]).status_code == 403
    assert client.post(f"/api/v1/bulletins/{body['id']}/approve", headers=editors["bob"]).status_code == 200


def test_the_same_alert_twice_is_one_bulletin(client, hub, editors):
    first = client.post(URL, content=fixture("flood_alert.xml"), headers=editors["alice"])
    again = client.post(URL, content=fixture("flood_alert.xml"), headers=editors["bob"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["unmapped"] == first.json()["unmapped"]
    assert count_bulletins(hub) == 1


def test_upstream_key_writes_as_a_system_principal_that_cannot_log_in(client, hub, editors):
    response = client.post(URL, content=fixture("flood_alert.xml"), headers=key(METEO_TOKEN))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["author_name"]) == ("pending", "cap:meteo")
    with hub.store.reader() as session:
        assert session.scalar(select(User.active).where(User.name == "cap:meteo")) is False
    assert client.post(f"/api/v1/bulletins/{body['id']}/approve", headers=editors["bob"]).json()["status"] == "approved"


def test_trusted_key_is_approved_by_a_second_system_principal_and_rendering_starts(client, hub, editors):
    response = client.post(URL, content=fixture("flood_alert.xml"), headers=key(KTTV_TOKEN))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert body["approved_revision"] == 1
    assert "HUB_INGEST_TRUSTED" in body["note"]
    trail = audit_trail(hub, body["id"])
    assert trail == [("create", "cap:kttv"), ("submit", "cap:kttv"), ("approve", "cap:kttv:auto-approve")]
    with hub.store.reader() as session:
        approval = session.scalars(select(Approval).where(Approval.bulletin_id == body["id"])).one()
        approver = session.get(User, approval.decided_by)
        bulletin = session.get(Bulletin, body["id"])
        jobs = session.scalars(select(Job).where(Job.bulletin_id == body["id"])).all()
    assert approver.name == "cap:kttv:auto-approve" and approver.id != bulletin.author_id
    assert "HUB_INGEST_TRUSTED" in approval.reason
    assert jobs and {job.status for job in jobs} == {"queued"}
    assert {job.priority for job in jobs} == {1}  # a "priority" bulletin renders before normal ones
    assert body["render_status"] == "queued"


# --- Update and Cancel ------------------------------------------------------------------------------


def test_update_edits_the_referenced_bulletin_and_needs_approval_again(client, hub, editors):
    alert = client.post(URL, content=fixture("flood_alert.xml"), headers=editors["alice"]).json()
    client.post(f"/api/v1/bulletins/{alert['id']}/approve", headers=editors["bob"])

    response = client.post(URL, content=fixture("flood_update.xml"), headers=editors["alice"])
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["id"] == alert["id"]
    assert (updated["revision"], updated["status"], updated["approved_revision"]) == (2, "pending", None)
    assert (updated["priority"], updated["title"]) == ("emergency", "Lũ khẩn cấp trên sông Kỳ Cùng")
    assert updated["valid_from"] is None and updated["valid_until"].startswith("2026-10-14T11:00:00")
    assert updated["unmapped"] == []

    again = client.post(URL, content=fixture("flood_update.xml"), headers=editors["alice"])
    assert again.status_code == 200 and again.json()["revision"] == 2
    assert count_bulletins(hub) == 1


def test_cancel_withdraws_the_bulletin(client, hub, editors):
    alert = client.post(URL, content=fixture("flood_alert.xml"), headers=key(KTTV_TOKEN)).json()
    client.post(URL, content=fixture("flood_update.xml"), headers=key(KTTV_TOKEN))
    response = client.post(URL, content=fixture("flood_cancel.xml"), headers=key(KTTV_TOKEN))
    assert response.status_code == 200, response.text
    assert (response.json()["id"], response.json()["status"]) == (alert["id"], "withdrawn")
    again = client.post(URL, content=fixture("flood_cancel.xml"), headers=key(KTTV_TOKEN))
    assert again.status_code == 200 and again.json()["status"] == "withdrawn"
    late = fixture("flood_update.xml").replace(b"LU-0043<", b"LU-0044<")
    response = client.post(URL, content=late, headers=key(KTTV_TOKEN))
    assert response.status_code == 409 and "withdrawn" in response.json()["detail"]


def test_a_key_cannot_change_alerts_it_did_not_send(client, hub, editors):
    client.post(URL, content=fixture("flood_alert.xml"), headers=editors["alice"])
    response = client.post(URL, content=fixture("flood_cancel.xml"), headers=key(METEO_TOKEN))
    assert response.status_code == 403
    assert "only the alerts it sent" in response.json()["detail"]


def test_update_of_an_unknown_alert_is_taken_as_a_new_one(client, hub, editors):
    response = client.post(URL, content=fixture("flood_update.xml"), headers=editors["alice"])
    assert response.status_code == 201
    assert "taken as a new alert" in response.json()["note"]
    assert response.json()["source_ref"] == "canhbao@nchmf.gov.vn,NCHMF-2026-10-12-LU-0043"


def test_cancel_of_an_unknown_alert_is_refused(client, hub, editors):
    response = client.post(URL, content=fixture("flood_cancel.xml"), headers=editors["alice"])
    assert response.status_code == 422
    assert "references no alert" in response.json()["detail"]


# --- What never airs ---------------------------------------------------------------------------------


def test_test_status_is_checked_but_creates_nothing(client, hub, editors):
    response = client.post(URL, content=fixture("test_status.xml"), headers=key(KTTV_TOKEN))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["created"] is False and "Test" in body["note"]
    assert body["would_create"]["priority"] == "priority"
    assert body["would_create"]["targets"] == ["LS01", "LS02"]
    assert count_bulletins(hub) == 0


@pytest.mark.parametrize("status", ["Exercise", "Draft", "System"])
def test_other_non_actual_statuses_create_nothing(client, hub, editors, status):
    data = fixture("flood_alert.xml").replace(b"<status>Actual<", f"<status>{status}<".encode())
    assert client.post(URL, content=data, headers=key(KTTV_TOKEN)).status_code == 202
    assert count_bulletins(hub) == 0


def test_restricted_scope_is_refused(client, editors):
    data = fixture("flood_alert.xml").replace(b"<scope>Public<", b"<scope>Restricted<")
    response = client.post(URL, content=data, headers=editors["alice"])
    assert response.status_code == 422 and "Public" in response.json()["detail"]


# --- Bad input: 4xx with a detail, nothing written -----------------------------------------------


@pytest.mark.parametrize("name, words", [
    ("billion_laughs.xml", "DOCTYPE"),
    ("xxe.xml", "DOCTYPE"),
    ("malformed.xml", "malformed XML"),
])
def test_hostile_or_broken_xml_is_refused(client, hub, editors, name, words):
    response = client.post(URL, content=fixture(name), headers=editors["alice"])
    assert response.status_code == 422
    assert words in response.json()["detail"]
    assert "root:" not in response.text  # nothing of /etc/passwd leaks back
    assert count_bulletins(hub) == 0


def test_missing_elements_are_named(client, hub, editors):
    response = client.post(URL, content=fixture("missing_elements.xml"), headers=editors["alice"])
    assert response.status_code == 422
    detail = response.json()["detail"]
    for name in ("sender", "info[1]/severity", "info[1]/area"):
        assert name in detail
    assert "identifier" not in detail.split("missing:")[1]


def test_bad_values_and_wrong_documents_are_named(client, editors):
    data = fixture("flood_alert.xml").replace(b"<urgency>Expected</urgency>", b"<urgency>Soon</urgency>", 1)
    response = client.post(URL, content=data, headers=editors["alice"])
    assert response.status_code == 422 and "info[1]/urgency 'Soon'" in response.json()["detail"]
    rss = b'<rss version="2.0"><channel/></rss>'
    response = client.post(URL, content=rss, headers=editors["alice"])
    assert response.status_code == 422 and "not a CAP alert" in response.json()["detail"]
    assert client.post(URL, content=b"", headers=editors["alice"]).status_code == 422


def test_no_mappable_commune_is_refused(client, hub, editors):
    data = fixture("flood_alert.xml").replace(b"<value>LS01</value>", b"<value>XX01</value>") \
        .replace(b"<value>LS02</value>", b"<value>XX02</value>")
    response = client.post(URL, content=data, headers=editors["alice"])
    assert response.status_code == 422
    body = response.json()
    assert "XX02" in body["detail"] and "LS99" in body["detail"] and "None" not in body["detail"]
    # The same structured list a success answer carries, not only a sentence.
    unmapped = {(u["area"], u["valueName"], u["value"]): u["reason"] for u in body["unmapped"]}
    assert unmapped[("Xã ven sông Kỳ Cùng", "commune", "XX01")] == "no commune with this code"
    assert "polygons" in unmapped[("Vùng trũng thấp", None, None)]
    assert count_bulletins(hub) == 0


def test_a_foreign_alert_with_ugc_and_same_codes_maps_nowhere(client, hub, editors):
    response = client.post(URL, content=fixture("nws_ugc_same.xml"), headers=editors["alice"])
    assert response.status_code == 422, response.text
    names = {u["valueName"] for u in response.json()["unmapped"]}
    assert names == {"SAME", "UGC"}
    assert count_bulletins(hub) == 0


def test_a_bilingual_alert_takes_the_vietnamese_block(client, hub, editors):
    response = client.post(URL, content=fixture("bilingual.xml"), headers=editors["alice"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["title"] == "Bão số 7 đang tiến gần" and body["priority"] == "emergency"
    assert "chằng chống" in body["body"] and body["targets"] == ["LS01"]


@pytest.mark.parametrize("name, words", [
    ("schema_invalid_order.xml", ["'status'", "'color'"]),
    ("schema_invalid_values.xml", ["category", "size"]),
])
def test_schema_invalid_alerts_are_refused(client, hub, editors, name, words, monkeypatch):
    data = fixture(name)
    # Every field the hub itself reads is fine: only the OASIS schema finds what is wrong.
    with monkeypatch.context() as patch:
        patch.setattr(cap, "check_cap12", lambda _data: None)
        assert cap.parse(data).info.event == "Lũ quét"
    response = client.post(URL, content=data, headers=editors["alice"])
    assert response.status_code == 422, response.text
    body = response.json()
    assert "OASIS schema" in body["detail"] and body["schema_errors"]
    assert any(word in " ".join(body["schema_errors"]) for word in words), body
    assert count_bulletins(hub) == 0


def test_every_accepted_fixture_is_schema_valid():
    for name in ("flood_alert.xml", "flood_update.xml", "flood_cancel.xml", "test_status.xml", "bilingual.xml",
                 "nws_ugc_same.xml"):
        check_cap12(fixture(name))


def test_an_expired_alert_creates_nothing(client, hub, editors, monkeypatch):
    # Two days after the flood warning ran out (its <expires> is 2026-10-14 06:00 +07:00).
    later = datetime(2026, 10, 16, 8, 0, tzinfo=LOCAL_TZ).astimezone(timezone.utc)
    monkeypatch.setattr(cap_ingest, "utcnow", lambda: later)
    for who in (editors["alice"], key(KTTV_TOKEN)):
        response = client.post(URL, content=fixture("flood_alert.xml"), headers=who)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["created"] is False and body["expired"] is True and "nothing created" in body["note"]
    assert count_bulletins(hub) == 0
    with hub.store.reader() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
    # A moment before it runs out, it is still taken.
    monkeypatch.setattr(cap_ingest, "utcnow", lambda: datetime(2026, 10, 14, 5, 59, tzinfo=LOCAL_TZ)
                        .astimezone(timezone.utc))
    assert client.post(URL, content=fixture("flood_alert.xml"), headers=editors["alice"]).status_code == 201


def test_who_may_post(client, people, editors):
    data = fixture("flood_alert.xml")
    assert client.post(URL, content=data, headers=XML).status_code == 401
    assert client.post(URL, content=data, headers=key("not-a-key-but-long-enough-0000000")).status_code == 401
    people.user("olga", "operator", "LS01")
    people.user("mona", "monitor")
    for name in ("olga", "mona"):
        headers = {"Authorization": f"Bearer {people.tokens[name]}", **XML}
        assert client.post(URL, content=data, headers=headers).status_code == 403
    device = people.device("loa-1", "LS01")
    assert client.post(URL, content=data, headers={**device, **XML}).status_code == 403


def test_content_type_and_size(client, editors):
    plain = {**editors["alice"], "Content-Type": "text/plain"}
    response = client.post(URL, content=fixture("flood_alert.xml"), headers=plain)
    assert response.status_code == 415 and "application/cap+xml" in response.json()["detail"]
    for media_type in ("application/xml", "text/xml; charset=utf-8"):
        headers = {**editors["alice"], "Content-Type": media_type}
        assert client.post(URL, content=fixture("flood_alert.xml"), headers=headers).status_code in (200, 201)
    huge = b"<alert>" + b" " * 1_100_000 + b"</alert>"
    assert client.post(URL, content=huge, headers=editors["alice"]).status_code == 413


# --- Settings ------------------------------------------------------------------------------------------


def test_key_settings(monkeypatch):
    monkeypatch.setenv("HUB_INGEST_KEYS", f"meteo={METEO_TOKEN}")
    settings = IngestSettings()
    assert settings.match_key(METEO_TOKEN).name == "meteo"
    assert settings.match_key(METEO_TOKEN + "x") is None and settings.match_key(None) is None
    for bad in ("meteo=short", "me teo=" + METEO_TOKEN, "meteo=sha256:abc", f"a={METEO_TOKEN},a={KTTV_TOKEN}"):
        monkeypatch.setenv("HUB_INGEST_KEYS", bad)
        with pytest.raises(ValidationError):
            IngestSettings()
    monkeypatch.setenv("HUB_INGEST_KEYS", f"meteo={METEO_TOKEN}")
    monkeypatch.setenv("HUB_INGEST_TRUSTED", "nobody")
    with pytest.raises(ValidationError, match="HUB_INGEST_TRUSTED"):
        IngestSettings()
