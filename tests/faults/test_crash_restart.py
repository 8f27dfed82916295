"""Crash-restart property: a session killed at a random data time and restarted
from its store makes exactly the uninterrupted session's fills, ends with the
same positions and equity, and never uses a client order id twice.
(`cockpit bench faults --trials 50` runs many more kill points.)"""
from cockpit.bench_faults import crash_restart_trials


async def test_killed_at_random_data_times_the_restarted_session_matches_the_uninterrupted_one():
    result = await crash_restart_trials(trials=3, rng_seed=11)
    assert result.trials == 3
    assert (result.survived, result.lost, result.duplicated) == (3, 0, 0), result.failures
