"""the audit log becomes a hash chain

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Each audit entry gets ``prev_hash`` and ``hash`` (hub/audit_chain.py): the SHA-256 of the previous
entry's hash, a newline, and the entry's canonical content. The entries already there are chained
in id order now, with the same rule written out here (a migration must not depend on code that
may change after it). The ``audit`` counter row serialises appends.
"""
import hashlib
import json
from datetime import timezone

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

FIELDS = ("at", "actor", "action", "object_type", "object_id", "from_status", "to_status", "revision",
          "content_hash", "detail")


def _canonical(row) -> bytes:
    body = {name: getattr(row, name) for name in FIELDS}
    at = body["at"]
    if isinstance(at, str):  # SQLite without type information
        from datetime import datetime
        at = datetime.fromisoformat(at)
    at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
    body["at"] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(body["detail"], str):
        body["detail"] = json.loads(body["detail"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    table = sa.table('audit_events', sa.column('id', sa.Integer), sa.column('at', sa.DateTime),
                     *(sa.column(name) for name in FIELDS[1:-1]), sa.column('detail', sa.JSON),
                     sa.column('prev_hash', sa.String), sa.column('hash', sa.String))
    previous = None
    for row in bind.execute(sa.select(table).order_by(table.c.id)).all():
        digest = hashlib.sha256((previous or "").encode() + b"\n" + _canonical(row)).hexdigest()
        bind.execute(table.update().where(table.c.id == row.id).values(prev_hash=previous, hash=digest))
        previous = digest
    op.execute(sa.text("INSERT INTO counters (name, value) SELECT 'audit', 0 "
                       "WHERE NOT EXISTS (SELECT 1 FROM counters WHERE name = 'audit')"))


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
