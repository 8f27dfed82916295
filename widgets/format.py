"""Text formatting for the panes: prices, money, percentages, ET times, countdowns,
sparklines and gauges.

Why a module of its own: every pane formats the same kinds of numbers, and a
trader must read them the same way everywhere (a NaN is "—", money has a sign,
a countdown is m:ss). These helpers only format values the engine already
computed; nothing here derives an analytic.
"""
from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Optional, Sequence
from zoneinfo import ZoneInfo

from engine.model import NS_PER_S

MISSING = "—"
SPARK_CHARS = "▁▂▃▄▅▆▇█"


def is_num(x: Optional[float]) -> bool:
    return x is not None and not (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def price(x: Optional[float], decimals: int = 2, sep: bool = True) -> str:
    if not is_num(x):
        return MISSING
    return f"{x:,.{decimals}f}" if sep else f"{x:.{decimals}f}"


def signed(x: Optional[float], decimals: int = 2, suffix: str = "") -> str:
    return f"{x:+,.{decimals}f}{suffix}" if is_num(x) else MISSING


def pct(x: Optional[float], decimals: int = 2, sign: bool = True) -> str:
    if not is_num(x):
        return MISSING
    return f"{x:+.{decimals}f}%" if sign else f"{x:.{decimals}f}%"


def money(x: Optional[float], sign: bool = False) -> str:
    if not is_num(x):
        return MISSING
    return f"{x:+,.2f}" if sign else f"{x:,.2f}"


def num(x: Optional[float], decimals: int = 2) -> str:
    return f"{x:.{decimals}f}" if is_num(x) else MISSING


def compact(x: Optional[float]) -> str:
    """Volumes and CVD: 1.2M, -340k, 950."""
    if not is_num(x):
        return MISSING
    a = abs(x)
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def et(ts_ns: Optional[int], fmt: str = "%H:%M:%S", tz: str = "America/New_York") -> str:
    if not ts_ns:
        return MISSING
    return datetime.fromtimestamp(ts_ns / NS_PER_S, _zone(tz)).strftime(fmt)


def duration(seconds: Optional[float]) -> str:
    """A countdown a trader reads at a glance: 45s, 3:07, 1h 05m, 2d 03h."""
    if seconds is None or not is_num(float(seconds)):
        return MISSING
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}:{s % 60:02d}"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600:02d}h"


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values drawn with block characters, scaled to their range."""
    vals = [v for v in values if is_num(v)][-width:] if width > 0 else []
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    if hi == lo:
        return SPARK_CHARS[len(SPARK_CHARS) // 2] * len(vals)
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[round((v - lo) / (hi - lo) * top)] for v in vals)


def gauge(value: Optional[float], width: int, maximum: float = 100.0) -> str:
    """A horizontal bar for a bounded score: ``████████░░░░``."""
    if width <= 0:
        return ""
    if not is_num(value):
        return "░" * width
    filled = round(max(0.0, min(float(value), maximum)) / maximum * width)
    return "█" * filled + "░" * (width - filled)


def bar(fraction: float, width: int) -> str:
    """A histogram bar with eighth-block precision for the volume profile."""
    if width <= 0 or not is_num(fraction) or fraction <= 0:
        return ""
    eighths = round(min(fraction, 1.0) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (" ▏▎▍▌▋▊▉"[rest] if rest else "")
