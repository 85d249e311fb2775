"""playlists, play reports, sources, counters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('counters',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    op.create_table('playlists',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('commune', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('schedule', sa.JSON(), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('origin_path', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['commune'], ['communes.code'], name=op.f('fk_playlists_commune_communes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_playlists')),
    sa.UniqueConstraint('origin_path', name=op.f('uq_playlists_origin_path'))
    )
    with op.batch_alter_table('playlists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_playlists_commune'), ['commune'], unique=False)

    op.create_table('sources',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('commune', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('etag', sa.String(length=500), nullable=True),
    sa.Column('modified', sa.String(length=200), nullable=True),
    sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['commune'], ['communes.code'], name=op.f('fk_sources_commune_communes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sources')),
    sa.UniqueConstraint('url', name=op.f('uq_sources_url'))
    )
    op.create_table('play_reports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=32), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('commune', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=True),
    sa.Column('bulletin_id', sa.String(length=32), nullable=True),
    sa.Column('priority', sa.String(length=16), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_play_reports_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_play_reports')),
    sa.UniqueConstraint('device_id', 'report_id', name=op.f('uq_play_reports_device_id'))
    )
    with op.batch_alter_table('play_reports', schema=None) as batch_op:
        batch_op.create_index('ix_play_reports_commune_started', ['commune', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_play_reports_device_id'), ['device_id'], unique=False)

    with op.batch_alter_table('bulletin_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('repeat_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('repeat_interval_s', sa.Integer(), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('bulletin_revisions', schema=None) as batch_op:
        batch_op.drop_column('repeat_interval_s')
        batch_op.drop_column('repeat_count')

    with op.batch_alter_table('play_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_play_reports_device_id'))
        batch_op.drop_index('ix_play_reports_commune_started')

    op.drop_table('play_reports')
    op.drop_table('sources')
    with op.batch_alter_table('playlists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_playlists_commune'))

    op.drop_table('playlists')
    op.drop_table('counters')

