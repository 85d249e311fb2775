"""recordings belong to revisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('bulletin_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording_sha256', sa.String(length=64), nullable=True))

    with op.batch_alter_table('bulletins', schema=None) as batch_op:
        batch_op.drop_column('recording_sha256')




def downgrade() -> None:

    with op.batch_alter_table('bulletins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording_sha256', sa.VARCHAR(length=64), nullable=True))

    with op.batch_alter_table('bulletin_revisions', schema=None) as batch_op:
        batch_op.drop_column('recording_sha256')


