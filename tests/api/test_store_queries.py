"""List endpoints cost a fixed number of queries, not a few per row (issue 13): counted on both stores."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from tests.conftest import bulletin_payload


@contextmanager
def counted(hub):
    """Every query the hub's engines run inside the block (both engines: SQLite reads use their own);
    transaction control (SQLite's own BEGIN IMMEDIATE) and the counter reads of the hub's background
    thread are not counted."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:
        if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            return
        if "FROM counters" in statement:
            return  # the hub's own background reader of the schedule counter, on another thread
        seen.append(statement)

    engines = {id(e): e for e in (hub.store.engine, hub.store.read_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def _make(desk, n: int) -> None:
    """n bulletins in mixed states: approved and rendered, pending, draft."""
    for i in range(n):
        kind = i % 3
        if kind == 0:
            desk.approved(title=f"Tin {i}")
            continue
        r = desk.client.post("/api/v1/bulletins", json=bulletin_payload(title=f"Tin {i}"), headers=desk.author)
        assert r.status_code == 201, r.text
        if kind == 1:
            assert desk.client.post(f"/api/v1/bulletins/{r.json()['id']}/submit",
                                    headers=desk.author).status_code == 200


def _list(desk) -> tuple[list[dict], int]:
    # Once uncounted: a connection new to the pool asks the server a few things first (PostgreSQL).
    desk.client.get("/api/v1/bulletins", params={"limit": 200}, headers=desk.approver)
    with counted(desk.hub) as seen:
        r = desk.client.get("/api/v1/bulletins", params={"limit": 200}, headers=desk.approver)
    assert r.status_code == 200, r.text
    return r.json(), len(seen)


def test_the_bulletin_list_costs_the_same_queries_for_3_or_12_rows(desk):
    _make(desk, 3)
    few, few_queries = _list(desk)
    _make(desk, 9)
    many, many_queries = _list(desk)
    assert (len(few), len(many)) == (3, 12)
    # Today: the caller's token, the count, the page, revisions, jobs, authors' names.
    assert many_queries == few_queries <= 8, (few_queries, many_queries)
    # The page shows what each bulletin's own page shows (less the artifacts).
    for row in many:
        one = desk.client.get(f"/api/v1/bulletins/{row['id']}", headers=desk.approver).json()
        one.pop("artifacts")
        assert row == one
    assert {row["render_status"] for row in many} == {"done", "queued", None}
