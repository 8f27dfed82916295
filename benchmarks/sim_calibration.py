"""The simulator's one-minute returns next to real ones (issue 16, "numbers you can believe").

    .venv/bin/python benchmarks/sim_calibration.py [--days 60] [--seed 7] [--symbols SPY,QQQ,TSLA]
                                                   [--sma] [--json]

Columns: the shared real bar files (../shared/data: BTCUSDT perpetual, January 2022,
and CME 6EH4, January 2024; 24-hour markets, so their volume curve is by UTC hour
(BTC) or by hour of the 17:00 Chicago session (6E), not the stock session's
U-shape), then ``--days`` chained simulated NYSE sessions per symbol, as the
backtester makes them (``synthetic:SYM:DAYS:SEED``, bars-only, 12,000 prints a day).
Rows: engine/analytics/return_stats.py (definitions there). ``--sma`` also runs the
sma_cross baseline (``cockpit backtest --setup sma_cross --path arrays``) on both real
files and on a synthetic year of each symbol, and prints its Sharpe, trades and win
rate: a calibrated simulator gives a Sharpe in the range of the real files, not ten
times it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
NS_PER_HOUR = 3_600_000_000_000

# (label, file, session for the backtester, day offset for the volume curve, bucket minutes)
REAL = [
    ("BTC 2022-01", "btcusdt_perp_202201_bars_1m.csv", "24h_utc", 0, 60),
    ("6E 2024-01", "6eh4_202401_bars_1m.csv.gz", "24h_chicago", 1 * NS_PER_HOUR, 60),  # 17:00 CT = 23:00 UTC
]
SYNTH_BUCKET_MIN = 30


def real_stats():
    from engine.analytics.return_stats import bar_stats
    from engine.feeds.loaders import load_bars

    out = {}
    for label, name, _, offset, bucket in REAL:
        path = DATA / name
        if not path.exists():
            continue
        b = load_bars(path)
        out[label] = bar_stats(b.ts_ns, b.close, b.volume, bucket, offset)
    return out


def synthetic_stats(symbols, days: int, seed: int):
    from engine.analytics.return_stats import bar_stats
    from engine.backtest.data import synthetic_bars

    out = {}
    for sym in symbols:
        b = synthetic_bars(sym, days, seed, cache=False)
        out[f"sim {sym}"] = bar_stats(b.ts_ns, b.close, b.volume, SYNTH_BUCKET_MIN)
    return out


def _fmt(v, spec="{:.2f}") -> str:
    return "-" if v is None or not np.isfinite(v) else spec.format(v)


ROWS = [
    ("1-min returns", lambda s: f"{s.returns:,}"),
    ("std of r (bp)", lambda s: _fmt(s.std_bps)),
    ("excess kurtosis", lambda s: _fmt(s.excess_kurtosis, "{:.1f}")),
    ("acf r lag 1", lambda s: _fmt(s.acf_r1, "{:+.3f}")),
    ("acf |r| lag 1", lambda s: _fmt(s.acf_abs[0], "{:.3f}")),
    ("acf |r| lag 2", lambda s: _fmt(s.acf_abs[1], "{:.3f}")),
    ("acf |r| lag 5", lambda s: _fmt(s.acf_abs[4], "{:.3f}")),
    ("acf |r| lag 10", lambda s: _fmt(s.acf_abs[9], "{:.3f}")),
    ("variance ratio 5", lambda s: _fmt(s.variance_ratio[5])),
    ("variance ratio 30", lambda s: _fmt(s.variance_ratio[30])),
    ("corr(volume, |r|)", lambda s: _fmt(s.volume_abs_corr)),
    ("volume first/median bucket", lambda s: _fmt(s.open_ratio)),
    ("volume last/median bucket", lambda s: _fmt(s.close_ratio)),
]


def table(stats: dict) -> str:
    names = list(stats)
    w0 = max(len(r[0]) for r in ROWS)
    ws = [max(len(n), 9) for n in names]
    lines = ["  ".join([" " * w0] + [n.rjust(w) for n, w in zip(names, ws)])]
    for label, f in ROWS:
        lines.append("  ".join([label.ljust(w0)] + [f(stats[n]).rjust(w) for n, w in zip(names, ws)]))
    return "\n".join(lines)


def sma_cross(data: str, session: str | None) -> dict:
    cmd = [sys.executable, "-m", "cockpit", "backtest", "--data", data, "--setup", "sma_cross", "--no-store",
           "--json", "--no-breakdown", "--path", "arrays"] + (["--session", session] if session else [])
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    m = res["metrics"]
    return {"sharpe": m.get("sharpe"), "trades": m.get("trades"), "win_rate": m.get("win_rate"),
            "return_pct": m.get("return_pct")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=60, help="simulated sessions per symbol (default 60)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--symbols", default="SPY,QQQ,TSLA")
    ap.add_argument("--sma", action="store_true", help="also the sma_cross baseline on the real files and a "
                                                       "synthetic year (252 sessions) of each symbol")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    stats = real_stats() | synthetic_stats(symbols, args.days, args.seed)
    sma = {}
    if args.sma:
        for label, name, session, _, _ in REAL:
            if (DATA / name).exists():
                sma[label] = sma_cross(str(DATA / name), session)
        for sym in symbols:
            sma[f"sim {sym}"] = sma_cross(f"synthetic:{sym}:252:{args.seed}", None)
    if args.json:
        print(json.dumps({"stats": {k: v.as_dict() for k, v in stats.items()}, "sma_cross": sma}, indent=2,
                         default=str))
        return 0
    print(f"one-minute bars: real files vs {args.days} simulated sessions (seed {args.seed})")
    print(table(stats))
    if sma:
        print("\nsma_cross baseline (cockpit backtest --setup sma_cross --path arrays; synthetic: 252 sessions)")
        for k, v in sma.items():
            print(f"  {k:14s} Sharpe {_fmt(v['sharpe']):>7s}  trades {v['trades']:>5}  "
                  f"win rate {_fmt(v['win_rate'], '{:.1f}')}%  return {_fmt(v['return_pct'], '{:+.2f}')}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
