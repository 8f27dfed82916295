"""Crash-restart property: a session killed at a random data time and restarted
from its store makes exactly the uninterrupted session's fills, ends with the
same positions and equity, and never uses a client order id twice; on a SQLite
file and on a PostgreSQL database alike.
(`cockpit bench faults --trials 50` runs many more kill points.)"""
import uuid

import pytest

from cockpit.bench_faults import crash_restart_trials


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_killed_at_random_data_times_the_restarted_session_matches_the_uninterrupted_one(backend, request):
    new_store = None
    if backend == "postgresql":
        server = request.getfixturevalue("pg_server")

        def new_store(_name: str) -> str:  # a fresh database per run
            db = f"crash_{uuid.uuid4().hex[:12]}"
            server.psql(f"CREATE DATABASE {db};")
            return server.get_uri(db)

    result = await crash_restart_trials(trials=3, rng_seed=11, new_store=new_store)
    assert result.trials == 3
    assert (result.survived, result.lost, result.duplicated) == (3, 0, 0), result.failures
