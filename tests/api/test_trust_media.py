"""Issue 14: a commune's media answer only to its own devices and operators (and the department);
a withdrawn bulletin's only to who may still approve it; a user's token never in the query."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from tests.api.test_media import approved_media, tiny_plugin_manager
from tests.conftest import People


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("trust-media") / "var", workers=0)
    with TestClient(create_app(settings, pm=tiny_plugin_manager(settings))) as client:
        people = People(client.app.state.hub)
        people.commune("C1")
        people.commune("C2")
        team = SimpleNamespace(
            author=people.user("author", "editor"), approver=people.user("approver", "editor"),
            monitor=people.user("watcher", "monitor"),
            op1=people.user("op-1", "operator", "C1"), op2=people.user("op-2", "operator", "C2"),
            dev1=people.device("loa-c1", "C1"), dev2=people.device("loa-c2", "C2"),
            board1=people.device("bang-c1", "C1", kind="display"), board2=people.device("bang-c2", "C2", kind="display"),
            board1_token=people.tokens["bang-c1"], board2_token=people.tokens["bang-c2"],
            author_token=people.tokens["author"])
        yield SimpleNamespace(client=client, hub=client.app.state.hub, team=team)


def test_another_communes_media_are_not_found(world):
    client, hub, team = world.client, world.hub, world.team
    _bid, art = approved_media(client, hub, team, channels=["speaker"], targets=["C1"], body="Chỉ cho xã C1.")
    url = art["url"]
    assert client.get(url, headers=team.dev1).status_code == 200
    assert client.get(url, params={"token": team.board1_token}).status_code == 200
    assert client.get(url, headers=team.op1).status_code == 200
    assert client.get(url, headers=team.monitor).status_code == 200
    # The other commune's loudspeaker and operator know the hash, and still get nothing.
    for headers in (team.dev2, team.op2):
        r = client.get(url, headers=headers)
        assert r.status_code == 404 and r.json()["detail"] == "no such media"
    assert client.get(url, params={"token": team.board2_token}).status_code == 404
    # Asked a second time (the audience now remembered, the answer from memory where it can be).
    assert client.get(url, headers=team.dev2).status_code == 404
    assert client.get(url, headers=team.dev1).status_code == 200
    assert client.head(url, headers=team.dev2).status_code == 404

    _bid, everywhere = approved_media(client, hub, team, channels=["speaker"], targets=["*"], body="Cho mọi xã.")
    for headers in (team.dev1, team.dev2, team.op2):
        assert client.get(everywhere["url"], headers=headers).status_code == 200


def test_withdrawn_media_answer_only_to_who_may_approve(world):
    client, hub, team = world.client, world.hub, world.team
    bid, art = approved_media(client, hub, team, channels=["speaker"], targets=["C1"], body="Sẽ thu hồi.")
    assert client.get(art["url"], headers=team.op1).status_code == 200
    assert client.post(f"/api/v1/bulletins/{bid}/withdraw", json={"reason": "sai"},
                       headers=team.approver).status_code == 200
    for headers in (team.dev1, team.op1, team.monitor, team.dev2):
        assert client.get(art["url"], headers=headers).status_code == 404
    assert client.get(art["url"], headers=team.approver).status_code == 200


def test_programme_audio_of_a_commune_stays_in_that_commune(world):
    client, hub, team = world.client, world.hub, world.team
    from hub.plugin_types import RenderedMedia

    media = RenderedMedia(kind="audio", mime="audio/mpeg", data=b"jingle-of-C1" * 50, duration_s=2.0, meta={})
    sha = hub.media.put(media.data)
    op1 = hub.services.directory.authenticate(team.op1["Authorization"].removeprefix("Bearer "))
    hub.services.media.record_upload(op1, sha, media, None, "Nhạc hiệu C1")
    assert client.get(f"/media/{sha}", headers=team.dev1).status_code == 200
    assert client.get(f"/media/{sha}", headers=team.op1).status_code == 200
    assert client.get(f"/media/{sha}", headers=team.dev2).status_code == 404
    assert client.get(f"/media/{sha}", headers=team.op2).status_code == 404


def test_a_users_token_in_the_query_is_refused(world):
    client, hub, team = world.client, world.hub, world.team
    _bid, art = approved_media(client, hub, team, channels=["speaker"], body="Tin chỉ cho loa.")
    r = client.get(art["url"], params={"token": team.author_token})
    assert r.status_code == 401 and "Authorization header" in r.json()["detail"]
    assert client.get(art["url"], headers=team.author).status_code == 200
