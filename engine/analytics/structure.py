"""Structure: balance range, impulse leg and pullback (STRATEGY.md section 8).

The balance range of a session is the previous session's VAL..VAH. An impulse
leg is the move that breaks out of it; its range profile's LVNs are where a
pullback can be bought (up leg) or sold (down leg).

Choices the definition leaves open, made here:

- The leg starts at the last 1-minute bar that *closed* inside the balance
  range; its start price is that bar's close (where price last settled inside).
- A breakout is a close beyond the range edge by >= ``breakout_atr`` x ATR. No
  leg can start before a bar has closed inside the range (a session that opens
  beyond the balance has no impulse until price has been back inside), and none
  while ATR is unknown. A leg uses up its inside bar: the next leg needs a new
  close inside the range (else an ended leg would restart at once from the same
  bar while price hovers beyond the edge).
- The leg's extreme is the highest *high* (up leg) / lowest *low* (down leg) of
  the bars after the start bar, so wicks count as the furthest price traded.
- It ends when a bar *closes* >= ``impulse_end_atr`` x ATR back from the
  extreme. Closes, not wicks, because a bar's high and low carry no order: a
  bar that prints a new high and a deep low cannot tell which came first, its
  close can.
- "ATR" for the whole leg (range_atr, counts, the end threshold) is the ATR of
  the breakout bar. The leg's own wide bars inflate ATR as it runs; measuring
  it in a fixed unit keeps the goalposts still.
- A leg counts when (extreme - start) / ATR >= ``impulse_min_atr``. It can start
  counting while it still extends. An ended leg that never counted is dropped;
  an ended counting leg (``active`` False) keeps its LVNs so a pullback into it
  can be traded, until a new leg starts or ``reset()``.
- LVNs come from ``range_profile(start_ns, end_ns)``: start_ns is the start
  bar's open time, end_ns the close time (ts_ns + 1 minute) of the latest bar
  of the leg. They are recomputed whenever the leg makes a new extreme.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from ..config import StrategyParams
from ..model import NS_PER_MIN, Bar, ImpulseLeg, Node, ProfileStats, Side

RangeProfile = Callable[[int, int], Optional[ProfileStats]]


class StructureTracker:
    """Follows one symbol's closed 1-minute bars and keeps its current (or last
    counted) impulse leg. Cheap per bar; the range profile is asked for only when
    the leg extends."""

    def __init__(self, params: StrategyParams, range_profile: RangeProfile) -> None:
        self._params = params
        self._range_profile = range_profile
        self._low = math.nan
        self._high = math.nan
        self._leg: Optional[ImpulseLeg] = None
        self._leg_atr = math.nan
        self._leg_end_ns = 0  # close time of the leg's latest bar
        self._clear_tracking()

    # ------------------------------------------------------------------ inputs

    def set_balance(self, low: float, high: float) -> None:
        """The balance range: previous session VAL..VAH. NaN for either clears it
        (no breakouts can be seen until it is set again)."""
        if math.isnan(low) or math.isnan(high):
            self._low = self._high = math.nan
            return
        if low > high:
            raise ValueError(f"balance low {low} is above balance high {high}")
        self._low, self._high = float(low), float(high)

    def reset(self) -> None:
        """New session: forget legs and the last inside bar. The balance stays
        until ``set_balance`` replaces it."""
        self._leg = None
        self._leg_atr = math.nan
        self._clear_tracking()

    def on_bar(self, bar: Bar, atr: float) -> None:
        """Feed one closed 1-minute bar with the ATR known after it."""
        leg = self._leg
        if leg is not None and leg.active:
            self._extend(leg, bar)
        if math.isnan(self._low):
            return
        close = bar.close
        if self._low <= close <= self._high:
            self._inside_ts = bar.ts_ns
            self._inside_close = close
            self._max_high, self._max_high_ns = -math.inf, 0
            self._min_low, self._min_low_ns = math.inf, 0
            return
        if self._inside_ts is None:
            return  # no bar has closed inside yet: no leg can start
        if bar.high > self._max_high:
            self._max_high, self._max_high_ns = bar.high, bar.ts_ns
        if bar.low < self._min_low:
            self._min_low, self._min_low_ns = bar.low, bar.ts_ns
        if (leg is not None and leg.active) or not (atr > 0):  # NaN fails too
            return
        threshold = self._params.breakout_atr * atr
        if close >= self._high + threshold:
            self._start(Side.BUY, bar, atr, self._max_high, self._max_high_ns)
        elif close <= self._low - threshold:
            self._start(Side.SELL, bar, atr, self._min_low, self._min_low_ns)

    # ------------------------------------------------------------------ outputs

    @property
    def impulse(self) -> Optional[ImpulseLeg]:
        """The extending leg (counting or not yet), else the last ended leg that
        counted, else None."""
        return self._leg

    @property
    def balance(self) -> tuple[float, float]:
        return self._low, self._high

    def pullback(self, price: float, band: float) -> bool:
        """Price is within ``band`` of an LVN of a counting impulse leg while it is
        still beyond the balance edge the leg broke (above VAH for an up leg,
        below VAL for a down leg)."""
        leg = self._leg
        if leg is None or not leg.counts or not leg.lvns:
            return False
        if leg.side is Side.BUY:
            if not price > self._high:
                return False
        elif not price < self._low:
            return False
        return any(abs(price - n.price) <= band for n in leg.lvns)

    # ------------------------------------------------------------------ internals

    def _clear_tracking(self) -> None:
        self._inside_ts: Optional[int] = None
        self._inside_close = math.nan
        # extremes of the bars since the last inside close
        self._max_high, self._max_high_ns = -math.inf, 0
        self._min_low, self._min_low_ns = math.inf, 0

    def _lvns(self, start_ns: int, end_ns: int) -> tuple[Node, ...]:
        stats = self._range_profile(start_ns, end_ns)
        return tuple(stats.lvns) if stats is not None else ()

    def _start(self, side: Side, bar: Bar, atr: float, extreme: float, extreme_ns: int) -> None:
        assert self._inside_ts is not None
        start_ns, start_price = self._inside_ts, self._inside_close
        # the inside bar is used up: another leg needs another close inside the range
        self._clear_tracking()
        self._leg_atr = atr
        self._leg_end_ns = bar.ts_ns + NS_PER_MIN
        range_atr = abs(extreme - start_price) / atr
        leg = ImpulseLeg(
            side=side,
            start_ns=start_ns,
            start_price=start_price,
            extreme_price=extreme,
            extreme_ns=extreme_ns,
            range_atr=range_atr,
            active=True,
            counts=range_atr >= self._params.impulse_min_atr,
            lvns=self._lvns(start_ns, self._leg_end_ns),
        )
        # the breakout bar's own close may already be a retrace from an earlier high
        self._extend(leg, bar)

    def _extend(self, leg: ImpulseLeg, bar: Bar) -> None:
        up = leg.side is Side.BUY
        self._leg_end_ns = bar.ts_ns + NS_PER_MIN
        extreme, extreme_ns, lvns = leg.extreme_price, leg.extreme_ns, leg.lvns
        if (bar.high > extreme) if up else (bar.low < extreme):
            extreme = bar.high if up else bar.low
            extreme_ns = bar.ts_ns
            lvns = self._lvns(leg.start_ns, self._leg_end_ns)
        range_atr = abs(extreme - leg.start_price) / self._leg_atr
        counts = range_atr >= self._params.impulse_min_atr
        retrace = (extreme - bar.close) if up else (bar.close - extreme)
        ended = retrace >= self._params.impulse_end_atr * self._leg_atr
        if ended and not counts:
            self._leg = None
            return
        self._leg = ImpulseLeg(
            side=leg.side,
            start_ns=leg.start_ns,
            start_price=leg.start_price,
            extreme_price=extreme,
            extreme_ns=extreme_ns,
            range_atr=range_atr,
            active=not ended,
            counts=counts,
            lvns=lvns,
        )
