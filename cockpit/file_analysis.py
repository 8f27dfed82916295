"""What the engine sees in a data file (``cockpit analyze`` prints it): the
last session's volume profile (POC, VAH, VAL, LVNs, HVNs), the market states
over time, and, where the file carries the true aggressor side, how well each
classification method recovers it. All figures come from the engine's numpy
path (engine.analytics.batch), the same definitions the live path uses.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from engine.analytics.batch import analyze_bars_arrays, analyze_trades_arrays, session_profile_from_arrays
from engine.analytics.flow import bvc_split, lee_ready, tick_rule
from engine.analytics.profile import resolve_bin_size, stats_from_ranges
from engine.analytics.session import SessionCalendar
from engine.config import StrategyParams
from engine.feeds.loaders import BarsArrays, TradesArrays, load
from engine.model import NS_PER_MIN

STATE_NAMES = {0: "BALANCE", 1: "IMBALANCE_UP", -1: "IMBALANCE_DOWN"}


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def guess_session(ts_ns: np.ndarray) -> str:
    """us_equity if most of the data falls in NYSE regular hours, else a 24-hour session."""
    cal = SessionCalendar("us_equity")
    sample = ts_ns[:: max(1, ts_ns.size // 200)]
    inside = sum(cal.in_rth(int(t)) for t in sample)
    return "us_equity" if inside >= 0.5 * sample.size else "24h_utc"


def classification_accuracy(data: TradesArrays) -> dict:
    """Accuracy of the tick rule and Lee-Ready against the file's true aggressor side,
    by trades and by volume, plus bulk volume classification on 1-minute bars."""
    known = data.side != 0
    if not known.any():
        return {}
    truth = data.side[known]
    size = data.size[known]
    out = {"trades_with_true_side": int(known.sum())}

    def score(pred: np.ndarray) -> dict:
        hit = pred[known] == truth
        return {"by_trades": round(float(hit.mean()), 4), "by_volume": round(float(size[hit].sum() / size.sum()), 4)}

    out["tick_rule"] = score(tick_rule(data.price))
    if np.isfinite(data.bid).any() and np.isfinite(data.ask).any():
        out["lee_ready"] = score(lee_ready(data.price, data.bid, data.ask))
    # BVC on 1-minute bars built from the trades vs the true buy volume of each bar
    minute = data.ts_ns - data.ts_ns % NS_PER_MIN
    starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    ends = np.r_[starts[1:], minute.size] - 1
    closes = data.price[ends]
    vol = np.add.reduceat(data.size, starts)
    true_buy = np.add.reduceat(np.where(data.side > 0, data.size, 0.0), starts)
    buy, _ = bvc_split(closes, vol, 60)
    err = np.abs(buy - true_buy) / vol
    out["bvc_1m"] = {
        "bars": int(vol.size),
        "mean_abs_error_of_buy_fraction": round(float(err.mean()), 4),
        "total_buy_fraction_bvc": round(float(buy.sum() / vol.sum()), 4),
        "total_buy_fraction_true": round(float(true_buy.sum() / vol.sum()), 4),
    }
    return out


def _state_runs(cols: dict, limit: int = 40) -> list[dict]:
    runs = []
    st, ts = cols["state"], cols["ts"]
    start = 0
    for i in range(1, st.size + 1):
        if i == st.size or st[i] != st[start]:
            runs.append({"from": _iso(int(ts[start])), "to": _iso(int(ts[i - 1]) + NS_PER_MIN),
                         "state": STATE_NAMES[int(st[start])], "bars": i - start})
            start = i
    return runs[-limit:]


def _profile_dict(p) -> dict:
    if p is None:
        return {}
    return {
        "bin_size": p.bin_size, "poc": p.poc, "vah": p.vah, "val": p.val, "total_volume": round(p.total_volume, 4),
        "value_area_volume": round(p.value_area_volume, 4),
        "lvns": [{"price": n.price, "volume": round(n.volume, 4)} for n in p.lvns],
        "hvns": [{"price": n.price, "volume": round(n.volume, 4)} for n in p.hvns],
    }


def analyze(path: str, session: str | None = None, bin_size: float | None = None) -> dict:
    data = load(path)  # a DataFileError names the file and the problem (no rows at all is one)
    session = session or guess_session(data.ts_ns)
    params = StrategyParams(bin_size=bin_size) if bin_size else StrategyParams()
    cal = SessionCalendar(session)
    result: dict = {"file": str(Path(path)), "kind": data.kind, "rows": len(data), "session": session,
                    "malformed_rows": data.malformed.count,
                    "malformed_examples": [{"line": ln, "reason": r} for ln, r in data.malformed.rows[:10]],
                    "malformed": [{"line": ln, "reason": r} for ln, r in data.malformed.rows],
                    "from": _iso(int(data.ts_ns[0])), "to": _iso(int(data.ts_ns[-1]))}
    if isinstance(data, TradesArrays):
        side = data.side if (data.side != 0).any() else None
        has_q = np.isfinite(data.bid).any()
        cols = analyze_trades_arrays(data.ts_ns, data.price, data.size, side,
                                     data.bid if has_q else None, data.ask if has_q else None, params, cal)
        prof = session_profile_from_arrays(data.ts_ns, data.price, data.size, params, cal)
        result["classification"] = classification_accuracy(data)
    else:
        assert isinstance(data, BarsArrays)
        cols = analyze_bars_arrays(data.ts_ns, data.open, data.high, data.low, data.close, data.volume, params, cal)
        # the last session's profile: each bar's volume spread over its range
        last = cols["session"] == cols["session"][-1]
        bs = resolve_bin_size(params, float(cols["open"][0]))
        prof = stats_from_ranges(cols["low"][last], cols["high"][last], cols["volume"][last], bs, params)
    result["bars"] = int(cols["ts"].size) if "ts" in cols else 0
    result["profile_last_session"] = _profile_dict(prof)
    if "state" in cols and cols["state"].size:
        counts = {STATE_NAMES[k]: int((cols["state"] == k).sum()) for k in (0, 1, -1)}
        result["state_minutes"] = counts
        result["state_runs"] = _state_runs(cols)
    return result
