"""Behaviour fingerprint: one hash per run of trades, equity and summary.

    .venv/bin/python benchmarks/parity_hash.py [--json]

A refactor that must not change behaviour prints the same hashes before and
after. The runs cover the bar path (sma_cross over a month of real BTC bars),
the trade path with the engine's minute ticks (auction over a day of real BTC
trades), four setup mixes on simulated sessions, and the asyncio Engine end to
end (the headless seed-7 session: what ``cockpit run --headless`` prints).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

RUNS = [
    # (name, data, setup, session, needs)
    ("sma_cross btc bars", [str(DATA / "btcusdt_perp_202201_bars_1m.csv")], "sma_cross", "24h_utc", "setups"),
    ("auction btc trades", [str(DATA / "btcusdt_perp_20240808_trades.csv")], "auction", "24h_utc", None),
    ("auction synthetic", ["synthetic:SPY,QQQ:20:7"], "auction", None, "setups"),
    ("trend+mr synthetic", ["synthetic:SPY,QQQ:20:7"], "trend_model,mean_reversion", None, "setups"),
    ("all four synthetic", ["synthetic:SPY,AAPL:15:11"], "auction,trend_model,mean_reversion,sma_cross", None, None),
    ("auction all analytics", ["synthetic:TSLA:10:3"], "auction", None, None),
]


# figures about the recording, not the trading: left out so the hashes compare trading results
NOT_TRADING = ("rows_not_recorded",)


def _trading(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in NOT_TRADING}


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def backtest_hash(data, setup, session, needs) -> tuple[str, int]:
    from engine.backtest.data import load_dataset
    from engine.backtest.runner import SETUP_NEEDS, backtest_config, run_backtest

    ds = load_dataset(data, None, None, None, False, None)
    cfg = backtest_config(None, ds.symbols, setup=setup, session=session)
    res = run_backtest(cfg, ds, needs=SETUP_NEEDS if needs == "setups" else needs)
    body = {"trades": [t.as_dict() for t in res.trades], "equity": [round(e, 6) for e in res.equity],
            "equity_ts": res.equity_ts, "daily": res.daily, "summary": _trading(res.summary), "bars": res.bars}
    return _digest(body), len(res.trades)


def headless_hash(seed: int) -> tuple[str, int]:
    cmd = [sys.executable, "-m", "cockpit", "run", "--headless", "--feed", "synthetic", "--speed", "max",
           "--mode", "auto", "--seed", str(seed), "--json", "--no-store"]
    summary = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    return _digest(_trading(summary)), summary.get("fills", 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = {}
    for name, data, setup, session, needs in RUNS:
        t0 = time.perf_counter()
        h, n = backtest_hash(data, setup, session, needs)
        out[name] = {"hash": h, "trades": n, "s": round(time.perf_counter() - t0, 2)}
        if not args.json:
            print(f"{name:24s} {h}  trades {n:6d}  {out[name]['s']:6.2f} s", flush=True)
    t0 = time.perf_counter()
    h, n = headless_hash(7)
    out["headless seed 7"] = {"hash": h, "fills": n, "s": round(time.perf_counter() - t0, 2)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{'headless seed 7':24s} {h}  fills  {n:6d}  {out['headless seed 7']['s']:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
