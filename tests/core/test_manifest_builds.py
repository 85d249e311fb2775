"""Building manifests after a change reads the store once for the fleet, not once per device (an
emergency makes every process rebuild every held device's manifest at once), and is still right
when a device moves or a board turns round."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from hub.auth import Principal
from hub.models import Device


@contextmanager
def counted(hub):
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = hub.store.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def principal(hub, name: str, people) -> Principal:
    with hub.store.reader() as session:
        row = session.get(Device, people.ids[name])
        return Principal(row.id, row.name, "device", row.commune, row.kind)


def test_a_change_rebuilds_the_fleet_with_a_few_queries_not_one_per_device(hub, people):
    for code in ("A", "B"):
        people.commune(code)
    for n in range(40):
        people.device(f"loa-{n}", "A" if n % 2 else "B")
    devices = [principal(hub, f"loa-{n}", people) for n in range(40)]
    for device in devices:
        hub.manifests.get(device)
    people.commune("C")  # a change: every manifest is stale
    with counted(hub) as statements:
        entries = [hub.manifests.get(device) for device in devices]
    assert len({e.generation for e in entries}) == 1
    # The fleet's facts (two queries), each commune's timeline, the counter: not 40 device reads.
    assert len(statements) < 20, statements


def test_a_moved_device_and_a_turned_board_get_their_new_manifest(hub, people):
    import json

    for code in ("A", "B"):
        people.commune(code)
    people.device("loa", "A")
    people.device("bang", "A", kind="display")
    speaker, board = principal(hub, "loa", people), principal(hub, "bang", people)
    from hub.clock import utcnow

    assert json.loads(hub.manifests.get(speaker).render(utcnow()))["commune"] == "A"
    hub.manifests.get(board)
    with hub.store.session() as session:
        session.get(Device, speaker.id).commune = "B"
    moved = hub.manifests.get(speaker)  # the token cache's principal still says A
    assert b'"commune":"B"' in moved.body
    before = hub.manifests.get(board)
    hub.services.devices.heartbeat(board, "idle", None, {"orientation": "portrait"})
    turned = hub.manifests.get(board)
    assert turned.generation > before.generation
    assert hub.manifests._fleet[1][board.id] == ("A", "display", "portrait")
