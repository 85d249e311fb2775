"""The public bulletin page /b/{id}: Vietnamese, phone-sized, escaped, with the MP3 and the slides."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

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


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == name]


def test_page_shows_title_date_body_audio_and_slides(web, mp3, png):
    bid = web.publish(title="Lịch tiêm chủng", body="Đoạn một.\nDòng hai.\n\nĐoạn hai.", targets=["X1", "X2"])
    response = web.client.get(f"/b/{bid}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = Tags(response.text)
    assert page.find("html") == [{"lang": "vi"}]
    assert {"charset": "utf-8"} in page.find("meta")
    assert any(m.get("name") == "viewport" and "width=device-width" in (m.get("content") or "")
               for m in page.find("meta"))
    assert page.find("script") == []
    text = " ".join(page.text)
    assert "Lịch tiêm chủng" in text and "Xã Hữu Lũng, Xã Lộc Bình" in text
    [audio] = page.find("audio")
    assert "controls" in audio and audio["src"] == media_url(mp3)
    [img] = page.find("img")
    assert img["src"] == media_url(png) and "Lịch tiêm chủng" in img["alt"]
    assert "<p>Đoạn một.<br>Dòng hai.</p>" in response.text and "<p>Đoạn hai.</p>" in response.text
    # The approval time, in Vietnam's time.
    with web.hub.store.reader() as session:
        from hub.models import Bulletin

        approved = session.get(Bulletin, bid).approved_at.astimezone(timezone(timedelta(hours=7)))
    assert approved.strftime("%H:%M, %d/%m/%Y") in text
    # A machine-readable time HTML accepts: whole seconds and an offset (Python's six fraction digits
    # are not valid in <time datetime>).
    [moment] = page.find("time")
    assert datetime.fromisoformat(moment["datetime"]) == approved.replace(microsecond=0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", moment["datetime"])
    # The audio and slide it links to are public.
    assert web.client.get(audio["src"].removeprefix(PUBLIC)).content == mp3
    cached = web.client.get(f"/b/{bid}", headers={"If-None-Match": response.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""


def test_page_escapes_hostile_text(web):
    bid = web.publish(title=HOSTILE_TITLE, body=HOSTILE_BODY)
    response = web.client.get(f"/b/{bid}")
    assert response.status_code == 200
    raw = response.text
    assert "<script" not in raw.lower() and "<img src=x" not in raw and "<b>" not in raw
    assert "&lt;script&gt;alert(&#39;b&#39;)&lt;/script&gt;" in raw
    page = Tags(raw)
    assert page.find("script") == []
    assert all((attrs["src"] or "").startswith(f"{PUBLIC}/media/") for attrs in page.find("img"))
    assert HOSTILE_TITLE in " ".join(page.text)


def test_page_is_404_unless_approved_current_valid_and_web(web):
    now = datetime.now(timezone.utc)
    draft = web.draft(title="Bản nháp")
    pending = web.draft(title="Chờ duyệt")
    web.act(pending, "submit")
    withdrawn = web.publish(title="Thu hồi")
    web.act(withdrawn, "withdraw")
    speaker_only = web.publish(title="Chỉ loa", channels=["speaker"])
    expired = web.publish(title="Hết hạn", valid_from=now - timedelta(days=2), valid_until=now - timedelta(days=1))
    edited = web.publish(title="Đã sửa")
    web.client.patch(f"/api/v1/bulletins/{edited}", json={"title": "Đã sửa lại"}, headers=web.author)
    for bid in (draft, pending, withdrawn, speaker_only, expired, edited, "0" * 32, "x" * 40, "%00"):
        response = web.client.get(f"/b/{bid}")
        assert response.status_code == 404, bid
        assert response.json() == {"detail": "bulletin not found"}
    # A person following a QR code gets a small Vietnamese page instead of JSON.
    response = web.client.get(f"/b/{withdrawn}", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'lang="vi"' in response.text and "Không tìm thấy bản tin" in response.text
    assert "Thu hồi" not in response.text


def test_page_without_media_yet(web):
    bid = web.draft(title="Chưa có âm thanh", targets=["*"])
    web.act(bid, "submit")
    web.act(bid, "approve")
    page = Tags(web.client.get(f"/b/{bid}").text)
    assert page.find("audio") == [] and page.find("img") == []
    text = " ".join(page.text)
    assert "Chưa có âm thanh" in text and "Toàn tỉnh Lạng Sơn" in text
