from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.plugins import make_plugin_manager
from hub.testing import QuickMedia
from tests.conftest import People, bulletin_payload


class Desk:
    """A department desk on a quick hub: an author and an approver, and bulletins made to order."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.hub = client.app.state.hub
        self.people = People(self.hub)
        self.people.commune("A", "Xã A")
        self.people.commune("B", "Xã B")
        self.author = self.people.user("tacgia", "editor")
        self.approver = self.people.user("pheduyet", "editor")

    def approved(self, render: bool = True, **fields: Any) -> str:
        r = self.client.post("/api/v1/bulletins", json=bulletin_payload(**fields), headers=self.author)
        assert r.status_code == 201, r.text
        bid = r.json()["id"]
        assert self.client.post(f"/api/v1/bulletins/{bid}/submit", headers=self.author).status_code == 200
        assert self.client.post(f"/api/v1/bulletins/{bid}/approve", headers=self.approver).status_code == 200
        if render:
            self.render()
        return bid

    def render(self) -> None:
        while self.hub.pipeline.run_one():
            pass


@pytest.fixture
def quick_client(settings) -> Iterator[TestClient]:
    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"]})
    pm = make_plugin_manager(local)
    pm.register(QuickMedia(), name="quick-media")
    with TestClient(create_app(local, pm=pm)) as client:
        yield client


@pytest.fixture
def desk(quick_client) -> Desk:
    return Desk(quick_client)
