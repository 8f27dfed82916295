"""``cockpit import csv FILE --symbol X``: a trades or 1-minute bars CSV (.gz ok)
into the store, through ``engine.feeds.loaders`` (the same reader the replay
feed uses, so both agree on what a malformed row is: each one is reported
with its line number)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional, Union

from ..model import NS_PER_MIN
from ..feeds.loaders import BarsArrays, DataFileError, TradesArrays, load
from . import ImportFailed, ImportReport, Progress, trades_to_candles, write_candles


async def import_csv(store, path: Union[str, Path], symbol: str, *, bin_size: Optional[float] = None,
                     progress: Optional[Progress] = None) -> ImportReport:
    """Import one file for one symbol. Trades become candles (classified, with
    volume at price); bars are stored as they are (flow unknown: NaN)."""
    symbol = (symbol or "").strip().upper()
    if not symbol:
        raise ImportFailed("import csv needs --symbol (the file does not say which instrument it holds)")
    try:
        data = load(path)
    except DataFileError as exc:
        raise ImportFailed(str(exc)) from None
    report = ImportReport(source=f"csv {Path(path).name}")
    for line, reason in data.malformed.rows:
        report.add_malformed(line, reason)
    # the loader counts every malformed row but keeps only the first ones' reasons
    report.malformed = data.malformed.count
    report.rows = len(data)
    if isinstance(data, TradesArrays):
        bars = trades_to_candles(symbol, data.ts_ns.tolist(), data.price.tolist(), data.size.tolist(),
                                 data.side.tolist(), data.bid.tolist(), data.ask.tolist(), bin_size)
    else:
        assert isinstance(data, BarsArrays)
        # candles are keyed by their minute: a bar stamped inside its minute is moved to its start
        bars = [b if b.ts_ns % NS_PER_MIN == 0 else replace(b, ts_ns=b.ts_ns - b.ts_ns % NS_PER_MIN)
                for b in data.iter_bars(symbol)]
    await write_candles(store, bars, report, progress, total=len(bars))
    if symbol not in report.symbols:
        report.symbols.append(symbol)
    return report
