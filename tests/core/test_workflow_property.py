"""Property: no sequence of calls by anyone reaches `approved` without a second person, and every
approved revision's content hash is the one that was approved."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings as hsettings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from hub.bulletins import Content
from hub.models import Approval, Bulletin, Revision
from hub.workflow import TRANSITIONS, next_status
from tests.conftest import People, bulletin_payload

ACTORS = ["author", "editor2", "admin", "operator", "monitor"]
WRITERS = ["author", "editor2", "admin", "operator"]


def test_next_status_matches_the_table():
    for action, moves in TRANSITIONS.items():
        for status in ("draft", "pending", "approved", "rejected", "withdrawn"):
            if status in moves:
                assert next_status(status, action) == moves[status]
            else:
                try:
                    next_status(status, action)
                except Exception as exc:
                    assert type(exc).__name__ == "Conflict"
                else:
                    raise AssertionError(f"{action} from {status} should be refused")
    assert all("withdrawn" not in moves for moves in TRANSITIONS.values())


def test_four_eyes_holds_for_every_sequence(client):
    hub = client.app.state.hub
    people = People(hub)
    people.commune("X1")
    headers = {
        "author": people.user("author", "editor"),
        "editor2": people.user("editor2", "editor"),
        "admin": people.user("admin", "admin"),
        "operator": people.user("operator", "operator", "X1"),
        "monitor": people.user("monitor", "monitor"),
    }
    ids = {name: people.ids[name] for name in headers}
    reached = {"approved": 0, "refused_self_approval": 0}

    class Workflow(RuleBasedStateMachine):
        @initialize(creator=st.sampled_from(["author", "operator", "admin"]))
        def create(self, creator):
            r = client.post("/api/v1/bulletins", json=bulletin_payload(targets=["X1"]), headers=headers[creator])
            assert r.status_code == 201, r.text
            self.id = r.json()["id"]
            self.editors = {ids[creator]}

        @rule(actor=st.sampled_from(ACTORS), body=st.text(min_size=0, max_size=30))
        def edit(self, actor, body):
            r = client.patch(f"/api/v1/bulletins/{self.id}", json={"body": body}, headers=headers[actor])
            assert r.status_code in (200, 403, 404, 409, 422), r.text
            if r.status_code == 200:
                self.editors.add(ids[actor])

        @rule(actor=st.sampled_from(ACTORS), action=st.sampled_from(["submit", "approve", "reject", "withdraw"]))
        def move(self, actor, action):
            r = client.post(f"/api/v1/bulletins/{self.id}/{action}", headers=headers[actor])
            assert r.status_code in (200, 403, 404, 409), r.text
            if action == "approve" and r.status_code == 200:
                assert ids[actor] not in self.editors_of_current_revision()
                reached["approved"] += 1
            if action == "approve" and r.status_code == 403 and ids[actor] in self.editors_of_current_revision():
                reached["refused_self_approval"] += 1

        def editors_of_current_revision(self) -> set[str]:
            with hub.store.reader() as session:
                bulletin = session.get(Bulletin, self.id)
                revision = session.scalars(select(Revision).where(
                    Revision.bulletin_id == self.id, Revision.revision == bulletin.revision)).one()
                return {bulletin.author_id, revision.created_by}

        @invariant()
        def approved_means_a_second_person_approved_this_content(self):
            if not hasattr(self, "id"):
                return
            with hub.store.reader() as session:
                bulletin = session.get(Bulletin, self.id)
                revision = session.scalars(select(Revision).where(
                    Revision.bulletin_id == self.id, Revision.revision == bulletin.revision)).one()
                assert revision.content_hash == Content.of(revision).hash()
                if bulletin.status != "approved":
                    return
                assert bulletin.approved_revision == bulletin.revision
                approval = session.scalars(select(Approval).where(
                    Approval.bulletin_id == self.id, Approval.revision == bulletin.revision,
                    Approval.decision == "approve")).one()
                assert approval.content_hash == revision.content_hash
                assert approval.decided_by not in (bulletin.author_id, revision.created_by)
                assert approval.decided_by in (ids["editor2"], ids["admin"], ids["author"])

    run_state_machine_as_test(Workflow, settings=hsettings(
        max_examples=60, stateful_step_count=12, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
    # The property is only worth something if the runs got there both ways.
    assert reached["approved"] > 0 and reached["refused_self_approval"] > 0, reached
