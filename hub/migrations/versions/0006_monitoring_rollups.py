"""monitoring roll-ups: plays per commune and day, per bulletin, device online seconds per day

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Airtime and the monthly report read daily roll-ups instead of every play report: ``play_days``
(plays, seconds, emergency plays, interrupted, failed per commune and local day),
``play_bulletin_days`` (the same per bulletin, with its first start that day) and ``device_days``
(seconds online per device and local day, from heartbeats). The play-report and heartbeat paths
keep them current in their own transaction. The upgrade fills the play roll-ups from the reports
already stored; online time before this migration is not known (heartbeats were not kept).
"""
from datetime import timedelta, timezone

from alembic import op
import sqlalchemy as sa


revision = '0006'


down_revision = '0005'
branch_labels = None
depends_on = None

#: Asia/Ho_Chi_Minh has no daylight saving: the local day is UTC+7.
LOCAL = timezone(timedelta(hours=7))


def upgrade() -> None:
    op.create_table('play_days',
    sa.Column('commune', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('plays', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('emergency_plays', sa.Integer(), nullable=False),
    sa.Column('interrupted', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('commune', 'day', name=op.f('pk_play_days'))
    )
    op.create_table('play_bulletin_days',
    sa.Column('commune', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('bulletin_id', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=True),
    sa.Column('plays', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('first_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('commune', 'day', 'bulletin_id', name=op.f('pk_play_bulletin_days'))
    )
    with op.batch_alter_table('play_bulletin_days', schema=None) as batch_op:
        batch_op.create_index('ix_play_bulletin_days_day', ['day'], unique=False)
    op.create_table('device_days',
    sa.Column('device_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('commune', sa.String(length=32), nullable=False),
    sa.Column('online_s', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_days_device_id_devices')),
    sa.PrimaryKeyConstraint('device_id', 'day', name=op.f('pk_device_days'))
    )
    with op.batch_alter_table('device_days', schema=None) as batch_op:
        batch_op.create_index('ix_device_days_day', ['day'], unique=False)
    with op.batch_alter_table('play_reports', schema=None) as batch_op:
        batch_op.create_index('ix_play_reports_bulletin_started', ['bulletin_id', 'started_at'], unique=False)
    _backfill()


def _moment(value):
    from datetime import datetime
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _backfill() -> None:
    bind = op.get_bind()
    days: dict = {}
    bulletins: dict = {}
    rows = bind.execute(sa.text(
        "SELECT commune, bulletin_id, priority, started_at, ended_at, result FROM play_reports"))
    for commune, bulletin_id, priority, started, ended, result in rows:
        started, ended = _moment(started), _moment(ended)
        day = started.astimezone(LOCAL).date()
        row = days.setdefault((commune, day), {"commune": commune, "day": day, "plays": 0, "seconds": 0.0,
                                                "emergency_plays": 0, "interrupted": 0, "failed": 0})
        if result == "failed":
            row["failed"] += 1
            continue
        seconds = max(0.0, (ended - started).total_seconds())
        row["plays"] += 1
        row["seconds"] += seconds
        row["interrupted"] += result == "interrupted"
        row["emergency_plays"] += priority == "emergency"
        if bulletin_id:
            one = bulletins.setdefault((commune, day, bulletin_id), {
                "commune": commune, "day": day, "bulletin_id": bulletin_id, "priority": priority, "plays": 0,
                "seconds": 0.0, "first_started_at": started})
            one["plays"] += 1
            one["seconds"] += seconds
            one["first_started_at"] = min(one["first_started_at"], started)
    meta = sa.MetaData()
    play_days = sa.Table('play_days', meta, autoload_with=bind)
    play_bulletin_days = sa.Table('play_bulletin_days', meta, autoload_with=bind)
    if days:
        bind.execute(play_days.insert(), list(days.values()))
    if bulletins:
        bind.execute(play_bulletin_days.insert(), list(bulletins.values()))


def downgrade() -> None:
    with op.batch_alter_table('play_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_play_reports_bulletin_started')
    with op.batch_alter_table('device_days', schema=None) as batch_op:
        batch_op.drop_index('ix_device_days_day')
    op.drop_table('device_days')
    with op.batch_alter_table('play_bulletin_days', schema=None) as batch_op:
        batch_op.drop_index('ix_play_bulletin_days_day')
    op.drop_table('play_bulletin_days')
    op.drop_table('play_days')
