"""CAP fields per revision (event, category, instruction) and commune boundaries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

An editor now says what an emergency is about: ``bulletin_revisions.cap_event`` (CAP <event>),
``bulletin_revisions.cap_category`` (one of CAP 1.2's categories) and ``bulletin_revisions.instruction`` (CAP
<instruction>), all optional; a revision without them keeps its content hash. ``communes.boundary``
holds the commune's outline (a GeoJSON Polygon or MultiPolygon) from ``hub communes import-geojson``.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bulletin_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cap_event', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('cap_category', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('instruction', sa.Text(), nullable=True))
    with op.batch_alter_table('communes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('boundary', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('communes', schema=None) as batch_op:
        batch_op.drop_column('boundary')
    with op.batch_alter_table('bulletin_revisions', schema=None) as batch_op:
        batch_op.drop_column('instruction')
        batch_op.drop_column('cap_category')
        batch_op.drop_column('cap_event')
