"""Flatten-all and cancel-all while absurd prints arrive (issue 12 item 2).

    .venv/bin/python benchmarks/bench_bad_prints.py [--trades N] [--band-pct P] [--json]

Replays a seeded random walk of SPY trades (one RTH session, paper broker, AUTO)
with a print at 1000x the price and one at 1e308 in it, at full speed. A second
thread stands in for the trader's keyboard: the moment the engine has counted a
bad print it sends FLATTEN ALL (then CANCEL ALL) to the engine's loop, as the UI
would, and times each until it has returned. A heartbeat task on the loop
records the longest stall of the loop over the whole run (the worst wait any
command could see). Prints one line per figure (or one JSON object).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.factory import build_engine  # noqa: E402
from engine.model import OrderRequest, Side  # noqa: E402
from tests.factories import engine_config, utc_ns  # noqa: E402


def write_trades(path: Path, n: int, seed: int = 12) -> tuple[int, int]:
    """``n`` SPY prints from 09:30 ET with a 1000x print at a third and a 1e308 print
    at two thirds; returns their timestamps."""
    rng = np.random.default_rng(seed)
    ts = utc_ns(2024, 1, 10, 14, 30) + np.cumsum(rng.integers(1, int(23_400e9 / n), n))
    px = np.round(470.0 + np.cumsum(rng.normal(0, 0.03, n)), 2)
    size = rng.integers(1, 500, n)
    side = rng.choice([-1, 1], n)
    rows = [f"{t},{p:.2f},{s},{d}" for t, p, s, d in zip(ts.tolist(), px.tolist(), size.tolist(), side.tolist())]
    bad = []
    for k, price in ((n // 3, None), (2 * n // 3, "1e308")):
        t = int(ts[k]) + 1
        rows.insert(k + 1 + len(bad), f"{t},{price or f'{px[k] * 1000:.2f}'},100,1")
        bad.append(t)
    path.write_text("ts_ns,price,size,side\n" + "\n".join(rows) + "\n")
    return bad[0], bad[1]


async def run(path: Path, band_pct: float) -> dict:
    cfg = engine_config("AUTO", app={"symbols": ["SPY"]}, feed={"kind": "replay", "file": str(path), "speed": 0},
                        data={"price_band_pct": band_pct})
    engine = build_engine(cfg, use_store=False)
    loop = asyncio.get_running_loop()
    stall = {"max_s": 0.0}
    done = asyncio.Event()

    async def heartbeat():
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stall["max_s"] = max(stall["max_s"], now - last - 0.001)
            last = now

    commands: list[dict] = []

    def open_bracket(k: int) -> None:
        """A 100-share bracket (it fills on the next trade), so there is something to flatten and cancel."""
        while not engine.analytics["SPY"].last > 0:
            time.sleep(0.0005)
        px = engine.analytics["SPY"].last
        req = OrderRequest(f"bench-{k}", "SPY", Side.BUY, 100, take_profit=round(px * 1.2, 2),
                           stop_loss=round(px * 0.8, 2))
        asyncio.run_coroutine_threadsafe(engine.broker.submit(req), loop).result(timeout=600)

    def keyboard():
        """Opens a bracket, waits for each bad print to be counted, then sends FLATTEN ALL
        and CANCEL ALL (and opens the next bracket)."""
        seen = 0
        open_bracket(seen)
        while seen < 2 and not done.is_set():
            n = engine.counters["bad_prints"]
            if n <= seen:
                time.sleep(0.0005)
                continue
            seen = n
            for name, call in (("flatten_all", engine.flatten_all), ("cancel_all", engine.cancel_all)):
                positions = sum(1 for p in engine.broker.positions() if p.qty)
                t0 = time.perf_counter()
                asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=600)
                commands.append({"after_bad_print": seen, "command": name, "ms": (time.perf_counter() - t0) * 1e3,
                                 "open_positions_before": positions,
                                 "open_orders_before": len(engine.broker.open_orders())})
            open_bracket(seen)

    await engine.start()
    hb = asyncio.create_task(heartbeat())
    kb = threading.Thread(target=keyboard, daemon=True)
    t0 = time.perf_counter()
    kb.start()
    await engine.wait_done()
    wall = time.perf_counter() - t0
    await asyncio.to_thread(kb.join, 5.0)
    done.set()
    await hb
    await engine.tick()
    await engine.stop()
    s = engine.summary()
    return {"band_pct": band_pct, "run_s": round(wall, 3), "bad_prints": engine.counters["bad_prints"],
            "malformed": s["malformed"], "fills": s["fills"], "feed_failed": any("feed failed" in j.message
                                                                                  for j in engine.journal),
            "max_loop_stall_ms": round(stall["max_s"] * 1e3, 2),
            "commands": [{**c, "ms": round(c["ms"], 2)} for c in commands]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trades", type=int, default=100_000)
    ap.add_argument("--band-pct", type=float, action="append", help="price band(s) to run (default 50 and 0 = off)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spy_bad_prints.csv"
        write_trades(path, args.trades)
        for band in args.band_pct or [50.0, 0.0]:
            out.append(asyncio.run(run(path, band)))
    if args.json:
        print(json.dumps(out))
        return 0
    for r in out:
        print(f"band {r['band_pct']:g}%: {args.trades:,} trades + 1000x + 1e308 in {r['run_s']:.2f} s; "
              f"bad prints {r['bad_prints']}, feed failed: {r['feed_failed']}, fills {r['fills']}, "
              f"longest loop stall {r['max_loop_stall_ms']:.1f} ms")
        for c in r["commands"]:
            print(f"  after bad print {c['after_bad_print']}: {c['command']:<11} answered in {c['ms']:7.2f} ms "
                  f"({c['open_positions_before']} positions, {c['open_orders_before']} open orders before)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
