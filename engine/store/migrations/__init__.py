"""The store's Alembic migrations, shipped inside the package.

``versions/`` holds one file per schema version, oldest first: 0001 is the
schema of the last release before migrations (2e9a05e), 0002 adds sim_sessions.
The cockpit runs them itself when it opens a store (engine/store/schema.py), so
nobody has to run the ``alembic`` command. A change to engine/store/tables.py
needs a new file here; tests/test_store_migrations.py fails until the newest
migration and the models agree.

Writing the next one: copy 0002, give it the next number as ``revision`` and
the newest as ``down_revision``, and write its ``op`` calls (``op.add_column``
with a server default for a NOT NULL column, so existing rows get a value). A
migration never imports the models: it freezes the shape it creates.
``alembic revision --autogenerate`` also works through env.py (see there).
"""
