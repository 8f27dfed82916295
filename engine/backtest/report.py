"""Showing results: a rich table of the section 12 metrics, an equity curve with
its drawdown drawn in the terminal, and a chart file a person can open
(``.html``: a self-contained SVG page, no dependency; ``.png`` when matplotlib
is installed). Also the trades CSV export.

engine/ must not import the UI; rich is a plain rendering library, used here
only to build renderables the CLI prints.
"""
from __future__ import annotations

import csv
import html
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..config import ConfigError
from . import metrics as M

BLOCKS = " ▁▂▃▄▅▆▇█"


def metrics_table(m: M.Metrics, title: str = "Backtest"):
    from rich.table import Table

    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("Metric")
    t.add_column("Value", justify="right")
    d = m.as_dict()
    for key, label, spec in M.METRIC_LABELS:
        t.add_row(label, M.fmt(getattr(m, key), spec) if key in d else "-")
    return t


def _resample(values: Sequence[float], width: int, reduce=None) -> np.ndarray:
    """``width`` points of ``values``: evenly picked, or with ``reduce`` (np.min) one
    per bucket of consecutive values, so an extreme between picks is not lost."""
    v = np.asarray(values, dtype=float)
    if v.size <= width:
        return v
    if reduce is not None:
        return np.array([reduce(chunk) for chunk in np.array_split(v, width)])
    idx = np.linspace(0, v.size - 1, width).astype(int)
    return v[idx]


def text_chart(values: Sequence[float], width: int = 60, height: int = 10, fmt: str = "{:,.0f}",
               reduce=None) -> list[str]:
    """A filled area chart of ``values`` in block characters, with min/max labels."""
    v = _resample(values, width, reduce)
    if v.size == 0:
        return ["(no data)"]
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    span = hi - lo or 1.0
    levels = (v - lo) / span * height * 8  # eighths of a row
    rows = []
    for r in range(height - 1, -1, -1):
        line = []
        for x in levels:
            fill = x - r * 8
            line.append(BLOCKS[8] if fill >= 8 else BLOCKS[max(0, int(fill))] if fill > 0 else " ")
        label = fmt.format(hi) if r == height - 1 else fmt.format(lo) if r == 0 else ""
        rows.append(f"{label:>12} │" + "".join(line))
    return rows


def equity_text(ts: Sequence[int], equity: Sequence[float], width: int = 60) -> str:
    if not len(equity):
        return "(no equity samples)"
    eq = np.asarray(equity, dtype=float)
    dd = M.drawdown_series(eq)
    lines = ["Equity"]
    lines += text_chart(eq, width, 10)
    lines.append("Drawdown % (0 at the top)")
    depth = -dd  # >= 0
    # each column the deepest point of its stretch: the axis reaches the reported max drawdown
    lines += text_chart(-depth, width, 4, "{:.2f}", reduce=np.min)
    if len(ts):
        a, b = _iso(ts[0]), _iso(ts[-1])
        lines.append(" " * 14 + a + " " * max(1, width - len(a) - len(b)) + b)
    return "\n".join(lines)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- chart files


def _polyline(xs: np.ndarray, ys: np.ndarray, x0: float, y0: float, w: float, h: float) -> str:
    if xs.size == 0:
        return ""
    xr = (xs.max() - xs.min()) or 1.0
    lo, hi = float(ys.min()), float(ys.max())
    yr = (hi - lo) or 1.0
    px = x0 + (xs - xs.min()) / xr * w
    py = y0 + h - (ys - lo) / yr * h
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py))


def svg_chart(ts: Sequence[int], equity: Sequence[float], title: str = "Equity") -> str:
    t = np.asarray(ts, dtype=float)
    eq = np.asarray(equity, dtype=float)
    if eq.size > 4000:
        idx = np.linspace(0, eq.size - 1, 4000).astype(int)
        t, eq = t[idx], eq[idx]
    dd = M.drawdown_series(eq)
    W, H = 960, 560
    pad = 70
    eq_h, dd_h = 300, 130
    eq_line = _polyline(t, eq, pad, 50, W - pad - 20, eq_h)
    dd_line = _polyline(t, dd, pad, 50 + eq_h + 50, W - pad - 20, dd_h)
    lo, hi = (float(eq.min()), float(eq.max())) if eq.size else (0, 0)
    dmin = float(dd.min()) if dd.size else 0.0
    start = _iso(int(t[0])) if t.size else ""
    end = _iso(int(t[-1])) if t.size else ""
    e = html.escape
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="30" font-size="16" font-weight="bold">{e(title)}</text>
<rect x="{pad}" y="50" width="{W - pad - 20}" height="{eq_h}" fill="none" stroke="#ccc"/>
<text x="{pad - 5}" y="58" text-anchor="end">{hi:,.0f}</text>
<text x="{pad - 5}" y="{50 + eq_h}" text-anchor="end">{lo:,.0f}</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{eq_line}"/>
<text x="{pad}" y="{50 + eq_h + 40}" font-weight="bold">Drawdown %</text>
<rect x="{pad}" y="{50 + eq_h + 50}" width="{W - pad - 20}" height="{dd_h}" fill="none" stroke="#ccc"/>
<text x="{pad - 5}" y="{50 + eq_h + 58}" text-anchor="end">0</text>
<text x="{pad - 5}" y="{50 + eq_h + 50 + dd_h}" text-anchor="end">{dmin:.2f}</text>
<polyline fill="none" stroke="#d62728" stroke-width="1.2" points="{dd_line}"/>
<text x="{pad}" y="{H - 10}">{e(start)}</text>
<text x="{W - 20}" y="{H - 10}" text-anchor="end">{e(end)}</text>
</svg>"""


def write_plot(path: str, ts: Sequence[int], equity: Sequence[float], title: str) -> str:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".html", ".htm", ".svg"):
        svg = svg_chart(ts, equity, title)
        text = svg if suffix == ".svg" else (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body>{svg}</body></html>")
        p.write_text(text)
        return str(p)
    if suffix == ".png":
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ConfigError(f"--plot {path}: .png needs the 'plot' extra (matplotlib): "
                              "pip install 'cockpit[plot]'; .html and .svg work with no extra package") from None
        t = [datetime.fromtimestamp(x / 1e9, tz=timezone.utc) for x in ts]
        eq = np.asarray(equity, dtype=float)
        fig, (a, b) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        a.plot(t, eq)
        a.set_title(title)
        a.set_ylabel("equity")
        b.fill_between(t, M.drawdown_series(eq), 0, color="tab:red", alpha=0.5)
        b.set_ylabel("drawdown %")
        fig.tight_layout()
        fig.savefig(p)
        plt.close(fig)
        return str(p)
    raise ConfigError(f"--plot {path}: use a .html or .svg (no dependency) or .png (the 'plot' extra: "
                      "pip install 'cockpit[plot]') file name")


def export_trades(path: str, trades: Sequence[M.TradeRecord]) -> str:
    """Every trade as a CSV row; a run with an execution map adds the index the setup
    read, the entry and exit in its terms and r (a run without one keeps its columns)."""
    cols = ["symbol", "setup", "side", "qty", "entry_time", "entry_price", "exit_time", "exit_price",
            "exit_leg", "pnl", "commission", "risk_usd", "r", "hold_min"]
    mapped = any(t.index_symbol for t in trades)
    if mapped:
        cols += ["index_symbol", "index_entry_price", "index_exit_price", "map_ratio"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for t in trades:
            r = t.r
            row = [t.symbol, t.setup, t.side, t.qty, _iso_s(t.entry_ns), f"{t.entry_price:.6g}",
                   _iso_s(t.exit_ns), f"{t.exit_price:.6g}", t.exit_leg, f"{t.pnl:.2f}", f"{t.commission:.2f}",
                   f"{t.risk_usd:.2f}", "" if math.isnan(r) else f"{r:.4f}", f"{t.hold_min:.1f}"]
            if mapped:
                row += [t.index_symbol, *("" if math.isnan(x) else f"{x:.6g}"
                                          for x in (t.index_entry_price, t.index_exit_price, t.map_ratio))]
            w.writerow(row)
    return path


def mapped_trades_text(execution_map: dict, trades: Sequence[M.TradeRecord], show: int = 5) -> str:
    """A mapped run's trades in a few lines: where they went and the index's prices beside
    the proxy's (all of them with --json or --export)."""
    pairs = ", ".join(f"{k} -> {p}" for k, p in execution_map.items())
    by_symbol = sorted({t.symbol for t in trades})
    lines = [f"execution map {pairs}: {len(trades)} trades on {', '.join(by_symbol) or 'no symbol'}"
             + (f"; the last {min(show, len(trades))} (all with --json / --export):" if trades else "")]
    for t in trades[-show:]:
        index = (f"  = {t.index_symbol} {t.index_entry_price:.2f} -> {t.index_exit_price:.2f} at r {t.map_ratio:.6f}"
                 if t.index_symbol else "")
        lines.append(f"  {_iso_s(t.entry_ns)} {t.setup} {t.side} {t.qty} {t.symbol} "
                     f"{t.entry_price:.2f} -> {t.exit_price:.2f}{index}")
    return "\n".join(lines)


def _iso_s(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Column:
    """One column of a fitted table: its cells are already formatted text."""

    header: str  # "\n" splits it over lines (narrow columns, long names)
    cells: list[str]
    justify: str = "right"
    drop: int = 0  # 0: always shown; otherwise, on a narrow terminal the highest is left out first
    wrap: bool = False  # long text (data, parameters): folds over lines instead of setting the width


WRAP_MIN = 12  # a wrapping column is never narrower than this


def fitted_table(title: str, columns: list[Column], width: Optional[int] = None, bold_rows: Sequence[int] = ()):
    """A compact rich table whose cells are never cut: each column is as wide as its
    widest cell or header line, and when the whole does not fit ``width`` (a trader's
    80-column SSH window) the droppable columns are left out, highest ``drop`` first,
    and named in a line under it, rather than every value ending in "…"."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    shown = list(columns)
    hidden: list[str] = []

    def build(wrap_width: int) -> Table:
        t = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False,
                  title_justify="left")
        for c in shown:
            w = max([len(x) for x in c.header.split("\n")] + [len(x) for x in c.cells])
            if c.wrap:
                t.add_column(c.header, justify=c.justify, overflow="fold", max_width=min(w, wrap_width))
            else:
                t.add_column(c.header, justify=c.justify, no_wrap=True, min_width=w)
        for i in range(max((len(c.cells) for c in shown), default=0)):
            t.add_row(*(c.cells[i] for c in shown), style="bold" if i in bold_rows else None)
        return t

    if width is None:
        return build(10_000)
    measure = Console(width=100_000)
    table = build(WRAP_MIN)
    while measure.measure(table).maximum > width and any(c.drop for c in shown):
        worst = max(shown, key=lambda c: c.drop)
        shown.remove(worst)
        hidden.insert(0, worst.header.replace("\n", " "))
        table = build(WRAP_MIN)
    wraps = sum(c.wrap for c in shown)
    if wraps:  # the room left goes to the columns that may wrap
        spare = width - measure.measure(table).maximum
        table = build(WRAP_MIN + max(0, spare) // wraps)
    if not hidden:
        return table
    from rich.console import Group
    from rich.text import Text

    return Group(table, Text("hidden for this width: " + ", ".join(hidden) + " (widen the terminal to see them)",
                             style="dim"))


def sweep_table(rows, objective: str, limit: Optional[int] = None, min_trades: int = 0,
                keys: Optional[Sequence[str]] = None, base_values: Optional[dict] = None,
                width: Optional[int] = None):
    """The ranked sweep: one column per grid key (so each combination's values line
    up), the section 12 figures, and the two acceptance flags. The baseline row
    shows its own values when ``base_values`` are given."""
    shown = rows if limit is None else rows[:limit]
    if keys is None:
        keys = list(dict.fromkeys(k for r in shown for k in r.combo))
    from .sweep import OBJECTIVES

    base_values = base_values or {}
    ranked_by = OBJECTIVES.get(objective)  # the metric the rows are ranked by is never hidden
    cols = [Column("#", [])] + [Column(k.replace("_", "\n"), []) for k in keys]
    metrics = [("trades", "trades", None, 0), ("win\n%", "win_rate", "{:.1f}", 6), ("exp\nR", "expectancy_r", "{:.3f}", 5),
               ("PF", "profit_factor", "{:.2f}", 3), ("Sharpe", "sharpe", "{:.2f}", 2),
               ("max\nDD %", "max_drawdown_pct", "{:.2f}", 1), ("net $", "net_pnl", "{:,.0f}", 4)]
    for header, attr, spec, drop in metrics:
        cols.append(Column(header, [], drop=0 if attr == ranked_by else drop))
    cols += [Column("PF\nok", [], "center"), Column("SR\nok", [], "center")]
    bold = []
    for k, r in enumerate(shown, 1):
        m = r.metrics
        base = r.index == -1
        if base:
            bold.append(k - 1)
        values = base_values if base else r.combo
        cells = ["base" if base else str(k)] + [_fmt_value(values.get(key)) for key in keys]
        cells += [str(m.trades) if attr == "trades" else M.fmt(getattr(m, attr), spec) for _, attr, spec, _ in metrics]
        cells += ["-" if base else ("✓" if r.pf_ok else "✗"), "-" if base else ("✓" if r.sharpe_ok else "✗")]
        for c, text in zip(cols, cells):
            c.cells.append(text)
    title = (f"Sweep ranked by {objective}. PF ok: profit factor above the baseline's with >= {min_trades} trades; "
             "SR ok: Sharpe above the baseline's, drawdown at most 2x")
    return fitted_table(title, cols, width, bold_rows=bold)


def _fmt_value(v) -> str:
    """A grid value in a table cell: the grid's own spelling, floats without a trailing .0."""
    from .grid import _fmt

    if v is None:
        return ""
    return f"{v:g}" if isinstance(v, float) else _fmt(v)
