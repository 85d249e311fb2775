"""The render pipeline: jobs, leases, retries with backoff, artifacts stored once."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub import hookimpl
from hub.app import create_app
from hub.models import Artifact, Job, utcnow
from hub.plugin_types import RenderedMedia, Renderer
from hub.plugins import make_plugin_manager
from hub.testing import wait_until
from tests.conftest import People, bulletin_payload


class Flaky:
    """A renderer that fails a set number of times, then succeeds; counts its calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.lock = threading.Lock()

    @hookimpl
    def hub_register_renderers(self):
        return [Renderer(name="flaky", channel="speaker", render=self.render)]

    def render(self, ctx):
        with self.lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise RuntimeError(f"boom {self.calls}")
        return [RenderedMedia(kind="audio", mime="audio/mpeg", data=ctx.bulletin.content_hash.encode() * 10,
                              meta={"engine": "test"}),
                RenderedMedia(kind="slide", mime="image/png", data=b"slide" + ctx.bulletin.id.encode())]


@pytest.fixture
def make_client(settings):
    from fastapi.testclient import TestClient

    clients = []

    def build(plugin, **overrides):
        local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"], **overrides})
        pm = make_plugin_manager(local)
        pm.register(plugin, name="test-flaky")
        client = TestClient(create_app(local, pm=pm))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def _approved(client) -> tuple[People, str, dict]:
    people = People(client.app.state.hub)
    people.commune("X1")
    author, approver = people.user("a", "editor"), people.user("b", "editor")
    bid = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["X1"]), headers=author).json()["id"]
    client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
    assert client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver).status_code == 200
    return people, bid, author


def _drain(hub, rounds: int = 50) -> None:
    """Run jobs until none is due, letting backoff delays pass by moving run_after."""
    for _ in range(rounds):
        with hub.store.session() as session:
            session.execute(update(Job).where(Job.status == "queued").values(run_after=utcnow()))
        if not hub.pipeline.run_one():
            return


def test_retry_with_backoff_then_done(make_client):
    plugin = Flaky(failures=2)
    # A backoff long enough that no loaded machine lets it pass between two lines of this test.
    client = make_client(plugin, job_backoff_s=60.0, job_backoff_max_s=120.0)
    hub = client.app.state.hub
    _, bid, author = _approved(client)
    assert client.get(f"/api/v1/bulletins/{bid}", headers=author).json()["render_status"] == "queued"

    assert hub.pipeline.run_one()
    view = client.get(f"/api/v1/bulletins/{bid}", headers=author).json()
    assert view["render_status"] == "queued" and "boom 1" in view["error"]
    with hub.store.reader() as session:
        job = session.scalars(select(Job)).one()
        # Backed off: not due yet, so a worker looking now finds nothing.
        assert job.run_after > utcnow()
    assert not hub.pipeline.run_one()

    _drain(hub)
    view = client.get(f"/api/v1/bulletins/{bid}", headers=author).json()
    assert view["render_status"] == "done" and view["error"] is None
    assert plugin.calls == 3
    kinds = sorted(a["kind"] for a in view["artifacts"])
    assert kinds == ["audio", "slide"]
    for artifact in view["artifacts"]:
        body = client.get(artifact["url"], headers=author).content
        assert hashlib.sha256(body).hexdigest() == artifact["sha256"] == artifact["url"].rsplit("/", 1)[1]


def test_gives_up_after_max_attempts(make_client):
    client = make_client(Flaky(failures=100), job_max_attempts=3)
    hub = client.app.state.hub
    _, bid, author = _approved(client)
    _drain(hub)
    view = client.get(f"/api/v1/bulletins/{bid}", headers=author).json()
    assert view["render_status"] == "failed"
    assert "boom 3" in view["error"]
    with hub.store.reader() as session:
        assert session.scalars(select(Job.attempts)).one() == 3


def test_expired_lease_is_claimed_again_and_late_finisher_is_discarded(make_client):
    plugin = Flaky(failures=0)
    client = make_client(plugin)
    hub = client.app.state.hub
    _approved(client)
    pipeline = hub.pipeline

    first = pipeline.claim("dead-worker")
    assert first is not None and pipeline.claim("other") is None, "a leased job is not claimed twice"
    with hub.store.session() as session:
        session.execute(update(Job).values(lease_until=utcnow() - timedelta(seconds=1)))
    second = pipeline.claim("rescuer")
    assert second is not None and second.id == first.id and second.attempts == 2

    ctx = pipeline._context(second, hub.settings.data_dir)
    # The dead worker wakes up and tries to finish: its lease is gone, so nothing is recorded.
    pipeline._complete(first, "dead-worker", ctx, plugin.render(ctx))
    with hub.store.reader() as session:
        assert session.scalar(select(Artifact).limit(1)) is None
    pipeline._complete(second, "rescuer", ctx, plugin.render(ctx))
    with hub.store.reader() as session:
        assert len(session.scalars(select(Artifact)).all()) == 2
        assert session.scalars(select(Job.status)).one() == "done"


def test_emergency_jobs_are_claimed_first(make_client):
    client = make_client(Flaky(failures=0))
    hub = client.app.state.hub
    people = People(hub)
    people.commune("X1")
    author, approver = people.user("a", "editor"), people.user("b", "editor")
    ids = {}
    for priority in ("normal", "emergency", "priority"):
        bid = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["X1"], priority=priority),
                          headers=author).json()["id"]
        client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
        client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver)
        ids[bid] = priority
    order = []
    while (job := hub.pipeline.claim("w")) is not None:
        order.append(ids[job.bulletin_id])
    assert order == ["emergency", "priority", "normal"]


def test_worker_threads_render_in_the_background(make_client):
    client = make_client(Flaky(failures=0), workers=2, job_poll_s=0.05)
    _, bid, author = _approved(client)
    wait_until(lambda: client.get(f"/api/v1/bulletins/{bid}", headers=author).json()["render_status"] == "done",
               timeout=15, what="a worker thread to render the bulletin")


def test_media_store_writes_atomically(tmp_path):
    from hub.media import MediaStore

    store = MediaStore(tmp_path / "m")
    sha = store.put(b"abc")
    assert store.path(sha).read_bytes() == b"abc"
    assert store.put(b"abc") == sha
    assert [p.name for p in (tmp_path / "m").rglob("*") if p.is_file()] == [sha]
    assert store.path("../../etc/passwd") is None
    assert store.path(sha.upper()) is None


def _submitted(client) -> tuple[People, str, dict, dict]:
    people = People(client.app.state.hub)
    people.commune("X1")
    author, approver = people.user("a", "editor"), people.user("b", "editor")
    bid = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["X1"]), headers=author).json()["id"]
    assert client.post(f"/api/v1/bulletins/{bid}/submit", headers=author).status_code == 200
    return people, bid, author, approver


def test_approval_queues_a_failed_render_again(make_client):
    """A render that failed at submission is not left failed by the approval that wants it aired."""
    plugin = Flaky(failures=2)
    client = make_client(plugin, job_max_attempts=2)
    hub = client.app.state.hub
    _, bid, author, approver = _submitted(client)
    _drain(hub)
    assert client.get(f"/api/v1/bulletins/{bid}", headers=author).json()["render_status"] == "failed"

    view = client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver).json()
    assert view["render_status"] == "queued"
    with hub.store.reader() as session:
        job = session.scalars(select(Job)).one()
        assert (job.status, job.attempts) == ("queued", 0), "queued again from its first attempt"
    _drain(hub)
    view = client.get(f"/api/v1/bulletins/{bid}", headers=author).json()
    assert view["render_status"] == "done" and plugin.calls == 3
    assert sorted(a["kind"] for a in view["artifacts"]) == ["audio", "slide"]
    assert all(a["published"] for a in view["artifacts"])


def test_submission_alone_does_not_retry_a_failed_render(make_client):
    client = make_client(Flaky(failures=100), job_max_attempts=1)
    hub = client.app.state.hub
    _, bid, author, _ = _submitted(client)
    _drain(hub)
    # Withdrawn and never approved: the failed job stays failed (nothing asks for it again).
    client.post(f"/api/v1/bulletins/{bid}/withdraw", headers=author)
    with hub.store.reader() as session:
        assert session.scalars(select(Job.status)).one() == "failed"


def test_a_superseded_revision_is_not_rendered(make_client):
    """An edit after submission makes the submitted revision's render useless: it is skipped, and
    the new revision's is what the approver hears."""
    plugin = Flaky(failures=0)
    client = make_client(plugin)
    hub = client.app.state.hub
    _, bid, author, approver = _submitted(client)
    assert client.patch(f"/api/v1/bulletins/{bid}", json={"body": "Nội dung đã sửa lại."},
                        headers=author).status_code == 200
    client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
    _drain(hub)
    assert plugin.calls == 1, "only revision 2 rendered"
    with hub.store.reader() as session:
        jobs = {job.revision: job for job in session.scalars(select(Job))}
        assert jobs[1].status == "skipped" and "superseded by revision 2" in jobs[1].error
        assert jobs[2].status == "done"
        assert {a.revision for a in session.scalars(select(Artifact))} == {2}
    view = client.get(f"/api/v1/bulletins/{bid}", headers=approver).json()
    assert view["render_status"] == "done" and {a["revision"] for a in view["artifacts"]} == {2}


def test_a_withdrawn_bulletin_is_not_rendered(make_client):
    plugin = Flaky(failures=0)
    client = make_client(plugin)
    hub = client.app.state.hub
    _, bid, author, _ = _submitted(client)
    client.post(f"/api/v1/bulletins/{bid}/withdraw", headers=author)
    _drain(hub)
    assert plugin.calls == 0
    view = client.get(f"/api/v1/bulletins/{bid}", headers=author).json()
    assert view["render_status"] is None and view["artifacts"] == []
