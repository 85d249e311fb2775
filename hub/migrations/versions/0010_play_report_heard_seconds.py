"""Play reports: heard_s, the seconds a device really played a stream (relay, live)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

A relay's slot may be longer than what was heard: the station dropped and the agent reconnected,
or it was unreachable. ``play_reports.heard_s`` keeps what the device says it played; it is null
for files, whose length is known.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('play_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heard_s', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('play_reports', schema=None) as batch_op:
        batch_op.drop_column('heard_s')
