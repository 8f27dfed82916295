"""Issue 13: the bench's vectorbt peer (benchmarks/vectorbt_peer.py) trades the
strategy our sma_cross trades. Its signals are plain numpy and pandas, checked here
against ``sma_cross_array_signals`` on hand-built series whose sums are exact (so
pandas' rolling mean and our left-to-right window sums give the same doubles);
its vectorbt run is checked only where an interpreter with vectorbt is found
(this one, or the one ``VECTORBT_PYTHON`` names): vectorbt is not in the test
extra, so CI skips that test."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.vectorbt_peer import next_open_orders, sma_cross_signals
from engine.config import StrategyParams
from engine.strategy.sma_cross import sma_cross_array_signals

PEER = Path(__file__).resolve().parents[1] / "benchmarks" / "vectorbt_peer.py"


def wave() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open, high, low, close): whole-number closes swinging around 100, so the
    close crosses its SMA(20) both ways several times, with flat stretches where it
    touches the mean without crossing."""
    c = np.round(100 + 6 * np.sin(np.arange(170) / 5.0) + 2 * np.sin(np.arange(170) / 1.7))
    c[60:90] = 100.0  # equal to its mean once the window is flat: touching is not a cross...
    c[90] = 103.0  # ...so leaving it upward is not one either (previous close == previous SMA)
    c[110:135] = 100.0
    c[135] = 96.0  # nor downward
    o = np.concatenate(([c[0]], c[:-1]))
    return o, np.maximum(o, c) + 1, np.minimum(o, c) - 1, c


def quarter_walk() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded walk in steps of 0.25 with gaps and wicks, every price a multiple of 0.25."""
    rng = np.random.default_rng(13)
    c = 100 + np.cumsum(rng.integers(-4, 5, 400)) * 0.25
    o = np.concatenate(([c[0]], c[:-1])) + rng.integers(-1, 2, 400) * 0.25
    h = np.maximum(o, c) + rng.integers(0, 4, 400) * 0.25
    lo = np.minimum(o, c) - rng.integers(0, 4, 400) * 0.25
    return o, h, lo, c


@pytest.mark.parametrize("series", [wave, quarter_walk])
def test_the_peer_signals_are_ours(series):
    o, h, lo, c = series()
    peer = sma_cross_signals(h, lo, c)
    ours = sma_cross_array_signals({"open": o, "high": h, "low": lo, "close": c, "volume": np.ones_like(c)},
                                   StrategyParams())
    assert {1, -1} <= set(peer["side"].tolist())  # both sides drawn
    assert peer["index"].tolist() == ours.index.tolist()
    assert peer["side"].tolist() == ours.side.tolist()
    for name in ("entry", "stop", "target"):
        assert peer[name].tolist() == getattr(ours, name).tolist(), name


def test_orders_enter_at_the_next_open_with_the_signal_levels():
    o, h, lo, c = quarter_walk()
    sig = sma_cross_signals(h, lo, c)
    orders = next_open_orders(o, sig)
    at = sig["index"] + 1
    assert at[-1] < len(o)
    assert np.flatnonzero(orders["entries"]).tolist() == at[sig["side"] > 0].tolist()
    assert np.flatnonzero(orders["short_entries"]).tolist() == at[sig["side"] < 0].tolist()
    side = sig["side"].astype(float)
    stop = o[at] * (1 - side * orders["sl_stop"][at])  # vectorbt's level from the fill price
    target = o[at] * (1 + side * orders["tp_stop"][at])
    through = side * (o[at] - sig["stop"]) <= 0  # opened through the stop: fraction 0, the open itself
    assert np.allclose(stop[~through], sig["stop"][~through], rtol=1e-12, atol=0)
    assert (orders["sl_stop"][at][through] == 0).all()
    assert np.allclose(target, sig["target"], rtol=1e-12, atol=0)
    assert np.isnan(np.delete(orders["sl_stop"], at)).all()


def test_a_signal_on_the_last_bar_has_no_order():
    o, h, lo, c = wave()
    sig = sma_cross_signals(h, lo, c)
    last = int(sig["index"][2])
    orders = next_open_orders(o[: last + 1], {k: v[:3] for k, v in sig.items()})
    assert orders["entries"].sum() + orders["short_entries"].sum() == 2


def vectorbt_interpreter() -> str | None:
    if importlib.util.find_spec("vectorbt") is not None:
        return sys.executable
    return os.environ.get("VECTORBT_PYTHON") or None


RUN_ONE = r"""
import json, sys
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from vectorbt_peer import portfolio
c = [100.0] * 20 + [99.0, 101.0, 102.0, 103.0, 104.0, 110.0, 111.0, 111.0]
o = [c[0]] + c[:-1]
df = pd.DataFrame({"open": o, "high": [max(a, b) + 1 for a, b in zip(o, c)],
                   "low": [min(a, b) - 1 for a, b in zip(o, c)], "close": c, "volume": 1.0},
                  index=pd.date_range("2024-01-02 14:30", periods=len(c), freq="min"))
t = portfolio(df).trades.records
print(json.dumps({k: t[k].tolist() for k in ("entry_idx", "entry_price", "exit_idx", "exit_price", "size", "direction")}))
"""


def test_vectorbt_runs_the_bracket_from_the_next_open():
    """One long: the cross on bar 21 (close 101 over its SMA), entry at bar 22's open
    (101), target 3 ATR above the signal's close reached by bar 25's high and filled
    at the target level."""
    py = vectorbt_interpreter()
    if py is None:
        pytest.skip("no interpreter with vectorbt (set VECTORBT_PYTHON)")
    out = subprocess.run([py, "-c", RUN_ONE, str(PEER.parent)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    t = json.loads(out.stdout)
    c = [100.0] * 20 + [99.0, 101.0, 102.0, 103.0, 104.0, 110.0, 111.0, 111.0]
    o = [c[0]] + c[:-1]
    h = np.array([max(a, b) + 1 for a, b in zip(o, c)])
    lo = np.array([min(a, b) - 1 for a, b in zip(o, c)])
    sig = sma_cross_signals(h, lo, np.array(c))
    assert sig["index"][0] == 21 and sig["side"][0] == 1
    assert t["entry_idx"][0] == 22 and t["entry_price"][0] == o[22] == 101.0
    assert t["size"][0] == 100 and t["direction"][0] == 0  # long
    assert t["exit_idx"][0] == 25
    assert t["exit_price"][0] == pytest.approx(sig["target"][0], rel=1e-12)
