"""console sessions keep their own idle limit

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

A session made by the console carries the idle limit it was made with, so that whichever door it
is presented at (a console page, or an API call from a console page's script with its CSRF
header) ends it after the same idle time. Sessions made before this keep the default (NULL: the
caller's limit).

It also makes sure the ``schedule`` and ``devices`` counter rows exist, so that the first bump of
each is an UPDATE: two processes bumping a missing row at once would both INSERT it, and one
transaction would fail on the primary key (several ``hub serve`` processes on PostgreSQL).
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idle_s', sa.Integer(), nullable=True))
    for name in ('schedule', 'devices'):
        op.execute(sa.text("INSERT INTO counters (name, value) SELECT :name, 0 "
                           "WHERE NOT EXISTS (SELECT 1 FROM counters WHERE name = :name)").bindparams(name=name))


def downgrade() -> None:
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_column('idle_s')
