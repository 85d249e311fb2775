"""LISTEN/NOTIFY between two hubs on one PostgreSQL database (hub/notify.py): a change committed by
one reaches the other's caches at once, and a job queued by one wakes the other's idle worker."""

from __future__ import annotations

import time

import pytest

from hub.changes import generation
from hub.config import Settings
from hub.runtime import Hub
from hub.testing import wait_until
from tests.conftest import bulletin_payload

pytestmark = pytest.mark.postgres_only


def test_a_change_and_a_job_reach_the_other_process_at_once(settings: Settings, client, people) -> None:
    # The other process: its counter cache never ages by itself, its worker never polls on its own,
    # so only a notification can make it see A's change or claim A's job within seconds.
    other = Hub.open(settings.model_copy(update={"job_poll_s": 600.0}))
    other.counter.ttl_s = 3600.0
    try:
        before = other.counter.value()
        other.listen()
        assert other.listener.listening.wait(10)
        other.pipeline.start(1)

        people.commune("NTF")
        author, approver = people.user("tacgia", "editor"), people.user("duyet", "editor")
        with client.app.state.hub.store.reader() as session:
            now = generation(session)
        assert now > before
        start = time.monotonic()
        wait_until(lambda: other.counter.value() == now, 2.0, "the other hub's counter after a commune was added")

        created = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["NTF"], channels=["speaker"]),
                              headers=author)
        assert created.status_code == 201
        bulletin = created.json()["id"]
        assert client.post(f"/api/v1/bulletins/{bulletin}/submit", headers=author).status_code == 200
        start = time.monotonic()
        # This app has no workers (HUB_WORKERS=0): only the other hub's worker can take the job.
        wait_until(lambda: client.get(f"/api/v1/bulletins/{bulletin}", headers=approver).json()["render_status"]
                   in ("running", "done"), 5.0, "the other hub's idle worker to claim the job")
        assert time.monotonic() - start < 5.0
        assert other.listener.heard >= 2
    finally:
        other.close()
