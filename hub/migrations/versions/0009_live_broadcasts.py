"""live broadcasts (issue 15)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

One row per live broadcast: its title, priority and target communes, who opened it, the hashed
ingest key, where devices listen, its status and times, why it ended, and its archive's media.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'live_broadcasts',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('targets', sa.JSON(), nullable=False),
        sa.Column('author_id', sa.String(length=32), nullable=False),
        sa.Column('ingest_key_hash', sa.String(length=64), nullable=False),
        sa.Column('stream_url', sa.String(length=500), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=32), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('archive_sha256', sa.String(length=64), nullable=True),
        sa.Column('archive_duration_s', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_live_broadcasts_author_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_live_broadcasts')),
    )
    with op.batch_alter_table('live_broadcasts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_broadcasts_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('live_broadcasts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_broadcasts_status'))
    op.drop_table('live_broadcasts')
