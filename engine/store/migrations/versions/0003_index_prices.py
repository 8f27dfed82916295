"""signals and orders keep the execution map's index prices and ratio; signals keep
their first target (a SEMI signal pending across a restart keeps its partial plan).

New columns only, each with a value for the rows already there: a signal or order of
an older store was not mapped ("" / NULL) and had no stored first target (0).

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SIGNAL_COLUMNS = ("index_entry", "index_stop", "index_target", "map_ratio")


def upgrade() -> None:
    with op.batch_alter_table("signals") as batch:
        batch.add_column(sa.Column("target1", sa.Float(), nullable=True, server_default="0"))
        batch.add_column(sa.Column("index_symbol", sa.String(), nullable=False, server_default=""))
        for name in SIGNAL_COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("index_symbol", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("index_price", sa.Float(), nullable=True))
        batch.add_column(sa.Column("map_ratio", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for name in ("map_ratio", "index_price", "index_symbol"):
            batch.drop_column(name)
    with op.batch_alter_table("signals") as batch:
        for name in (*reversed(SIGNAL_COLUMNS), "index_symbol", "target1"):
            batch.drop_column(name)
