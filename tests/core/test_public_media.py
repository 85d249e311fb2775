"""The links nginx sends public media from (hub/public_media.py) never say more than the database:
a withdrawal removes its link before it commits, even when the process dies right after; a start
mends what a death left out; stale links and temporaries go."""

from __future__ import annotations

import os

import pytest

from hub.public_media import EXTENSIONS, PublicLinks, public_files
from hub.runtime import Hub
from tests.conftest import People, bulletin_payload
from tests.core.test_unpublished import quick  # noqa: F401  (the fixture)


@pytest.fixture
def site(quick):
    """test_unpublished's hub of quick media, with a commune, an author and an approver."""
    people = People(quick.app.state.hub)
    people.commune("X1")
    quick.people = people
    quick.author, quick.approver = people.user("tac-gia", "editor"), people.user("duyet", "editor")
    return quick


def approved(client, channels: list[str]) -> tuple[str, set[str]]:
    """A bulletin approved and rendered; its files."""
    hub = client.app.state.hub
    made = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["X1"], channels=channels),
                       headers=client.author)
    bulletin = made.json()["id"]
    assert client.post(f"/api/v1/bulletins/{bulletin}/submit", headers=client.author).status_code == 200
    while hub.pipeline.run_one():
        pass
    assert client.post(f"/api/v1/bulletins/{bulletin}/approve", headers=client.approver).status_code == 200
    while hub.pipeline.run_one():
        pass
    files = {a["sha256"] for a in client.get(f"/api/v1/bulletins/{bulletin}/artifacts", headers=client.approver).json()
             if a["mime"] in ("audio/mpeg", "image/png")}
    assert files
    return bulletin, files


def dies_after_commit(monkeypatch) -> None:
    """The process 'dies' between its commit and its links' sync: the sync never happens."""
    def killed(self, sha256s):
        raise SystemError("killed before the sync")
    monkeypatch.setattr(PublicLinks, "sync", killed)


def test_links_follow_publication_and_a_withdrawal_unlinks_before_it_commits(site, monkeypatch):
    hub = site.app.state.hub
    web, web_files = approved(site, ["speaker", "web"])
    _speaker, speaker_files = approved(site, ["speaker"])
    assert web_files <= hub.public_media.linked()
    assert not speaker_files & hub.public_media.linked(), "a file for loudspeakers only is not public"
    for sha in web_files:
        link = next(hub.public_media.folder.glob(f"{sha}.*"))
        assert link.is_symlink() and os.readlink(link) == f"../{sha[:2]}/{sha}"
        assert link.read_bytes() == hub.media.path(sha).read_bytes()

    dies_after_commit(monkeypatch)
    assert site.post(f"/api/v1/bulletins/{web}/withdraw", headers=site.approver).status_code == 200
    assert not web_files & hub.public_media.linked(), "the withdrawal's commit went out with the link still there"


def test_a_start_mends_what_a_dead_process_left_out(site, monkeypatch, settings):
    hub = site.app.state.hub
    dies_after_commit(monkeypatch)
    _web, files = approved(site, ["web"])
    assert not files & hub.public_media.linked(), "the sync was to have died"
    monkeypatch.undo()

    # A link to a file that is not public, and a temporary of a process killed mid-link.
    stray = hub.media.put(b"not public" * 100)
    os.symlink(f"../{stray[:2]}/{stray}", hub.public_media.folder / f"{stray}.mp3")
    (hub.public_media.folder / f".{stray}.4242").symlink_to(f"../{stray[:2]}/{stray}")
    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"]})
    again = Hub.open(local)
    try:
        assert again.public_media.linked() == files
        with again.store.reader() as session:
            expected = {f"{sha}.{EXTENSIONS[mime]}" for sha, mime in public_files(session).items()}
        assert {p.name for p in again.public_media.folder.iterdir()} == expected | {".lock"}
    finally:
        again.close()
