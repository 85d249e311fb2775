"""Render before approval, and nothing unapproved leaks: over any sequence of edit, submit, reject,
withdraw and approve, no manifest, feed, page or media answer to a device or the public exposes an
artifact of a revision that is not the approved, current one; and what the approver heard before
approving is byte for byte what airs."""

from __future__ import annotations

import re

import hypothesis.strategies as st
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from hub.app import create_app
from hub.models import Artifact
from hub.plugins import make_plugin_manager
from hub.testing import QuickMedia
from tests.conftest import People, bulletin_payload

SHA = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def quick(settings):
    # Real MP3s and PNGs made in a blink (a tone whose pitch follows the content hash, so each
    # revision's audio differs), instead of the real voice: the property needs many renders.
    local = settings.model_copy(update={"disabled_plugins": ["speech", "slides"]})
    pm = make_plugin_manager(local)
    pm.register(QuickMedia(seconds=1.0), name="quick")
    with TestClient(create_app(local, pm=pm)) as client:
        yield client


def render_all(hub) -> None:
    while hub.pipeline.run_one():
        pass


def test_unpublished_artifacts_never_reach_devices_or_the_public(quick):
    client, hub = quick, quick.app.state.hub
    people = People(hub)
    people.commune("X1")
    author, approver = people.user("tac-gia", "editor"), people.user("duyet", "editor")
    monitor = people.user("giam-sat", "monitor")
    speaker, board = people.device("loa", "X1"), people.device("bang", "X1", "display")
    seen = {"published": 0, "unpublished_checked": 0, "previews_matched": 0, "linked": 0}

    class Workflow(RuleBasedStateMachine):
        @initialize(start=st.sampled_from(["draft", "pending", "approved"]))
        def create(self, start):
            # Emergencies air at once, with no playlist: what is approved shows in the manifest.
            r = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["X1"], priority="emergency"),
                            headers=author)
            assert r.status_code == 201, r.text
            self.id = r.json()["id"]
            if start != "draft":
                self.submit()
            if start == "approved":
                self.approve()

        def teardown(self):
            # Each example starts with nothing on the air: the store outlives the examples, and
            # media are shared by content (another bulletin's slide may be this one's too).
            client.post(f"/api/v1/bulletins/{self.id}/withdraw", headers=approver)

        def act(self, action: str, headers):
            client.post(f"/api/v1/bulletins/{self.id}/{action}", headers=headers)
            render_all(hub)

        @rule(body=st.sampled_from(["Lịch cắt điện.", "Lịch tiêm chủng.", "Họp dân tối nay."]))
        def edit(self, body):
            client.patch(f"/api/v1/bulletins/{self.id}", json={"body": body}, headers=author)
            render_all(hub)

        @rule()
        def submit(self):
            self.act("submit", author)

        @rule()
        def reject(self):
            self.act("reject", approver)

        @rule()
        def withdraw(self):
            self.act("withdraw", approver)

        @rule()
        def approve(self):
            before = client.get(f"/api/v1/bulletins/{self.id}", headers=approver).json()
            heard = {a["sha256"] for a in before["artifacts"] if a["kind"] == "audio"}
            if before["status"] == "pending" and before["render_status"] == "done":
                # Rendered at submission, listed to the approver, not yet published.
                assert heard and all(a["published"] is False for a in before["artifacts"])
            self.act("approve", approver)
            after = client.get(f"/api/v1/bulletins/{self.id}", headers=approver).json()
            if before["status"] == "pending" and after["status"] == "approved":
                manifest = client.get("/api/v1/device/manifest", headers=speaker).json()
                aired = {item["media"]["sha256"] for item in manifest["items"] if item["bulletin_id"] == self.id}
                assert aired == heard, "the approver heard something other than what airs"
                seen["previews_matched"] += 1

        @invariant()
        def nothing_unapproved_leaks(self):
            view = client.get(f"/api/v1/bulletins/{self.id}", headers=approver).json()
            with hub.store.reader() as session:
                stored = {(a.revision, a.sha256) for a in session.scalars(
                    select(Artifact).where(Artifact.bulletin_id == self.id))}
            live = view["status"] == "approved" and view["approved_revision"] == view["revision"]
            aired = {sha for revision, sha in stored if live and revision == view["revision"]}
            never = {sha for _revision, sha in stored} - aired
            seen["published"] += bool(aired)

            exposed = set()
            for device in (speaker, board):
                body = client.get("/api/v1/device/manifest", headers=device).text
                exposed |= set(SHA.findall(body))
            for feed in ("/feeds/all.json", "/feeds/X1.rss", "/feeds/all.atom", "/feeds/cap.atom"):
                exposed |= set(SHA.findall(client.get(feed).text))
            page = client.get(f"/b/{self.id}")
            assert page.status_code == (200 if live else 404)
            exposed |= set(SHA.findall(page.text))
            assert not exposed & never, "an unapproved artifact was shown to a device or the public"

            for sha in never:
                seen["unpublished_checked"] += 1
                assert client.get(f"/media/{sha}").status_code in (401, 404)
                assert client.get(f"/media/{sha}", headers=speaker).status_code == 404
                assert client.get(f"/media/{sha}", headers=monitor).status_code == 404
                assert client.get(f"/media/{sha}", headers=approver).status_code == 200
            for sha in aired:
                assert client.get(f"/media/{sha}", headers=speaker).status_code == 200
            # What nginx sends without asking (hub/public_media.py): the aired web files, nothing else.
            linked = hub.public_media.linked()
            assert not linked & never, "nginx would send an unapproved or withdrawn artifact"
            assert aired <= linked, "a published web file has no link for nginx"
            seen["linked"] += bool(aired)
            if not live:
                listed = client.get(f"/api/v1/bulletins/{self.id}/artifacts", headers=monitor).json()
                assert listed == [], "only those who may approve see unpublished artifacts"

    run_state_machine_as_test(Workflow, settings=hsettings(
        max_examples=20, stateful_step_count=8, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
    # The property must have met both sides, or it proved nothing.
    assert seen["published"] and seen["unpublished_checked"] and seen["previews_matched"] and seen["linked"], seen
