"""RSS/Atom import: feeds served by a real HTTP server on 127.0.0.1, polled into a real store."""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.errors import Conflict, Invalid
from hub.models import Bulletin, Source, User
from hub.runtime import Hub
from hub.testing import free_port, wait_until
from hub_ingest import cli
from hub_ingest.feeds import add_source, list_sources, poll_once
from hub_ingest.settings import IngestSettings
from hub_ingest.text import TRUNCATION_NOTE, html_to_text
from tests.conftest import People

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


class FeedServer:
    """Serves fixture feeds with ETag/304 (unless ``?plain``) and remembers what it answered."""

    def __init__(self) -> None:
        self.files = {name: (FEEDS / name).read_bytes() for name in ("rss2.xml", "atom.xml", "broken.html")}
        self.log: list[tuple[str, int]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name, _, query = self.path.lstrip("/").partition("?")
                if name.startswith("status-"):
                    return self.reply(int(name.removeprefix("status-")), b"")
                data = server.files.get(name)
                if data is None:
                    return self.reply(404, b"")
                etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
                if query != "plain" and self.headers.get("If-None-Match") == etag:
                    return self.reply(304, b"")
                headers = {} if query == "plain" else {"ETag": etag}
                self.reply(200, data, headers)

            def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                server.log.append((self.path, status))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Type", "application/xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    feed_server = FeedServer()
    yield feed_server
    feed_server.stop()


@pytest.fixture
def hub(settings):
    # The store alone: these tests drive the poller by hand, so no app (and no background poller).
    opened = Hub.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def people(hub) -> People:
    people = People(hub)
    people.commune("LS01", "Xã Hữu Lũng")
    return people


@pytest.fixture
def ingest_settings() -> IngestSettings:
    return IngestSettings(poll_s=0, fetch_timeout_s=5)


def add(hub, url: str, commune: str | None = None) -> dict:
    return add_source(hub, url, commune)


def bulletins(hub, source_id: str) -> list[Bulletin]:
    with hub.store.reader() as session:
        return list(session.scalars(select(Bulletin).where(Bulletin.source == f"rss:{source_id}")
                                    .order_by(Bulletin.created_at)))


def view(hub, bulletin: Bulletin) -> dict:
    return hub.services.bulletins.find(bulletin.id)


def source_row(hub, source_id: str) -> Source:
    with hub.store.reader() as session:
        return session.get(Source, source_id)


# --- Sources ---------------------------------------------------------------------------------------------


def test_add_source_checks_the_url_and_the_commune(hub, people):
    for bad in ("ftp://example.org/feed", "file:///etc/passwd", "javascript:alert(1)", "http://", "http://a b/"):
        with pytest.raises(Invalid):
            add(hub, bad)
    with pytest.raises(Invalid, match="unknown commune"):
        add(hub, "http://127.0.0.1/feed.xml", "NOPE")
    record = add(hub, "http://127.0.0.1/feed.xml", "LS01")
    assert (record["commune"], record["active"], record["last_error"]) == ("LS01", True, None)
    with pytest.raises(Conflict):
        add(hub, "http://127.0.0.1/feed.xml")


# --- Polling ----------------------------------------------------------------------------------------------


def test_poll_turns_entries_into_pending_bulletins_with_clean_text(hub, people, server, ingest_settings):
    rss = add(hub, f"{server.url}/rss2.xml", "LS01")
    atom = add(hub, f"{server.url}/atom.xml")
    results = {r.source: r for r in poll_once(hub, ingest_settings)}
    assert (results[rss["id"]].outcome, results[rss["id"]].created) == ("fetched", 2)
    assert (results[atom["id"]].outcome, results[atom["id"]].created) == ("fetched", 2)

    imported = [view(hub, b) for b in bulletins(hub, rss["id"])]
    assert {b["status"] for b in imported} == {"pending"}
    assert {b["author_name"] for b in imported} == {f"rss:{rss['id']}"}
    assert {(b["priority"], tuple(b["targets"]), tuple(b["channels"])) for b in imported} == \
        {("normal", ("LS01",), ("speaker", "display", "web"))}
    by_ref = {b["source_ref"]: b for b in imported}
    shots = by_ref["huu-lung-2026-0012"]
    assert shots["title"] == "Thông báo lịch tiêm chủng & khám sức khỏe tháng 12"
    assert shots["body"] == ("Trạm y tế xã tổ chức tiêm chủng mở rộng vào ngày 05/12/2026.\n\n"
                             "Đề nghị các gia đình có trẻ dưới 5 tuổi đưa trẻ đến trạm đúng giờ – "
                             "mang theo sổ tiêm chủng.")
    # No guid: the link identifies the entry; the full content:encoded wins over the description.
    meeting = by_ref["http://127.0.0.1/tin/hop-dan-ban-chat"]
    assert meeting["body"] == "Nội dung họp\n\nBầu trưởng thôn\nVệ sinh đường làng\n\nKính mời bà con đến đúng giờ."

    # Atom: an HTML title, escaped HTML content and XHTML content all come out as plain text.
    by_title = {b["title"]: b for b in (view(hub, b) for b in bulletins(hub, atom["id"]))}
    assert by_title["Phòng chống rét đậm, rét hại cho gia súc"]["body"] == \
        "Nhiệt độ dự báo xuống dưới 10°C.\n\nChe chắn chuồng trại, dự trữ thức ăn."
    assert by_title["Lịch chiếu phim lưu động"]["body"] == "Tối thứ Bảy, sân vận động xã.\n\nVào cửa tự do."
    assert {tuple(b["targets"]) for b in by_title.values()} == {("*",)}

    row = source_row(hub, rss["id"])
    assert row.etag and row.last_polled_at is not None and row.last_error is None
    with hub.store.reader() as session:
        assert session.scalar(select(User.active).where(User.name == f"rss:{rss['id']}")) is False


def test_polling_again_uses_304_and_makes_no_duplicates(hub, people, server, ingest_settings):
    rss = add(hub, f"{server.url}/rss2.xml", "LS01")
    plain = add(hub, f"{server.url}/atom.xml?plain")  # a server that ignores validators
    poll_once(hub, ingest_settings)
    results = {r.source: r for r in poll_once(hub, ingest_settings)}
    assert results[rss["id"]].outcome == "not-modified"
    assert ("/rss2.xml", 304) in server.log
    assert (results[plain["id"]].outcome, results[plain["id"]].created, results[plain["id"]].seen) == ("fetched", 0, 2)
    assert len(bulletins(hub, rss["id"])) == 2 and len(bulletins(hub, plain["id"])) == 2

    # A new item: the ETag changes, only the new entry is imported.
    server.files["rss2.xml"] = server.files["rss2.xml"].replace(b"<item>", """<item>
      <title>Mất điện ngày 10/12</title><guid>huu-lung-2026-0013</guid>
      <description>Cắt điện từ 7 giờ đến 11 giờ để bảo dưỡng đường dây.</description></item><item>""".encode(), 1)
    results = {r.source: r for r in poll_once(hub, ingest_settings)}
    assert (results[rss["id"]].outcome, results[rss["id"]].created, results[rss["id"]].seen) == ("fetched", 1, 2)
    assert len(bulletins(hub, rss["id"])) == 3


def test_a_broken_feed_is_recorded_and_the_others_still_import(hub, people, server, ingest_settings):
    broken = add(hub, f"{server.url}/broken.html")
    failing = add(hub, f"{server.url}/status-500")
    closed = add(hub, f"http://127.0.0.1:{free_port()}/feed.xml")
    good = add(hub, f"{server.url}/rss2.xml")
    server.files["entities.xml"] = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"/>'
    hostile = add(hub, f"{server.url}/entities.xml")
    results = {r.source: r for r in poll_once(hub, ingest_settings)}
    assert results[good["id"]].created == 2
    expected = {broken["id"]: "not a readable RSS or Atom feed", failing["id"]: "HTTP 500",
                closed["id"]: "cannot fetch", hostile["id"]: "declares XML entities"}
    for source_id, words in expected.items():
        assert results[source_id].outcome == "error"
        row = source_row(hub, source_id)
        assert words in row.last_error and row.last_polled_at is not None
    with hub.store.reader() as session:
        assert session.scalar(select(func.count()).select_from(Bulletin)) == 2

    # Once the feed is repaired, the error clears.
    server.files["broken.html"] = server.files["atom.xml"]
    poll_once(hub, ingest_settings)
    assert source_row(hub, broken["id"]).last_error is None


def test_an_over_long_entry_is_cut_with_a_note(hub, people, server, ingest_settings):
    words = " ".join(["Nội dung rất dài của thông báo."] * 1000)
    server.files["long.xml"] = f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>
      <title>t</title><item><title>Thông báo dài</title><guid>long-1</guid>
      <description>{words}</description></item></channel></rss>""".encode()
    source = add(hub, f"{server.url}/long.xml")
    poll_once(hub, ingest_settings)
    [bulletin] = bulletins(hub, source["id"])
    body = view(hub, bulletin)["body"]
    assert len(words) > 20_000 >= len(body)
    assert body.endswith(TRUNCATION_NOTE) and body.startswith("Nội dung rất dài")


def test_html_to_text():
    html = ("<div>Một&nbsp;hai &amp; ba<script>var x = '<p>';</script></div><style>b{}</style>"
            "<p>Đoạn <b>hai</b><br>dòng mới</p><ul><li>a</li><li>b</li></ul><p>&#272;&#x1EA1;i h&ocirc;̣i")
    assert html_to_text(html) == "Một hai & ba\n\nĐoạn hai\ndòng mới\n\na\nb\n\nĐại hội"
    assert html_to_text("<script>never closed") == ""
    assert html_to_text("a <noscript><p>x</noscript> b") == "a b"


# --- The background poller and the command line ---------------------------------------------------------------


def test_the_app_lifespan_runs_the_poller(settings, server, monkeypatch):
    monkeypatch.setenv("HUB_INGEST_POLL_S", "0.2")
    with TestClient(create_app(settings)) as client:
        hub = client.app.state.hub
        People(hub).commune("LS01")
        source = add(hub, f"{server.url}/rss2.xml", "LS01")
        wait_until(lambda: len(bulletins(hub, source["id"])) >= 2, timeout=20, what="the poller to import the feed")
        assert len(bulletins(hub, source["id"])) == 2
    # The lifespan stopped the thread with the app.
    assert not [t for t in threading.enumerate() if t.name == "hub-ingest-poller" and t.is_alive()]


def run_cli(argv: list[str], settings, capsys) -> tuple[int, object]:
    parser = argparse.ArgumentParser(prog="hub")
    cli.add_arguments(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args, settings)
    return code, json.loads(capsys.readouterr().out)


def test_cli_sources_add_list_poll(hub, people, server, settings, capsys, monkeypatch):
    monkeypatch.setenv("HUB_INGEST_FETCH_TIMEOUT_S", "5")
    code, record = run_cli(["sources", "add", f"{server.url}/rss2.xml", "--commune", "LS01"], settings, capsys)
    assert code == 0 and record["commune"] == "LS01"
    code, listing = run_cli(["sources", "list"], settings, capsys)
    assert [s["id"] for s in listing] == [record["id"]]
    code, results = run_cli(["sources", "poll"], settings, capsys)
    assert code == 0 and results[0]["created"] == 2
    add(hub, f"{server.url}/status-404")
    code, results = run_cli(["sources", "poll"], settings, capsys)
    assert code == 1 and {r["outcome"] for r in results} == {"not-modified", "error"}
    assert len(list_sources(hub)) == 2
