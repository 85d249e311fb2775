"""Bad input gets a JSON error with ``detail``, never a 500, and changes nothing (DESIGN rule 4)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import func, select

from hub.app import create_app
from hub.config import Settings
from hub.models import Base
from tests.api.test_media import tiny_plugin_manager
from tests.conftest import People, bulletin_payload

API = "/api/v1/bulletins"
FUZZ = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def pm(settings):
    return tiny_plugin_manager(settings)


@pytest.fixture
def team(client, people):
    people.commune("C1")
    people.commune("C2")
    author = people.user("author", "editor")
    approver = people.user("approver", "editor")
    r = client.post(API, json=bulletin_payload(targets=["C1"]), headers=author)
    assert r.status_code == 201
    return SimpleNamespace(author=author, approver=approver, operator=people.user("op", "operator", "C2"),
                           bid=r.json()["id"])


def row_counts(hub) -> dict[str, int]:
    with hub.store.reader() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


def check(response, hub, before: dict[str, int]) -> None:
    assert response.status_code < 500, response.text
    if 400 <= response.status_code < 500:
        assert "detail" in response.json(), response.text
        assert row_counts(hub) == before, "a refused request changed the store"


# Any JSON at all, NaN and infinities included (Python's json accepts them, so clients may send them).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Objects shaped like a bulletin, so that validation past the first field gets exercised too.
bulletin_like = st.fixed_dictionaries({}, optional={
    "title": st.text(max_size=320) | json_values,
    "body": st.text(max_size=50) | st.just("b" * 20_001) | json_values,
    "priority": st.sampled_from(["normal", "priority", "emergency", "urgent", ""]) | json_values,
    "channels": st.lists(st.sampled_from(["speaker", "display", "web", "sms"]), max_size=4) | json_values,
    "targets": st.lists(st.sampled_from(["C1", "C2", "*", "ZZ", "", "C1" * 20]), max_size=3) | json_values,
    "valid_from": st.datetimes().map(lambda d: d.isoformat()) | st.text(max_size=30) | json_values,
    "valid_until": st.datetimes().map(lambda d: d.isoformat() + "+14:00") | json_values,
    "voice": st.text(max_size=70) | json_values,
    "source": st.sampled_from(["api", "rss", ""]) | json_values,
    "source_ref": st.text(max_size=20) | json_values,
    "reason": st.text(max_size=30) | json_values,
    "content_hash": st.text(max_size=70) | json_values,
    "extra": json_values,
})

def _iso(moment) -> str:
    return moment.isoformat()


# Bulletins that are valid but for a field or two, so that the service's own checks (commune codes,
# lengths, dates, the store's types) meet odd values too and not only the schema does.
near_valid = st.fixed_dictionaries({
    "title": st.text(min_size=1, max_size=310),
    "body": st.text(max_size=60),
    "targets": st.sampled_from([["C1"], ["*"], ["C1", "C2"], ["ZZ"], ["C1", "C1"], ["*", "C1"]]),
}, optional={
    "priority": st.sampled_from(["normal", "priority", "emergency", "urgent"]),
    "channels": st.lists(st.sampled_from(["speaker", "display", "web"]), min_size=1, max_size=3, unique=True),
    "valid_from": st.datetimes(timezones=st.none() | st.timezones()).map(_iso),
    "valid_until": st.datetimes(timezones=st.none() | st.timezones()).map(_iso),
    "voice": st.none() | st.text(max_size=70),
    "source": st.sampled_from(["api", "rss", "cap"]),
    "source_ref": st.none() | st.text(min_size=1, max_size=8),
})
bodies = json_values | bulletin_like | near_valid
ids = st.text(min_size=1, max_size=80)


def send(client, method: str, url: str, body, headers):
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return client.request(method, url, content=raw, headers={**headers, "Content-Type": "application/json"})


@FUZZ
@given(body=bodies)
def test_fuzz_create(client, hub, team, body):
    for who in (team.author, team.operator):
        before = row_counts(hub)
        check(send(client, "POST", API, body, who), hub, before)


@FUZZ
@given(body=bodies, bid=st.none() | ids)
def test_fuzz_edit(client, hub, team, body, bid):
    before = row_counts(hub)
    r = send(client, "PATCH", f"{API}/{quote(bid or team.bid, safe='')}", body, team.author)
    check(r, hub, before)


@FUZZ
@given(body=bodies | st.none(), bid=st.none() | ids,
       action=st.sampled_from(["submit", "approve", "reject", "withdraw"]))
def test_fuzz_transitions(client, hub, team, body, bid, action):
    before = row_counts(hub)
    # The approver is not the author, so every transition can succeed from some state.
    r = send(client, "POST", f"{API}/{quote(bid or team.bid, safe='')}/{action}", body, team.approver)
    check(r, hub, before)


@FUZZ
@given(bid=ids, params=st.dictionaries(st.sampled_from(["status", "commune", "priority", "limit", "offset"]),
                                       st.text(max_size=20), max_size=5))
def test_fuzz_reads(client, hub, team, bid, params):
    for url in (f"{API}/{quote(bid, safe='')}", f"{API}/{quote(bid, safe='')}/artifacts"):
        r = client.get(url, headers=team.author)
        assert r.status_code in (200, 404), r.text
        assert "detail" in r.json() or r.status_code == 200
    r = client.get(API, params=params, headers=team.author)
    assert r.status_code in (200, 422), r.text


def test_unknown_routes_and_methods_are_json(client, team):
    r = client.get("/api/v1/nope", headers=team.author)
    assert r.status_code == 404 and r.json()["detail"]
    r = client.delete(f"{API}/{team.bid}", headers=team.author)
    assert r.status_code == 405 and r.json()["detail"]
    r = client.put(API, json={}, headers=team.author)
    assert r.status_code == 405 and r.json()["detail"]


def test_a_non_json_content_type_is_422(client, hub, team):
    before = row_counts(hub)
    r = client.post(API, content=json.dumps(bulletin_payload()),
                    headers={**team.author, "Content-Type": "text/plain"})
    assert r.status_code == 422 and r.json()["detail"]
    r = client.post(API, data={"title": "x"}, headers=team.author)
    assert r.status_code == 422 and r.json()["detail"]
    assert row_counts(hub) == before


@pytest.fixture
def small(tmp_path):
    """A hub that takes request bodies of at most 2,000 bytes."""
    settings = Settings(data_dir=tmp_path / "small", workers=0, max_request_bytes=2000)
    with TestClient(create_app(settings, pm=tiny_plugin_manager(settings))) as client:
        people = People(client.app.state.hub)
        people.commune("C1")
        yield SimpleNamespace(client=client, hub=client.app.state.hub, editor=people.user("ed", "editor"))


def test_a_body_over_the_request_limit_is_413(small):
    before = row_counts(small.hub)
    # Well under the 20,000-character body limit, but over the request limit in bytes.
    payload = bulletin_payload(body="Thông báo " * 300)
    r = small.client.post(API, json=payload, headers=small.editor)
    assert r.status_code == 413
    assert "2000" in r.json()["detail"]
    assert row_counts(small.hub) == before
    r = small.client.post(API, json=bulletin_payload(), headers=small.editor)
    assert r.status_code == 201


def test_a_chunked_body_over_the_request_limit_is_413(small):
    before = row_counts(small.hub)

    def chunks():
        for _ in range(10):
            yield b" " * 500

    r = small.client.post(API, content=chunks(), headers={**small.editor, "Content-Type": "application/json"})
    assert row_counts(small.hub) == before
    assert r.status_code == 413
    assert r.json()["detail"]


def test_a_lying_content_length_is_refused(small):
    r = small.client.post(API, content=b"{}", headers={**small.editor, "Content-Type": "application/json",
                                                        "Content-Length": "99999999"})
    assert r.status_code == 413
