"""LVN alerts (STRATEGY.md section 6): price comes within a band of a low-volume node.

An alert fires when price comes within the band of an LVN of the developing
session, the previous session or an impulse leg; one alert per LVN per
approach: the LVN re-arms once price has left twice the band.

The band is ``lvn_alert_atr`` x ATR when that is set (> 0) and ATR is known,
else ``lvn_alert_pct`` percent of price.

This runs on every trade, so the work is arranged for the case that happens
almost always, no LVN nearby. Each level carries its fire interval (prices
within the band) and re-arm interval (prices within twice the band) as plain
floats; in percent mode they do not depend on price at all
(|p - L| <= k p  <=>  L / (1 + k) <= p <= L / (1 - k)). After each full check
the tracker keeps the open price interval around the last price in which no
level can change state, so a trade inside it costs two comparisons (plus one
for ATR in ATR mode, whose thresholds are rebuilt only when ATR changes, once a
bar).

A one-minute bar (bars-only data) is a price path, not one price: ``on_bar``
walks it open -> the nearer extreme -> the other extreme -> close (low first
for a bar that closed up, high first for one that closed down, the usual
assumption when only OHLC is known). Price visited every value between two
points of the path, so a level fires when a leg of the path reaches its band,
even when no point of the bar lies inside it (a bar whose range spans the LVN
went through it), and re-arms when a leg goes beyond twice the band. The alert
then reports the price at which the leg entered the band. Trades and bars use
the same levels and arm state, so a replay of bars alerts like the trades of
the same minutes would.

Levels are matched across ``set_levels`` calls by (price, source), keeping
their arm state. A level that is new while the last price is already within
twice its band starts disarmed, as if just touched: session and impulse LVNs
are recomputed as the profile develops and an LVN that moves by a bin would
otherwise alert again on the same approach.
"""
from __future__ import annotations

import math
from typing import Optional

from ..config import StrategyParams
from ..model import LvnAlert

SOURCES = ("session", "previous", "impulse")
_INF = math.inf


class _Level:
    """One LVN and its thresholds for the current band."""

    __slots__ = ("price", "source", "armed", "fire_lo", "fire_hi", "rearm_lo", "rearm_hi")

    def __init__(self, price: float, source: str, armed: bool) -> None:
        self.price = price
        self.source = source
        self.armed = armed
        self.fire_lo = self.fire_hi = self.rearm_lo = self.rearm_hi = price


def _known(atr: Optional[float]) -> bool:
    return atr is not None and atr > 0 and not math.isinf(atr)  # NaN > 0 is False


def _key(price: float, source: str) -> tuple[float, str]:
    return round(price, 9), source


class LvnAlertTracker:
    """Per-symbol LVN proximity alerts: ``set_levels`` when the profiles change,
    ``on_price`` per trade."""

    def __init__(self, symbol: str, params: StrategyParams) -> None:
        self.symbol = symbol
        self._pct = params.lvn_alert_pct / 100.0
        self._atr_mult = params.lvn_alert_atr
        self._atr_mode = params.lvn_alert_atr > 0
        self._levels: list[_Level] = []
        self._atr: Optional[float] = math.nan  # the ATR the thresholds were built for
        self._last = math.nan  # last price seen
        # open interval around the last price where no level changes state
        self._lo = -_INF
        self._hi = _INF

    # ------------------------------------------------------------------ public API

    def band(self, price: float, atr: float) -> float:
        """Half-width of the alert band at ``price``: lvn_alert_atr x ATR when set
        and ATR is known, else lvn_alert_pct % of price."""
        if self._atr_mode and _known(atr):
            return self._atr_mult * atr
        return self._pct * price

    def set_levels(self, levels: list[tuple[float, str]]) -> None:
        """Replace the LVNs: (price, source) with source "session" | "previous" |
        "impulse". Levels present before keep their arm state."""
        old = {_key(lv.price, lv.source): lv for lv in self._levels}
        new: dict[tuple[float, str], _Level] = {}
        for item in levels:
            try:
                price, source = item
                price = float(price)
            except (TypeError, ValueError):
                raise ValueError(f"{self.symbol}: LVN level {item!r} is not (price, source)") from None
            if source not in SOURCES:
                raise ValueError(f"{self.symbol}: LVN source {source!r} is not one of {', '.join(SOURCES)}")
            if not (price > 0 and math.isfinite(price)):
                raise ValueError(f"{self.symbol}: LVN price {price!r} ({source}) is not a positive number")
            key = _key(price, source)
            if key in new:
                continue
            kept = old.get(key)
            new[key] = kept if kept is not None else _Level(price, source, True)
        self._levels = list(new.values())
        self._build_thresholds(self._atr)
        last = self._last
        if last == last:  # a price is known: a new level already at it counts as touched
            for lv in self._levels:
                if _key(lv.price, lv.source) not in old and lv.rearm_lo <= last <= lv.rearm_hi:
                    lv.armed = False
        self._lo, self._hi = _INF, -_INF  # force a full check on the next price

    def on_price(self, price: float, ts_ns: int, atr: float) -> list[LvnAlert]:
        """Check one trade price; returns the alerts it fires (usually none)."""
        self._last = price
        if self._lo < price < self._hi and (
            not self._atr_mode or atr == self._atr or (atr != atr and self._atr != self._atr)
        ):
            return []
        return self._check(price, ts_ns, atr)

    def on_bar(self, open_: float, high: float, low: float, close: float, ts_ns: int,
               atr: float) -> list[LvnAlert]:
        """Check one bar's price path (see the module); returns the alerts it fires."""
        alerts = self.on_price(open_, ts_ns, atr)
        path = (low, high, close) if close >= open_ else (high, low, close)
        prev = open_
        for p in path:
            if p != prev:
                alerts.extend(self._leg(prev, p, ts_ns, atr))
                prev = p
        self._last = close
        self._lo, self._hi = _INF, -_INF  # the next price is checked in full
        return alerts

    @property
    def levels(self) -> tuple[tuple[float, str, bool], ...]:
        """(price, source, armed) of every level, for display and tests."""
        return tuple((lv.price, lv.source, lv.armed) for lv in self._levels)

    # ------------------------------------------------------------------ internals

    def _build_thresholds(self, atr: Optional[float]) -> None:
        self._atr = atr
        if self._atr_mode and _known(atr):
            b = self._atr_mult * atr
            for lv in self._levels:
                p = lv.price
                lv.fire_lo, lv.fire_hi = p - b, p + b
                lv.rearm_lo, lv.rearm_hi = p - 2 * b, p + 2 * b
            return
        k = self._pct  # |x - p| <= k x, solved for x
        for lv in self._levels:
            p = lv.price
            lv.fire_lo = p / (1 + k)
            lv.fire_hi = p / (1 - k) if k < 1 else _INF
            lv.rearm_lo = p / (1 + 2 * k)
            lv.rearm_hi = p / (1 - 2 * k) if 2 * k < 1 else _INF

    def _check(self, price: float, ts_ns: int, atr: float) -> list[LvnAlert]:
        if self._atr_mode and not (atr == self._atr or (atr != atr and self._atr != self._atr)):
            self._build_thresholds(atr)
        alerts: list[LvnAlert] = []
        lo, hi = -_INF, _INF
        for lv in self._levels:
            if lv.armed:
                if lv.fire_lo <= price <= lv.fire_hi:
                    lv.armed = False
                    alerts.append(self._alert(lv, price, ts_ns, atr))
                    lo, hi = max(lo, lv.rearm_lo), min(hi, lv.rearm_hi)
                elif price < lv.fire_lo:
                    hi = min(hi, lv.fire_lo)
                else:
                    lo = max(lo, lv.fire_hi)
            elif price < lv.rearm_lo or price > lv.rearm_hi:
                lv.armed = True  # left twice the band: the next approach alerts again
                if price < lv.fire_lo:
                    hi = min(hi, lv.fire_lo)
                else:
                    lo = max(lo, lv.fire_hi)
            else:
                lo, hi = max(lo, lv.rearm_lo), min(hi, lv.rearm_hi)
        self._lo, self._hi = lo, hi
        return alerts

    def _leg(self, a: float, b: float, ts_ns: int, atr: float) -> list[LvnAlert]:
        """Price moved steadily from ``a`` to ``b`` (one leg of a bar's path)."""
        lo, hi = (a, b) if a < b else (b, a)
        alerts: list[LvnAlert] = []
        for lv in self._levels:
            if lv.armed and hi >= lv.fire_lo and lo <= lv.fire_hi:
                lv.armed = False
                entered = min(max(a, lv.fire_lo), lv.fire_hi)  # where the leg came within the band
                alerts.append(self._alert(lv, entered, ts_ns, atr))
            if not lv.armed and (b < lv.rearm_lo or b > lv.rearm_hi):
                lv.armed = True  # the leg went on beyond twice the band (a leg is monotone: no way back)
        return alerts

    def _alert(self, lv: _Level, price: float, ts_ns: int, atr: float) -> LvnAlert:
        dist = abs(price - lv.price)
        return LvnAlert(
            symbol=self.symbol,
            ts_ns=ts_ns,
            lvn_price=lv.price,
            source=lv.source,
            price=price,
            distance_pct=dist / lv.price * 100.0,
            distance_atr=dist / atr if _known(atr) else math.nan,
            direction="from_above" if price > lv.price else "from_below",
        )
