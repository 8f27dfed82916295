"""A sweep on a local Dask cluster gives the same table as the process pool."""
from __future__ import annotations

import distributed  # a test dependency (pyproject [test]): missing, this fails rather than skips
import pytest

from engine.backtest.data import load_dataset
from engine.backtest.executors import make_executor
from engine.backtest.grid import parse_grid
from engine.backtest.runner import backtest_config
from engine.backtest.sweep import run_sweep
from tests.factories import sweep_table


pytestmark = pytest.mark.usefixtures("synthetic_cache")


def test_dask_local_cluster_matches_process_pool():
    ds = load_dataset(["synthetic:SPY,QQQ:2:9"])
    cfg = backtest_config(None, ds.symbols, setup="auction")
    grid = parse_grid(["min_aggression=60,80", "allow_balance_trades=false,true"])
    pool = make_executor(None, 2)
    try:
        expected = run_sweep(ds, cfg, grid, pool, min_trades=1)
    finally:
        pool.close()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        handle = make_executor(client=client)
        assert handle.description.startswith("dask")
        got = run_sweep(ds, cfg, grid, handle, min_trades=1)
    assert got.complete and got.done_tasks == got.total_tasks == 10
    assert sweep_table(got) == sweep_table(expected)
    assert any(r.metrics.trades > 0 for r in got.rows)
