"""sim_sessions: each start of a simulated session (engine/sim_resume.py).

A new table only: no existing row changes.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sim_sessions",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("session_date", sa.String(), nullable=False),
        sa.Column("start", sa.String(), nullable=False),
        sa.Column("data_ns", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_sim_sessions_key", "sim_sessions", ["key"])


def downgrade() -> None:
    op.drop_table("sim_sessions")
