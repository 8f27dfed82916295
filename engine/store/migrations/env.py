"""Alembic's environment for the store's migrations.

The cockpit does not go through this file when it opens a store: engine/store/schema.py
drives the migration context itself on the store's own connection. This file is for a
developer running the ``alembic`` command (e.g. ``revision --autogenerate``) against a
store named by ``-x db=URL`` (a plain, synchronous SQLAlchemy URL).
"""
from alembic import context
from sqlalchemy import create_engine

from engine.store.tables import StoreModel

url = context.get_x_argument(as_dictionary=True).get("db") or context.config.get_main_option("sqlalchemy.url")
if not url:
    raise SystemExit("name the store: alembic ... -x db=sqlite:////path/to/cockpit.db")
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=StoreModel.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
