"""A symbol's order flow over its closed bars (STRATEGY.md sections 1 and 5): the
"flow" part of ``SymbolAnalytics``.

``OrderFlow`` owns the buy/sell split of bars that carry none (bulk volume
classification), the volume ratio, aggression and pressure of the last bar,
and the session's CVD and VWAP sums of closed RTH bars, with the CVD history
for the sparkline when "sparkline" is needed. ``NO_ORDER_FLOW`` stands in when
no setup reads flow: bars keep the split they came with, the sums stay zero and
the view is the idle one.

The session sums add closed *bars* (delta, vwap x volume), not trades, so a
restart that replays the stored bars rebuilds them bit for bit; the live CVD
and VWAP (``SymbolAnalytics.cvd``/``vwap``) add the open bar on top.
"""
from __future__ import annotations

from dataclasses import fields

from ..config import StrategyParams
from ..model import Bar, FlowView
from .aggression import AggressionTracker
from .flow import BulkVolumeClassifier, pressure
from .indicators import VolumeRatio

NAN = float("nan")
CVD_HISTORY = 390  # closed bars kept for the sparkline (one RTH session)

# view() builds FlowView with positional arguments (once per bar: cheaper than
# keywords); it relies on this field order, checked here.
_FLOW_FIELDS = ("aggression", "direction", "volume_ratio", "cvd", "cvd_change", "buy_pressure", "sell_pressure",
                "pressure_ratio", "last_delta", "cvd_history")
if tuple(f.name for f in fields(FlowView))[: len(_FLOW_FIELDS)] != _FLOW_FIELDS:
    raise ImportError("FlowView's fields changed order; update OrderFlow.view")


class CvdHistory:
    """The session CVD after each closed RTH bar, the last ``CVD_HISTORY`` of them."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: tuple[float, ...] = ()

    def add(self, cvd: float) -> None:
        h = self.values  # a new tuple per bar (snapshots share it): one copy, not deque + tuple
        self.values = (h if len(h) < CVD_HISTORY else h[1:]) + (cvd,)

    def clear(self) -> None:
        self.values = ()


class NoCvdHistory:
    """Stands in for :class:`CvdHistory` when nothing draws the sparkline."""

    __slots__ = ()
    values: tuple[float, ...] = ()

    def add(self, cvd: float) -> None:
        pass

    def clear(self) -> None:
        pass


class OrderFlow:
    """Flow of the closed bars and the session's CVD/VWAP sums (see the module)."""

    __slots__ = ("_bvc", "_vr", "_agg", "_history", "_aggression", "_pressure", "_last_delta",
                 "cvd_closed", "pv_closed", "vol_closed")

    def __init__(self, params: StrategyParams, sparkline: bool) -> None:
        self._bvc = BulkVolumeClassifier(params.bvc_window)
        self._vr = VolumeRatio(params.volume_ratio_bars)
        self._agg = AggressionTracker(params)
        self._history = CvdHistory() if sparkline else NoCvdHistory()
        self._aggression = None  # AggressionResult of the last bar
        self._pressure = (NAN, NAN, NAN)
        self._last_delta = 0.0
        self.cvd_closed = 0.0  # session sums of the closed RTH bars
        self.pv_closed = 0.0
        self.vol_closed = 0.0

    def on_bar(self, bar: Bar, rth: bool) -> Bar:
        """A bar closed (every bar, in order: BVC follows the close series); ``rth``:
        it counts for the session sums. Returns the bar with its buy/sell volume:
        its own, else split by BVC."""
        vol = bar.volume
        bvc = self._bvc
        bvc.push(bar.close)
        buy, sell = bar.buy_volume, bar.sell_volume
        if not (buy == buy and sell == sell):
            buy = vol * bvc.fraction()
            sell = vol - buy
            bar = Bar(bar.symbol, bar.ts_ns, bar.open, bar.high, bar.low, bar.close, vol,
                      buy, sell, bar.trades, bar.vwap, bar.vap)
        delta = buy - sell
        self._last_delta = delta
        self._aggression = self._agg.update(delta, vol, self._vr.update(vol), buy, sell)
        self._pressure = pressure(buy, sell)
        if rth:
            cvd = self.cvd_closed = self.cvd_closed + delta
            vw = bar.vwap
            if not vw == vw:
                vw = (bar.high + bar.low + bar.close) / 3.0
            self.pv_closed += vw * vol
            self.vol_closed += vol
            self._history.add(cvd)
        return bar

    def new_session(self) -> None:
        self.cvd_closed = 0.0
        self.pv_closed = 0.0
        self.vol_closed = 0.0
        self._history.clear()

    def view(self, cvd: float) -> FlowView:
        """The FlowView of the last closed bar, with ``cvd`` the live session CVD."""
        agg = self._aggression
        bp, sp, ratio = self._pressure
        # positional arguments, in FlowView's field order (checked above)
        if agg is not None:
            return FlowView(agg.score, agg.direction, agg.volume_ratio, cvd, agg.cvd_change, bp, sp, ratio,
                            self._last_delta, self._history.values)
        return FlowView(0.0, None, NAN, cvd, 0.0, bp, sp, ratio, self._last_delta, self._history.values)


class NoOrderFlow:
    """Stands in for :class:`OrderFlow` when no setup reads flow."""

    __slots__ = ()
    cvd_closed = 0.0
    pv_closed = 0.0
    vol_closed = 0.0
    _IDLE = FlowView(0.0, None, NAN, 0.0, 0.0, NAN, NAN, NAN, NAN, ())

    def on_bar(self, bar: Bar, rth: bool) -> Bar:
        return bar

    def new_session(self) -> None:
        pass

    def view(self, cvd: float) -> FlowView:
        return self._IDLE


NO_ORDER_FLOW = NoOrderFlow()
