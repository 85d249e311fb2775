"""live broadcasts: when the ingest last said it is alive

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

``live_broadcasts.alive_at``: the ingest carrying a broadcast writes it every few seconds. A
broadcast on air whose ingest went silent (its hub process died) is treated as ended there, so
devices go back to their schedule and the commune can open a new one.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('live_broadcasts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alive_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('live_broadcasts', schema=None) as batch_op:
        batch_op.drop_column('alive_at')
