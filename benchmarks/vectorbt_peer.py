"""sma_cross in vectorbt: a speed peer of the bench (benchmarks/bench_backtest.py --part sma).

    PYTHON benchmarks/vectorbt_peer.py CSV [--engine-rounds N]

PYTHON is any interpreter that can import vectorbt; the bench passes it with
``--vectorbt-python`` (vectorbt pulls numba, plotly and its own pandas needs,
which are kept out of the project's venv). This file imports nothing of the
project, so it runs in that other environment as it is; vectorbt is imported
only by ``run`` (the signal functions are plain numpy and pandas, and
tests/test_vectorbt_peer.py checks them against our sma_cross in our venv).

The strategy is the bench's backtesting.py script's (itself our sma_cross's
definition): SMA(20) of the closes (pandas' rolling mean, as that script), the
cross as ``backtesting.lib.crossover`` (previous close < previous SMA and close >
SMA; the mirror for a short), Wilder ATR(14), no signal before the ATR exists;
bracket from the signal bar's close, stop 1.5 ATR, target 3.0 ATR; one position
of 100 shares; no costs; a market entry at the next bar's open. It is run by
``Portfolio.from_signals``: the entries moved one bar later with ``price=open``,
and the bracket's levels given as fractions of that open (``sl_stop`` /
``tp_stop`` per entry bar, ``stop_entry_price="price"``), so the stop and target
sit at the signal's absolute levels; ``upon_opposite_entry="ignore"`` and no
accumulation, so a signal while a position is open is dropped, as ours drops it.

Where it differs from ours (a speed peer, not a parity check; the trade counts
and returns are printed beside each other, not compared):

- no sessions: ours hands the setup only in-session bars, goes flat 5 minutes
  before the close and enters only inside the trading window; here a position
  is held overnight and the signals of every bar count;
- vectorbt checks the stop and target from the bar after the entry; ours arms
  the stop on the entry bar itself (the target from the next bar);
- an entry whose open is already through its stop: ours is stopped at the
  entry price on that bar; here the stop fraction is 0 (vectorbt refuses a
  negative one) and the position is stopped at the next bar's open at the latest;
- the SMA is pandas' rolling mean (a running sum), ours sums each window left to
  right: a cross that grazes the mean can differ in the last bit;
- the last position stays open at the end (counted among the trades, valued
  at the last close); ours closes it at the last price.

Output: one JSON line: ``load_s`` (imports, CSV read), ``first_run_s`` (the
first run in this process: numba compiles vectorbt's simulator here, or loads
it from numba's cache on disk; vectorbt 1.2 caches none), with
``--engine-rounds N`` also ``run_s`` (the N runs after it), the CPU seconds of
each (``*_cpu_s``), ``trades`` and ``return_pct``. A run is everything after the
load: indicators, signals, ``from_signals``, the trade count and the return.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def sma(close: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average, NaN before the first full window (as the backtesting.py script)."""
    return pd.Series(close).rolling(n).mean().to_numpy()


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Wilder ATR: TR = max(high - low, |high - prev close|, |low - prev close|) (the first
    bar's TR = high - low); the first ATR, on bar n, the mean of the first n TRs, then
    (ATR_prev x (n - 1) + TR) / n. NaN before it (the backtesting.py script's loop)."""
    prev = np.concatenate(([np.nan], close[:-1]))
    tr = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))
    tr[0] = high[0] - low[0]
    out = np.full(tr.shape, np.nan)
    if len(tr) < n:
        return out
    a = tr[:n].mean()
    out[n - 1] = a
    trs = tr.tolist()
    vals = out.tolist()
    for i in range(n, len(trs)):
        a = (a * (n - 1) + trs[i]) / n
        vals[i] = a
    return np.asarray(vals)


def sma_cross_signals(high, low, close, sma_period: int = 20, atr_period: int = 14, atr_stop: float = 1.5,
                      atr_target: float = 3.0) -> dict[str, np.ndarray]:
    """The signals over whole arrays: ``index`` (the bar whose close crossed), ``side``
    (+1 long, -1 short), ``entry`` (that close), ``stop`` and ``target`` (absolute prices)."""
    h, lo, c = (np.asarray(x, dtype=float) for x in (high, low, close))
    mean = sma(c, sma_period)
    atr = wilder_atr(h, lo, c, atr_period)
    pc = np.concatenate(([np.nan], c[:-1]))
    pm = np.concatenate(([np.nan], mean[:-1]))
    with np.errstate(invalid="ignore"):
        up = (pc < pm) & (c > mean)
        down = (pc > pm) & (c < mean)
        idx = np.flatnonzero((up | down) & (atr > 0))
    side = np.where(up[idx], 1, -1).astype(np.int8)
    entry = c[idx]
    a = atr[idx]
    sign = side.astype(float)
    return {"index": idx.astype(np.int64), "side": side, "entry": entry,
            "stop": entry - sign * atr_stop * a, "target": entry + sign * atr_target * a}


def next_open_orders(open_: np.ndarray, sig: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``from_signals`` inputs: each signal's entry on the next bar (at its open, the
    ``price``), its stop and target as fractions of that open so that vectorbt puts
    them at the signal's absolute levels (clipped at 0 when the open is through one).
    A signal on the last bar has no next bar and is left out."""
    n = len(open_)
    keep = sig["index"] + 1 < n
    at = sig["index"][keep] + 1
    side = sig["side"][keep].astype(float)
    o = np.asarray(open_, dtype=float)[at]
    entries = np.zeros(n, dtype=bool)
    short_entries = np.zeros(n, dtype=bool)
    entries[at[side > 0]] = True
    short_entries[at[side < 0]] = True
    sl_stop = np.full(n, np.nan)
    tp_stop = np.full(n, np.nan)
    # long: stop = open x (1 - sl), target = open x (1 + tp); short: the mirror
    sl_stop[at] = np.maximum(side * (o - sig["stop"][keep]) / o, 0.0)
    tp_stop[at] = np.maximum(side * (sig["target"][keep] - o) / o, 0.0)
    return {"entries": entries, "short_entries": short_entries, "sl_stop": sl_stop, "tp_stop": tp_stop}


def load(path: str) -> pd.DataFrame:
    """The bench's CSV (timestamp in seconds, open, high, low, close, volume)."""
    df = pd.read_csv(path)
    df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp"), unit="s"))
    return df


def portfolio(df: pd.DataFrame, qty: float = 100, cash: float = 10_000_000):
    """The vectorbt ``Portfolio`` of one backtest over the frame's bars."""
    import vectorbt as vbt

    o, h, lo, c = (df[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close"))
    orders = next_open_orders(o, sma_cross_signals(h, lo, c))
    return vbt.Portfolio.from_signals(
        df["close"], entries=orders["entries"], short_entries=orders["short_entries"], price=o, open=o, high=h,
        low=lo, sl_stop=orders["sl_stop"], tp_stop=orders["tp_stop"], stop_entry_price="price",
        stop_exit_price="stoplimit", size=qty, size_type="amount", init_cash=cash, fees=0.0, slippage=0.0,
        accumulate=False, upon_opposite_entry="ignore")


def run(df: pd.DataFrame) -> tuple[int, float]:
    """One backtest: (trades, total return in %)."""
    pf = portfolio(df)
    return int(pf.trades.count()), float(pf.total_return()) * 100.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--engine-rounds", type=int, default=0, help="runs timed after the first (JIT) run")
    args = ap.parse_args()
    import vectorbt  # noqa: F401 - counted in the load, as backtesting.py's import is in its script's

    df = load(args.csv)
    t1, c1 = time.perf_counter(), time.process_time()
    trades, ret = run(df)
    t2, c2 = time.perf_counter(), time.process_time()
    out = {"load_s": round(t1 - T0, 3), "first_run_s": round(t2 - t1, 3), "first_run_cpu_s": round(c2 - c1, 3),
           "trades": trades, "return_pct": round(ret, 4)}
    if args.engine_rounds:
        times, cpus = [], []
        for _ in range(args.engine_rounds):
            t, c = time.perf_counter(), time.process_time()
            again = run(df)
            times.append(round(time.perf_counter() - t, 4))
            cpus.append(round(time.process_time() - c, 4))
            if again != (trades, ret):
                raise SystemExit(f"vectorbt gave {again} after {(trades, ret)} on the same data")
        out["run_s"] = times
        out["run_cpu_s"] = cpus
    print(json.dumps(out))


if __name__ == "__main__":
    main()
