"""The web feeds: RSS (podcast), Atom and JSON Feed 1.1 of approved, valid, web-channel bulletins."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import feedparser
import podcastparser
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from hub import hookimpl
from hub.app import create_app
from hub.models import Bulletin
from hub.plugin_types import RenderedMedia, Renderer
from hub.plugins import make_plugin_manager
from hub_web.artwork import Artwork
from tests.conftest import People, bulletin_payload

PUBLIC = "https://tin.langson.example"
DURATION_S = 61.0


@pytest.fixture(scope="session")
def mp3(tmp_path_factory) -> bytes:
    """A real, small MP3 (a one-second tone), made by ffmpeg."""
    path = tmp_path_factory.mktemp("mp3") / "tone.mp3"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k",
                    "-y", str(path)], check=True)
    return path.read_bytes()


@pytest.fixture(scope="session")
def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 18), (139, 26, 26)).save(out, format="PNG")
    return out.getvalue()


class MediaRenderer:
    """Stands in for speech and slides: one MP3 and one slide per bulletin, for every channel."""

    def __init__(self, mp3: bytes, png: bytes) -> None:
        self.mp3 = mp3
        self.png = png

    @hookimpl
    def hub_register_renderers(self):
        return [Renderer(name="test-media", channel="speaker", extra_channels=("display", "web"),
                         render=self.render)]

    def render(self, ctx):
        return [RenderedMedia(kind="audio", mime="audio/mpeg", data=self.mp3, duration_s=DURATION_S),
                RenderedMedia(kind="slide", mime="image/png", data=self.png,
                              orientation="landscape", page=1, pages=1)]


class Web:
    """A hub with the web plugin, two communes, an author and an approver."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.hub = client.app.state.hub
        self.people = People(self.hub)
        self.people.commune("X1", "Xã Hữu Lũng")
        self.people.commune("X2", "Xã Lộc Bình")
        self.author = self.people.user("author", "editor")
        self.approver = self.people.user("approver", "editor")

    def draft(self, **fields: Any) -> str:
        fields.setdefault("targets", ["X1"])
        for key in ("valid_from", "valid_until"):
            if isinstance(fields.get(key), datetime):
                fields[key] = fields[key].isoformat()
        response = self.client.post("/api/v1/bulletins", json=bulletin_payload(**fields), headers=self.author)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def act(self, bid: str, action: str) -> None:
        headers = self.approver if action == "approve" else self.author
        response = self.client.post(f"/api/v1/bulletins/{bid}/{action}", headers=headers)
        assert response.status_code == 200, response.text

    def approve(self, bid: str) -> str:
        self.act(bid, "submit")
        self.act(bid, "approve")
        self.drain()
        return bid

    def publish(self, **fields: Any) -> str:
        return self.approve(self.draft(**fields))

    def drain(self) -> None:
        for _ in range(50):
            if not self.hub.pipeline.run_one():
                return

    def set_approved_at(self, bid: str, moment: datetime) -> None:
        with self.hub.store.session() as session:
            session.execute(update(Bulletin).where(Bulletin.id == bid).values(approved_at=moment))


@pytest.fixture
def make_web(settings, mp3, png, monkeypatch) -> Iterator:
    """Build a hub (speech and slides replaced by MediaRenderer); keyword arguments are HUB_WEB_ settings."""
    clients: list[TestClient] = []

    def build(**web_env: str) -> Web:
        for name, value in web_env.items():
            monkeypatch.setenv(f"HUB_WEB_{name.upper()}", value)
        local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"], "public_url": PUBLIC})
        pm = make_plugin_manager(local)
        pm.register(MediaRenderer(mp3, png), name="test-media")
        client = TestClient(create_app(local, pm=pm))
        client.__enter__()
        clients.append(client)
        return Web(client)

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def web(make_web) -> Web:
    return make_web()


def media_url(data: bytes) -> str:
    return f"{PUBLIC}/media/{hashlib.sha256(data).hexdigest()}"


def ids_in(web: Web, path: str) -> dict[str, list[str]]:
    """Bulletin ids in the RSS, Atom and JSON forms of one feed, in feed order."""
    found = {}
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(web.client.get(f"{path}.{fmt}").content)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        found[fmt] = [entry.link.rsplit("/", 1)[1] for entry in parsed.entries]
    found["json"] = [item["url"].rsplit("/", 1)[1] for item in web.client.get(f"{path}.json").json()["items"]]
    return found


# --- Formats --------------------------------------------------------------------------------------


def test_rss_is_a_valid_podcast_feed(web, mp3):
    bid = web.publish(title="Lịch tiêm chủng tháng 12", body="Ngày 05/12/2026 tiêm chủng tại trạm y tế.",
                      targets=["*"])
    response = web.client.get("/feeds/all.rss")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "Bản tin Tỉnh Lạng Sơn"
    assert parsed.feed.language == "vi"
    assert parsed.feed.link == f"{PUBLIC}/"
    [entry] = parsed.entries
    assert entry.title == "Lịch tiêm chủng tháng 12"
    assert entry.link == f"{PUBLIC}/b/{bid}"
    assert entry.id == f"urn:uuid:{bid[:8]}-{bid[8:12]}-{bid[12:16]}-{bid[16:20]}-{bid[20:]}"
    assert "05/12/2026" in entry.summary
    assert entry.published_parsed is not None
    [enclosure] = entry.enclosures
    assert enclosure.href == media_url(mp3)
    assert enclosure.type == "audio/mpeg"
    assert int(enclosure.length) == len(mp3)
    # iTunes tags, so podcast apps subscribe.
    # feedparser reads "no" as None (only "yes"/"clean" map to booleans), so the raw tag is checked.
    assert "itunes_explicit" in parsed.feed and "itunes_explicit" in entry
    assert parsed.feed.author_detail.name == "Tỉnh Lạng Sơn"
    assert [tag.term for tag in parsed.feed.tags] == ["Government"]
    assert entry.itunes_duration == "0:01:01"
    raw = response.text
    for tag in ("<itunes:author>", "<itunes:category", "<itunes:explicit>no</itunes:explicit>",
                "<itunes:duration>0:01:01</itunes:duration>"):
        assert tag in raw
    # The enclosure is public: a podcast app fetches it without a token.
    audio = web.client.get(enclosure.href.removeprefix(PUBLIC))
    assert audio.status_code == 200 and audio.content == mp3


def test_atom_is_valid_with_enclosure_links(web, mp3):
    bid = web.publish(title="Thông báo cắt điện", targets=["X1"])
    response = web.client.get("/feeds/all.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Bản tin Tỉnh Lạng Sơn"
    [entry] = parsed.entries
    assert entry.title == "Thông báo cắt điện"
    assert entry.link == f"{PUBLIC}/b/{bid}"
    [enclosure] = [link for link in entry.links if link.rel == "enclosure"]
    assert enclosure.href == media_url(mp3)
    assert enclosure.type == "audio/mpeg" and int(enclosure.length) == len(mp3)
    assert entry.content[0].type == "text/html"
    assert entry.published_parsed is not None and entry.updated_parsed is not None


def test_json_feed_1_1_has_the_required_fields(web, mp3, png):
    bid = web.publish(title="Tin thời tiết", body="Trời rét.\n\nĐề phòng sương muối.", targets=["X1"])
    response = web.client.get("/feeds/all.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/feed+json")
    feed = response.json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "Bản tin Tỉnh Lạng Sơn"
    assert feed["feed_url"] == f"{PUBLIC}/feeds/all.json"
    assert feed["home_page_url"] == f"{PUBLIC}/"
    [item] = feed["items"]
    assert item["id"].startswith("urn:uuid:")
    assert item["url"] == f"{PUBLIC}/b/{bid}"
    assert item["title"] == "Tin thời tiết"
    assert item["content_text"] == "Trời rét.\n\nĐề phòng sương muối."
    assert item["content_html"] == "<p>Trời rét.</p><p>Đề phòng sương muối.</p>"
    assert datetime.fromisoformat(item["date_published"]).tzinfo is not None
    assert item["image"] == media_url(png)
    [attachment] = item["attachments"]
    assert attachment == {"url": media_url(mp3), "mime_type": "audio/mpeg", "size_in_bytes": len(mp3),
                          "title": "Tin thời tiết", "duration_in_seconds": DURATION_S}


ARTWORK = f"{PUBLIC}/feeds/artwork.png"


def test_podcastparser_reads_home_page_artwork_episode_links_and_enclosures(web, mp3):
    """gPodder's parser (what podcast apps and directories run) reads both feeds alike."""
    bid = web.publish(title="Lịch tiêm chủng", body="Tiêm chủng tại trạm y tế.", targets=["*"])
    for fmt in ("rss", "atom"):
        path = f"/feeds/all.{fmt}"
        podcast = podcastparser.parse(PUBLIC + path, io.BytesIO(web.client.get(path).content))
        assert podcast["title"] == "Bản tin Tỉnh Lạng Sơn", fmt
        assert podcast["link"] == f"{PUBLIC}/", fmt
        assert podcast["cover_url"] == ARTWORK, fmt
        [episode] = podcast["episodes"]
        assert episode["title"] == "Lịch tiêm chủng" and episode["link"] == f"{PUBLIC}/b/{bid}", fmt
        assert episode["guid"].startswith("urn:uuid:"), fmt
        assert episode["enclosures"] == [{"url": media_url(mp3), "file_size": len(mp3), "mime_type": "audio/mpeg"}]
        assert episode["published"] > 0, fmt
    # podcastparser reads itunes:duration from RSS only; feedparser reads it from both.
    rss = podcastparser.parse(PUBLIC, io.BytesIO(web.client.get("/feeds/all.rss").content))
    assert rss["episodes"][0]["total_time"] == round(DURATION_S)
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(web.client.get(f"/feeds/all.{fmt}").content)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.entries[0].itunes_duration == "0:01:01", fmt
        assert parsed.feed.image.href == ARTWORK, fmt
    assert "<itunes:duration>0:01:01</itunes:duration>" in web.client.get("/feeds/all.atom").text


def test_category_labels_are_the_same_in_every_format(web):
    web.publish(title="Tin ưu tiên", priority="priority", targets=["*"])
    web.publish(title="Tin thường", targets=["*"])
    rss = feedparser.parse(web.client.get("/feeds/all.rss").content)
    atom = feedparser.parse(web.client.get("/feeds/all.atom").content)
    items = web.client.get("/feeds/all.json").json()["items"]
    labels = {"Tin ưu tiên": ("priority", "Ưu tiên"), "Tin thường": ("normal", "Thông thường")}
    for entry in rss.entries:
        [tag] = entry.tags
        assert tag.term == labels[entry.title][1] and tag.scheme == "urn:grassroots-hub:priority"
    for entry in atom.entries:
        [tag] = entry.tags
        assert (tag.term, tag.label) == labels[entry.title] and tag.scheme == "urn:grassroots-hub:priority"
    for item in items:
        assert item["tags"] == [labels[item["title"]][1]]
    assert len(rss.entries) == len(atom.entries) == len(items) == 2


def test_default_artwork_is_a_square_png_with_the_province_and_cached(web, settings):
    web.publish(title="Tin một", targets=["*"])
    rss = web.client.get("/feeds/all.rss").text
    assert f'<itunes:image href="{ARTWORK}"/>' in rss and f"<url>{ARTWORK}</url>" in rss
    assert f'<itunes:image href="{ARTWORK}"/>' in web.client.get("/feeds/all.atom").text
    assert web.client.get("/feeds/all.json").json()["icon"] == ARTWORK

    response = web.client.get("/feeds/artwork.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert "max-age=86400" in response.headers["cache-control"]
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (3000, 3000) and image.mode == "RGB"
    # Drawn, not blank: the background, white type and the accent colour.
    assert len(image.getcolors(maxcolors=100000) or range(100001)) >= 3
    head = web.client.head("/feeds/artwork.png")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(response.content))
    assert head.headers["etag"] == response.headers["etag"]
    assert web.client.get("/feeds/artwork.png", headers={"If-None-Match": head.headers["etag"]}).status_code == 304

    [cached_file] = (settings.data_dir / "cache" / "web").glob("artwork-*.png")
    assert cached_file.read_bytes() == response.content
    # A restarted hub on the same data folder serves the cached drawing, not a new one.
    cached_file.write_bytes(b"\x89PNG kept")
    assert Artwork(settings.province, settings.cache_dir).png() == b"\x89PNG kept"


def test_configured_artwork_replaces_the_drawn_one(make_web):
    url = "https://cdn.langson.example/podcast.jpg"
    web = make_web(podcast_image_url=url)
    web.publish(title="Tin một", targets=["*"])
    for fmt in ("rss", "atom"):
        podcast = podcastparser.parse(PUBLIC, io.BytesIO(web.client.get(f"/feeds/all.{fmt}").content))
        assert podcast["cover_url"] == url, fmt
        assert f'<itunes:image href="{url}"/>' in web.client.get(f"/feeds/all.{fmt}").text
    assert web.client.get("/feeds/all.json").json()["icon"] == url


# --- What appears ---------------------------------------------------------------------------------


def test_commune_feed_has_its_own_and_everyones_bulletins(web):
    mine = web.publish(title="Riêng X1", targets=["X1"])
    both = web.publish(title="X1 và X2", targets=["X1", "X2"])
    everyone = web.publish(title="Toàn tỉnh", targets=["*"])
    other = web.publish(title="Riêng X2", targets=["X2"])
    for ids in ids_in(web, "/feeds/X1").values():
        assert sorted(ids) == sorted([mine, both, everyone])
    for ids in ids_in(web, "/feeds/all").values():
        assert sorted(ids) == sorted([mine, both, everyone, other])
    parsed = feedparser.parse(web.client.get("/feeds/X1.rss").content)
    assert parsed.feed.title == "Bản tin Xã Hữu Lũng"
    assert web.client.get("/feeds/X2.json").json()["title"] == "Bản tin Xã Lộc Bình"


def test_unknown_commune_is_404(web):
    for fmt in ("rss", "atom", "json"):
        response = web.client.get(f"/feeds/NOPE.{fmt}")
        assert response.status_code == 404
        assert response.json()["detail"]
    assert web.client.get("/feeds/all.html").status_code == 404


def test_only_approved_current_valid_web_bulletins_appear(web):
    now = datetime.now(timezone.utc)
    shown = web.publish(title="Đang hiệu lực", valid_from=now - timedelta(hours=1),
                        valid_until=now + timedelta(days=1))
    open_ended = web.publish(title="Không thời hạn")
    web.draft(title="Bản nháp")
    pending = web.draft(title="Chờ duyệt")
    web.act(pending, "submit")
    rejected = web.draft(title="Bị từ chối")
    web.act(rejected, "submit")
    assert web.client.post(f"/api/v1/bulletins/{rejected}/reject", json={"reason": "sai"},
                           headers=web.approver).status_code == 200
    withdrawn = web.publish(title="Đã thu hồi")
    web.act(withdrawn, "withdraw")
    web.publish(title="Hết hạn", valid_from=now - timedelta(days=2), valid_until=now - timedelta(days=1))
    web.publish(title="Chưa tới ngày", valid_from=now + timedelta(days=1))
    web.publish(title="Chỉ loa", channels=["speaker", "display"])
    edited = web.publish(title="Sửa sau khi duyệt")
    # An edit makes a new revision back in draft: the approved one is no longer current.
    assert web.client.patch(f"/api/v1/bulletins/{edited}", json={"body": "Nội dung mới"},
                            headers=web.author).status_code == 200

    for fmt, ids in ids_in(web, "/feeds/all").items():
        assert sorted(ids) == sorted([shown, open_ended]), fmt
    for fmt, ids in ids_in(web, "/feeds/X1").items():
        assert sorted(ids) == sorted([shown, open_ended]), fmt


def test_bulletin_expiring_vanishes(web):
    bid = web.publish(title="Sắp hết hạn")
    assert ids_in(web, "/feeds/all")["rss"] == [bid]
    from hub.models import Revision

    with web.hub.store.session() as session:
        session.execute(update(Revision).where(Revision.bulletin_id == bid).values(
            valid_until=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert ids_in(web, "/feeds/all") == {"rss": [], "atom": [], "json": []}


def test_newest_first_and_limited(make_web):
    web = make_web(feed_limit="3")
    base = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
    ids = [web.publish(title=f"Tin {n}") for n in range(4)]
    # Approval order is not the feed order: approved_at decides.
    for offset, bid in zip((2, 0, 3, 1), ids):
        web.set_approved_at(bid, base + timedelta(hours=offset))
    expected = [ids[2], ids[0], ids[3]]
    for fmt, found in ids_in(web, "/feeds/all").items():
        assert found == expected, fmt


def test_bulletin_without_audio_yet_has_no_enclosure(web):
    bid = web.draft(title="Đang xử lý âm thanh")
    web.act(bid, "submit")
    web.act(bid, "approve")  # not drained: rendering has not run
    parsed = feedparser.parse(web.client.get("/feeds/all.rss").content)
    [entry] = parsed.entries
    assert entry.enclosures == []
    assert "attachments" not in web.client.get("/feeds/all.json").json()["items"][0]


# --- Caching --------------------------------------------------------------------------------------


def test_etag_304_and_head(web):
    web.publish(title="Tin một")
    paths = ("/feeds/all.rss", "/feeds/X1.atom", "/feeds/all.json")
    etags = {}
    for path in paths:
        first = web.client.get(path)
        etag = etags[path] = first.headers["etag"]
        assert etag.startswith('"') and "max-age=60" in first.headers["cache-control"]
        again = web.client.get(path)
        assert again.content == first.content and again.headers["etag"] == etag, path

        for header in (etag, f"W/{etag}", f'"other", {etag}'):
            cached = web.client.get(path, headers={"If-None-Match": header})
            assert cached.status_code == 304 and cached.content == b"", (path, header)
            assert cached.headers["etag"] == etag
        assert web.client.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200

    for path in paths:
        head = web.client.head(path)
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etags[path]

    web.publish(title="Tin hai")
    for path in paths:
        changed = web.client.get(path, headers={"If-None-Match": etags[path]})
        assert changed.status_code == 200 and changed.headers["etag"] != etags[path], path


# --- Hostile text ---------------------------------------------------------------------------------

HOSTILE_TITLE = "<script>alert('t')</script> Tin & \"trích dẫn\""
HOSTILE_BODY = "<script>alert('b')</script>\n\n<img src=x onerror=alert(1)> <b>đậm</b> & ]]> \x0b\x1b hết"


def test_hostile_text_is_escaped_in_every_format(web):
    bid = web.publish(title=HOSTILE_TITLE, body=HOSTILE_BODY)
    for fmt in ("rss", "atom", "json"):
        raw = web.client.get(f"/feeds/all.{fmt}").text
        assert "<script" not in raw.lower(), fmt
        assert "<img" not in raw.lower() and "<b>" not in raw, fmt
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(web.client.get(f"/feeds/all.{fmt}").content)
        assert parsed.bozo == 0, (fmt, parsed.get("bozo_exception"))
        [entry] = parsed.entries
        assert entry.link.endswith(bid)
        # What a reader renders is the text itself, markup shown as characters.
        assert "&lt;script&gt;" in entry.summary or "&lt;script&gt;" in entry.content[0].value
    item = web.client.get("/feeds/all.json").json()["items"][0]
    assert item["title"] == HOSTILE_TITLE
    assert item["content_text"] == HOSTILE_BODY
    assert "&lt;script&gt;" in item["content_html"] and "<script" not in item["content_html"]
    json.loads(web.client.get("/feeds/all.json").content)
