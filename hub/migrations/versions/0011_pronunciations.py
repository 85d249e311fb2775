"""The province's pronunciation dictionary

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

``pronunciations``: written form (unique) → spoken form, with a note and who changed it last. The
speech normaliser reads it beside its YAML lexicons (docs/speech-normaliser.md); the console's
administration page edits it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pronunciations',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('written', sa.String(length=80), nullable=False),
        sa.Column('spoken', sa.String(length=200), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('written'),
    )


def downgrade() -> None:
    op.drop_table('pronunciations')
