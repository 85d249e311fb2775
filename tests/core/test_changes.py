"""The schedule counter: what bumps it, and this process's cached view of it."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from sqlalchemy import select

from hub import accounts
from hub.changes import ScheduleCounter, generation, generations
from hub.models import Artifact, Bulletin, Device, Job, MediaObject
from tests.conftest import bulletin_payload


def _generation(hub) -> int:
    with hub.store.reader() as session:
        return generation(session)


def test_a_new_commune_or_playlist_change_bumps_the_counter(hub):
    before = _generation(hub)
    with hub.store.session() as session:
        accounts.add_commune(session, "X1", "Xã Một")
    assert _generation(hub) == before + 1


def test_a_stored_file_alone_does_not_bump_the_counter(hub):
    before = _generation(hub)
    with hub.store.session() as session:
        session.add(MediaObject(sha256="a" * 64, bytes=3, mime="audio/mpeg", uploaded_by="x"))
    assert _generation(hub) == before, "nothing plays a file until a playlist or an artifact names it"


def test_artifacts_bump_the_counter_only_once_published(client, hub, people):
    people.commune("X1")
    author, approver = people.user("a", "editor"), people.user("b", "editor")
    bid = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["X1"]), headers=author).json()["id"]
    client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)

    def add_artifact(position: int) -> None:
        with hub.store.session() as session:
            revision = session.get(Bulletin, bid).revision
            job = session.scalars(select(Job.id).where(Job.bulletin_id == bid)).first()
            session.add(Artifact(bulletin_id=bid, revision=revision, job_id=job, position=position, renderer="t", kind="audio",
                                 sha256=f"{position}" * 64, bytes=1, mime="audio/mpeg", meta={}))

    before = _generation(hub)
    add_artifact(0)
    assert _generation(hub) == before, "rendered at submission: no device may hear of it yet"
    client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver)
    approved = _generation(hub)
    assert approved == before + 1, "the approval is what devices must hear of"
    add_artifact(1)
    assert _generation(hub) == approved + 1, "a render finishing after the approval changes manifests"


def test_only_device_changes_bump_the_devices_counter(client, hub, people):
    """Device tokens are cached by the devices counter: an approval must not make the whole fleet
    authenticate against the store again, a new or revoked token must."""
    people.commune("X1")
    author, approver = people.user("a", "editor"), people.user("b", "editor")
    with hub.store.reader() as session:
        schedule, devices = generations(session)
    people.device("loa-1", "X1")
    with hub.store.reader() as session:
        assert generations(session) == (schedule + 1, devices + 1)
    bid = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["X1"]), headers=author).json()["id"]
    client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
    client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver)
    with hub.store.reader() as session:
        now_schedule, now_devices = generations(session)
    assert now_schedule > schedule + 1 and now_devices == devices + 1


def test_a_revoked_device_token_is_refused_at_once(client, hub, people):
    people.commune("X1")
    device = people.device("loa-1", "X1")
    assert client.get("/api/v1/device/manifest", headers=device).status_code == 200
    with hub.store.session() as session:
        session.get(Device, people.ids["loa-1"]).active = False
    assert client.get("/api/v1/device/manifest", headers=device).status_code == 401


class _SlowStore:
    """Just enough of a store for ScheduleCounter, whose read blocks until released."""

    def __init__(self) -> None:
        self.on_schedule_change: list = []
        self.value = 1
        self.reading = threading.Event()
        self.release = threading.Event()

    @contextmanager
    def reader(self):
        yield self

    def execute(self, _query):
        value = self.value
        self.reading.set()
        assert self.release.wait(10)
        return _Rows([("schedule", value), ("devices", 7)])


class _Rows(list):
    def all(self):
        return self


def test_a_read_begun_before_an_invalidation_is_not_cached():
    """A background read of the old value that finishes after this process's own commit must not
    hide that commit for a whole ttl."""
    store = _SlowStore()
    counter = ScheduleCounter(store, ttl_s=60.0)
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(counter.value()))
    reader.start()
    assert store.reading.wait(10)
    store.value = 2  # this process commits a change while the read is under way …
    for callback in store.on_schedule_change:
        callback()  # … and the store tells the counter
    store.release.set()
    reader.join(10)
    assert seen == [1]
    assert counter.fresh() is None, "the stale read was not kept"
    assert counter.value() == 2


def test_a_read_with_no_invalidation_is_cached():
    store = _SlowStore()
    store.release.set()
    counter = ScheduleCounter(store, ttl_s=60.0)
    assert counter.value() == 1
    store.value = 5
    assert counter.fresh() == 1 and counter.value() == 1
