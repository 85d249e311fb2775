"""Revisions: recording_check, what a speech checker heard in the revision's recording

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

With the speech-recognition plugin (hub_asr) enabled, the worker transcribes a revision's
recording and stores ``{"status", "transcript", "wer", "matches"}`` here (hub/recording_check.py);
null: not checked. Not part of the revision's content or hash.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bulletin_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording_check', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bulletin_revisions', schema=None) as batch_op:
        batch_op.drop_column('recording_check')
