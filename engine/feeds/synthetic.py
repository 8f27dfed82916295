"""A seeded simulator of US stock trading sessions (09:30-16:00 America/New_York).

Why it exists: the cockpit must run with no keys and no network, and its tests
need sessions in which every market state, LVN alerts and every setup occur. So
each session follows a *script* of auction regimes, built around the previous
session's value area (the balance range of STRATEGY.md section 8):

- ``balance``: rotation between the edges of a range, mean-reverting around its
  centre, with two-sided flow;
- ``breakout``: an impulse leg out of the range in two bursts (aggressive
  one-sided flow, a volume spike) with a short pause between them, then a
  ``pullback`` to the price of the second burst (a low-volume node of the leg)
  on light volume where the leg's side trades again, then a ``continuation``;
  the day then balances around the new level (the next breakout may go back);
- ``failed_breakout``: a poke beyond the range edge that closes back inside
  within a few bars, a fast reclaim leg, a small pullback into it and a move to
  the centre.

Everything is expressed in units ``u`` of the symbol's typical one-minute ATR, so
SPY and TSLA share one script with their own scale. The mid price is the script's
anchor path plus noise, calibrated to real one-minute bars (issue 16; the
constants below, ``sim_volatility``, ``benchmarks/sim_calibration.py``): the noise
is a near-martingale (pulled back to the script over hours) whose volatility
clusters (a slow and a fast log-volatility, an intraday U-shape, an aftershock
after each burst); the script's drifts are small against it (SCRIPT_SCALE) and its
bursts are jumps of a few seconds, so one-minute returns are fat-tailed with no
autocorrelation and no trend a moving average could harvest, while the regimes
(and the setups' signals) are still there. Trades arrive as a Poisson process
whose rate follows a U-shaped intraday curve times the regime's volume factor and
the volatility; each trade hits the ask (buyer aggressor) or the bid (seller)
with a probability set by the regime, so Lee-Ready classification sees the
regime's flow. Trades carry ``side=0`` like a real US feed, plus the prevailing
bid/ask. Prices sit on the 0.01 grid. Sizes are mostly round lots (lognormal x
100) with odd lots.

A session is generated whole with numpy (a few milliseconds per symbol). Sessions
chain: each day's balance range is the previous day's value area and it opens at
the previous close. ``generate_session`` / ``generate_days`` are pure functions
of (symbols, seed, dates) for the backtester; ``SyntheticFeed`` streams one
session in time order, paced like a replay.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time as dtime
from functools import lru_cache
from typing import AsyncIterator, Iterable, Optional, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from ..model import NS_PER_MIN, NS_PER_S, Bar, Heartbeat, Quote, Trade
from .base import MarketData
from .loaders import BarsArrays, TradesArrays
from .pacing import PacedFeed, Pacer
from .sim_volatility import aftershock, session_volatility

ET = ZoneInfo("America/New_York")
DEFAULT_SYMBOLS = ("SPY", "QQQ", "AAPL", "TSLA", "NVDA")
# A normal full NYSE trading day (a Wednesday): the session when none is asked for,
# so runs and tests are reproducible without reading the wall clock.
DEFAULT_SESSION_DATE = date(2024, 6, 12)
TICK = 0.01
OVERNIGHT_WALL_S = 12.0  # a paced overnight (or weekend) between two simulated days lasts at most this

# Calibration to real one-minute bars (issue 16; benchmarks/sim_calibration.py prints the
# statistics side by side, tests/test_sim_calibration.py holds them in bands). ``u`` is the
# symbol's typical one-minute ATR (SymbolSpec.atr_pct x price).
NOISE_PER_U = 5.5  # per-second noise = u / NOISE_PER_U x the minute's volatility (sim_volatility)
NOISE_MEMORY_S = 10800.0  # the noise's pull back to the script, in seconds: a near-martingale up to an hour
SCRIPT_SCALE = 0.3  # the script's drifts (rotations, approaches, pullbacks, continuations): u x this
BURST_SCALE = 1.0  # a burst's jump: u x this, big enough to make an impulse leg (impulse_min_atr)
JUMP_S = 12.0  # a burst's move takes this long, so it rarely spans two bars (no lag-1 autocorrelation)
PIN_REACH = 2.0  # how far (in u) a pullback's end may move to meet its node through the noise
VOLATILITY_STREAM = 1  # tag of the generator the volatility path is drawn from
# bumped whenever the same arguments would generate other data: it names the backtester's
# on-disk cache of generated bars (engine/backtest/data.py), so no stale year is reused
GENERATOR_VERSION = 2


# --------------------------------------------------------------------------- symbols


@dataclass(frozen=True)
class SymbolSpec:
    """Scale of one simulated stock."""

    price: float  # reference price level
    atr_pct: float  # typical one-minute ATR as a fraction of price
    spread_ticks: int  # usual quoted spread in ticks
    trades_per_session: int  # expected prints in a full session


SPECS: dict[str, SymbolSpec] = {
    "SPY": SymbolSpec(520.0, 0.00050, 1, 80_000),
    "QQQ": SymbolSpec(440.0, 0.00065, 1, 70_000),
    "AAPL": SymbolSpec(190.0, 0.00080, 1, 60_000),
    "TSLA": SymbolSpec(180.0, 0.00180, 2, 70_000),
    "NVDA": SymbolSpec(120.0, 0.00150, 1, 75_000),
    "MSFT": SymbolSpec(420.0, 0.00075, 1, 50_000),
    "AMZN": SymbolSpec(185.0, 0.00090, 1, 50_000),
    "META": SymbolSpec(480.0, 0.00110, 2, 45_000),
    "AMD": SymbolSpec(160.0, 0.00140, 1, 55_000),
    "IWM": SymbolSpec(205.0, 0.00065, 1, 45_000),
}


def symbol_spec(symbol: str) -> SymbolSpec:
    """The spec of a known symbol, or a stable made-up one derived from its name."""
    spec = SPECS.get(symbol.upper())
    if spec is not None:
        return spec
    h = zlib.crc32(symbol.upper().encode())
    price = 20.0 + (h % 2800) / 10.0  # 20 .. 300
    atr_pct = 0.0008 + ((h >> 12) % 8) * 0.0001
    return SymbolSpec(round(price, 2), atr_pct, 1, 40_000)


# index level / proxy price of the simulator's indexes (SPX ~ 10 x SPY, NDX ~ 41 x QQQ)
INDEX_FACTORS: dict[str, float] = {"SPX": 10.0, "NDX": 41.0}
DEFAULT_INDEX_FACTOR = 10.0


def _index_factor(symbol: str) -> float:
    return INDEX_FACTORS.get(symbol.upper(), DEFAULT_INDEX_FACTOR)


def index_session(proxy: "SimulatedSession", symbol: str, factor: float) -> "SimulatedSession":
    """An index that moves with its proxy (the execution map seen without keys,
    STRATEGY.md 14): the proxy's prints at ``factor`` x its price, rounded to the
    cent; same times, sizes and aggressors. Additive: only made for a configured
    map, so every other symbol's session (and a seeded run's trades) stay as they were."""
    t = proxy.trades
    scale = lambda a: np.round(a * factor, 2)  # noqa: E731
    trades = replace(t, price=scale(t.price), bid=scale(t.bid), ask=scale(t.ask))
    lo, hi = proxy.balance
    vlo, vhi = proxy.value_area
    return replace(proxy, symbol=symbol.upper(), trades=trades, balance=(lo * factor, hi * factor),
                   value_area=(vlo * factor, vhi * factor), close=round(proxy.close * factor, 2))


# --------------------------------------------------------------------------- calendar


@lru_cache(maxsize=1)
def _calendar():
    """The engine's NYSE calendar (exchange_calendars underneath): one source of
    trading days, half days and open/close times for the simulator and analytics."""
    from ..analytics.session import SessionCalendar

    return SessionCalendar("us_equity")


def is_trading_day(d: date) -> bool:
    return _calendar().is_trading_day(d)


def session_bounds(d: date) -> tuple[int, int]:
    """Regular-hours open and close of an NYSE session, as UTC nanoseconds
    (13:00 ET close on half days)."""
    bounds = _calendar().rth_bounds(d) if is_trading_day(d) else None
    if bounds is None:
        raise ValueError(f"{d.isoformat()} is not an NYSE trading day (weekend or holiday)")
    return int(bounds[0]), int(bounds[1])


def previous_trading_day(d: date) -> date:
    """The last NYSE session strictly before ``d``."""
    return _calendar().previous_trading_day(d)


def trading_days_ending(d: date, n: int) -> list[date]:
    """``n`` consecutive NYSE sessions ending with (and including) ``d``."""
    if n < 1:
        raise ValueError(f"need at least one day, got {n}")
    days = [d]
    while len(days) < n:
        days.append(previous_trading_day(days[-1]))
    return days[::-1]


def trading_days_from(start: date, n: int) -> list[date]:
    """``n`` consecutive NYSE sessions starting on or after ``start``."""
    cal = _calendar()
    d = start if cal.is_trading_day(start) else cal.next_trading_day(start)
    days = [d]
    while len(days) < n:
        days.append(cal.next_trading_day(days[-1]))
    return days[:n]


def default_session_date(reference: Optional[date] = None) -> date:
    """The most recent trading day before ``reference``; DEFAULT_SESSION_DATE if none."""
    if reference is None:
        return DEFAULT_SESSION_DATE
    return previous_trading_day(reference)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Episode:
    """One scripted regime: what the simulator meant the market to do, and when."""

    kind: str  # balance | failed_breakout | reclaim | breakout | pullback | continuation
    side: int  # +1 up, -1 down, 0 none (balance)
    start_ns: int
    end_ns: int


@dataclass
class SimulatedSession:
    symbol: str
    session_date: date
    open_ns: int
    close_ns: int
    trades: TradesArrays  # side = 0 like a real US feed; bid/ask set
    aggressor: np.ndarray  # int8 true aggressor of every trade (+1 / -1)
    episodes: list[Episode]
    balance: tuple[float, float]  # the range the script was built around (previous value area)
    value_area: tuple[float, float]  # this session's ~70% volume range (next day's balance)
    close: float

    def bars(self, vap_bin: Optional[float] = None) -> BarsArrays:
        return bars_from_trades(self.trades, self.aggressor, self.open_ns, vap_bin)

    def bar_list(self, vap_bin: Optional[float] = None) -> list[Bar]:
        return list(self.bars(vap_bin).iter_bars(self.symbol))


# --------------------------------------------------------------------------- the script


@dataclass
class _Seg:
    dur: int  # seconds
    end: float  # anchor price at the end of the segment
    vol: float  # noise scale
    inten: float  # trade-rate factor
    bias: float  # base probability that a trade is buyer-initiated
    size: float  # trade-size factor
    smooth: bool
    pin: Optional[int] = None  # end where the price (script + noise) was at this second: revisit a node
    hold: bool = False  # end where the segment before ended (after its pin)


@dataclass
class _Script:
    """Builds the per-second regime schedule of one session."""

    rng: np.random.Generator
    u: float  # the script's unit in dollars (SCRIPT_SCALE x one ATR)
    ub: float  # a burst's unit in dollars (BURST_SCALE x one ATR): impulses stay impulses
    anchor: float
    horizon_s: int
    t: int = 0
    segs: list[_Seg] = field(default_factory=list)
    episodes: list[tuple[str, int, int, int]] = field(default_factory=list)  # kind, side, t0, t1

    def add(self, minutes: float, end: float, vol=1.0, inten=1.0, bias=0.5, size=1.0, smooth=True,
            pin: Optional[int] = None, hold: bool = False) -> None:
        dur = max(30, int(minutes * 60))
        self.segs.append(_Seg(dur, end, vol, inten, bias, size, smooth, pin, hold))
        self.t += dur
        self.anchor = end

    def mark(self, kind: str, side: int, t0: int) -> None:
        self.episodes.append((kind, side, t0, self.t))

    def left_min(self) -> float:
        return (self.horizon_s - self.t) / 60.0

    def balance(self, center: float, half: float, minutes: float) -> None:
        t0, r, stop = self.t, self.rng, self.t + int(minutes * 60)
        side = 1 if self.anchor <= center else -1
        while self.t < stop:
            target = center + side * half * r.uniform(0.15, 0.45)
            dist = abs(target - self.anchor) / self.u
            self.add(min(max(6.0, dist * r.uniform(3.0, 5.0)), 15.0), target,
                     vol=1.0, inten=r.uniform(0.85, 1.1), bias=0.5 + 0.05 * side)
            side = -side
        self.mark("balance", 0, t0)

    def failed_breakout(self, s: int, center: float, half: float) -> None:
        """A fast poke beyond the range that stalls (a small node), fails back
        inside within a few bars in a fast reclaim leg (thin: an LVN between the
        node and value), a pause, a light pullback that stays inside value,
        responsive flow toward the centre and a move to it."""
        r, u = self.rng, self.u
        t0 = self.t
        self.add(r.uniform(2.5, 3.5), center, vol=0.8, inten=0.9, bias=0.5)
        self.add(r.uniform(2.0, 3.0), center + s * 0.1 * half, vol=0.8, inten=1.0, bias=0.5 + 0.06 * s)
        self.add(r.uniform(1.0, 1.5), center + s * (half + r.uniform(2.0, 2.8) * self.ub), vol=0.8, inten=1.6,
                 bias=0.5 + 0.2 * s, size=1.1, smooth=False)
        self.add(r.uniform(1.5, 2.0), self.anchor + s * 0.2 * u, vol=0.5, inten=1.8, bias=0.5)
        self.mark("failed_breakout", s, t0)
        t1 = self.t
        start = self.anchor
        self.add(r.uniform(1.0, 1.5), center + s * 0.25 * half, vol=0.8, inten=2.6, bias=0.5 - 0.32 * s, size=1.3,
                 smooth=False)
        reclaim = start - self.anchor
        self.add(r.uniform(1.5, 2.0), self.anchor - s * 0.1 * u, vol=0.5, inten=1.4, bias=0.5 - 0.05 * s)
        self.mark("reclaim", -s, t1)
        t2 = self.t
        self.add(r.uniform(1.5, 2.0), self.anchor + 0.25 * reclaim, vol=0.7, inten=0.6, bias=0.5 + 0.08 * s)
        self.mark("pullback", s, t2)
        t3 = self.t
        self.add(2.0, self.anchor - s * 0.3 * u, vol=0.8, inten=2.2, bias=0.5 - 0.3 * s, size=1.2)
        self.add(r.uniform(2.0, 3.0), center - s * 0.2 * half, inten=1.6, bias=0.5 - 0.25 * s, size=1.2)
        self.mark("continuation", -s, t3)

    def breakout(self, s: int, edge: float) -> None:
        """An impulse leg in two fast bursts (thin volume per price: the leg's
        LVNs) around a pause (a node), a stall at the extreme, a light pullback
        into the second burst, responsive flow the leg's way, a continuation."""
        r, u = self.rng, self.u
        t0 = self.t
        # flow builds while price waits (no drift into the burst: that would be a trend to harvest)
        self.add(r.uniform(2.0, 3.0), self.anchor, inten=1.2, bias=0.5 + 0.16 * s)
        beyond = max(edge, self.anchor) if s > 0 else min(edge, self.anchor)
        self.add(r.uniform(0.5, 0.8), beyond + s * r.uniform(3.5, 4.5) * self.ub, vol=0.8, inten=2.6,
                 bias=0.5 + 0.34 * s, size=1.5, smooth=False)
        self.add(r.uniform(6.0, 8.0), self.anchor + s * 0.5 * u, vol=0.45, inten=1.8, bias=0.5 + 0.1 * s)
        b2 = r.uniform(2.0, 3.0) * self.ub
        node = self.t + int(JUMP_S / 2)  # the middle of the second burst: the leg's thinnest price
        self.add(r.uniform(0.5, 0.8), self.anchor + s * b2, vol=0.8, inten=2.4, bias=0.5 + 0.32 * s, size=1.4,
                 smooth=False)
        self.add(r.uniform(3.0, 4.0), self.anchor + s * 0.5 * u, vol=0.45, inten=1.8, bias=0.5 + 0.08 * s)
        self.mark("breakout", s, t0)
        t1 = self.t
        # back to the node through the noise (pinned: the price, not the script, revisits it) ...
        self.add(r.uniform(3.0, 5.0), self.anchor - s * 0.55 * b2, vol=0.8, inten=0.6, bias=0.5 - 0.08 * s, size=0.9,
                 pin=node)
        # ... where the leg's side trades again (what trend_model waits for), price still at it
        self.add(r.uniform(1.5, 2.5), self.anchor, vol=0.3, inten=1.6, bias=0.5 + 0.35 * s, hold=True)
        self.mark("pullback", s, t1)
        t2 = self.t
        self.add(2.0, self.anchor + s * 0.3 * u, vol=0.8, inten=2.2, bias=0.5 + 0.3 * s, size=1.2)
        self.add(r.uniform(2.5, 4.0), self.anchor + s * r.uniform(2.0, 3.0) * u, inten=2.4, bias=0.5 + 0.3 * s,
                 size=1.3)
        self.mark("continuation", s, t2)


def _build_script(rng: np.random.Generator, u: float, open_price: float, lo: float, hi: float,
                  horizon_s: int, ref_price: float, ub: Optional[float] = None) -> _Script:
    sc = _Script(rng=rng, u=u, ub=u if ub is None else ub, anchor=open_price, horizon_s=horizon_s)
    center = (lo + hi) / 2.0
    half = float(np.clip((hi - lo) / 2.0, 2.5 * u, 6.0 * u))
    # first breakout side leans back toward the symbol's reference level (keeps long chains bounded)
    p_up = 0.5 - 0.3 * np.tanh(np.log(center / ref_price) / 0.25)
    break_side = 1 if rng.random() < p_up else -1
    fail_side = 1 if rng.random() < 0.5 else -1
    # balances before a failed breakout last about as long as the rolling profile
    # (lookback 60 min) so its value area is the range being poked out of
    sc.balance(center, half, rng.uniform(30, 40))
    fail_next = bool(rng.random() < 0.5)
    while sc.left_min() > 45:
        s = fail_side if fail_next else break_side
        edge = center + s * half  # the range the script rotates in (the value area clipped to 2.5-6 u)
        if fail_next:
            sc.failed_breakout(s, center, half)
            sc.balance(center, half, rng.uniform(15, 22))
        else:
            sc.breakout(s, edge)
            level = sc.anchor
            sc.balance(level, rng.uniform(1.5, 2.5) * u, rng.uniform(10, 15))
            # the day balances out there (no scripted leg back into the old range: a slow
            # return is a trend a moving average harvests; the noise and the next breakout,
            # on the other side, move it)
            center = sc.anchor
            if sc.left_min() > 100:
                sc.balance(center, half, rng.uniform(45, 55))
            else:
                half = 2.0 * u
        # each kind alternates its side, so a session shows both directions of both
        if fail_next:
            fail_side = -fail_side
        else:
            break_side = -break_side
        fail_next = not fail_next
    sc.balance(center, half, max(sc.left_min(), 1.0) + 1.0)
    return sc


# --------------------------------------------------------------------------- generation


def _smoothstep(f: np.ndarray) -> np.ndarray:
    return f * f * (3.0 - 2.0 * f)


def _ou_noise(rng: np.random.Generator, sigma: np.ndarray, theta: float, block: int = 600) -> np.ndarray:
    """X[t] = (1-theta) X[t-1] + sigma[t] eps[t], vectorised in blocks (a^-k stays small)."""
    n = sigma.shape[0]
    eps = rng.standard_normal(n) * sigma
    a = 1.0 - theta
    out = np.empty(n)
    x0 = 0.0
    k = np.arange(block, dtype=np.float64)
    pow_neg = a ** (-k)
    pow_pos = a ** k
    for s in range(0, n, block):
        e = eps[s:s + block]
        m = e.shape[0]
        acc = np.cumsum(e * pow_neg[:m])
        out[s:s + m] = pow_pos[:m] * (a * x0 + acc)
        x0 = out[s + m - 1]
    return out


def _value_area(price: np.ndarray, size: np.ndarray) -> tuple[float, float]:
    """~70% volume range (15th-85th volume-weighted percentile): the next day's balance."""
    ticks = np.round(price / TICK).astype(np.int64)
    base = int(ticks.min())
    cum = np.cumsum(np.bincount(ticks - base, weights=size))
    total = cum[-1]
    lo = base + int(np.searchsorted(cum, 0.15 * total))
    hi = base + min(int(np.searchsorted(cum, 0.85 * total)), len(cum) - 1)
    return round(lo * TICK, 2), round(hi * TICK, 2)


def _rng(seed: int, symbol: str, d: date, stream: int = 0) -> np.random.Generator:
    """The session's generator; ``stream`` > 0 a separate one (same seed words plus the tag)."""
    words = [int(seed) & 0xFFFFFFFF, zlib.crc32(symbol.upper().encode()), d.toordinal()]
    return np.random.default_rng(words + [stream] if stream else words)


def generate_symbol_session(
    symbol: str,
    seed: int,
    session_date: date,
    balance: Optional[tuple[float, float]] = None,
    open_price: Optional[float] = None,
    trades_per_session: Optional[int] = None,
    size_scale: float = 1.0,
) -> SimulatedSession:
    """One symbol's session. ``balance`` is the previous value area the regimes are
    built around (default: a range around the symbol's reference price);
    ``open_price`` the opening mid (default: inside that range)."""
    spec = symbol_spec(symbol)
    rng = _rng(seed, symbol, session_date)
    open_ns, close_ns = session_bounds(session_date)
    horizon = int((close_ns - open_ns) // NS_PER_S)
    if balance is None:
        level = spec.price * float(np.exp(rng.normal(0.0, 0.03)))
        u = level * spec.atr_pct
        balance = (level - 4.0 * u, level + 4.0 * u)
    lo, hi = balance
    center = (lo + hi) / 2.0
    u = center * spec.atr_pct
    if open_price is None:
        open_price = center + rng.uniform(-0.3, 0.3) * (hi - lo)
    open_price = float(np.clip(open_price, lo + u, hi - u)) if hi - lo > 2 * u else center

    sc = _build_script(rng, u * SCRIPT_SCALE, open_price, lo, hi, horizon, spec.price, ub=u * BURST_SCALE)
    # per-second schedule
    total = sum(s.dur for s in sc.segs)
    anchor = np.empty(total + 1)
    vol = np.empty(total + 1)
    inten = np.empty(total + 1)
    bias = np.empty(total + 1)
    sizem = np.empty(total + 1)
    t = 0
    for s in sc.segs:
        vol[t:t + s.dur] = s.vol
        inten[t:t + s.dur] = s.inten
        bias[t:t + s.dur] = s.bias
        sizem[t:t + s.dur] = s.size
        t += s.dur
    vol[total] = inten[total] = sizem[total] = 1.0
    bias[total] = 0.5
    n_sec = horizon
    vol, inten, bias, sizem = (x[:n_sec + 1] for x in (vol, inten, bias, sizem))

    # noise around the script: ~u of range inside a minute with clustered, fat-tailed
    # volatility (sim_volatility), and a long memory (NOISE_MEMORY_S) so one-minute
    # returns are near a martingale, as real ones are (issue 16 calibration)
    vol_min, rate_min = session_volatility(_rng(seed, symbol, session_date, VOLATILITY_STREAM), n_sec // 60 + 2)
    per_sec = np.arange(n_sec + 1) // 60
    starts = np.cumsum([0] + [seg.dur for seg in sc.segs])[:-1]
    shock = aftershock(n_sec + 1, np.array([t0 for t0, seg in zip(starts, sc.segs) if not seg.smooth], dtype=np.int64))
    sigma = vol * vol_min[per_sec] * shock * (u / NOISE_PER_U)
    noise = _ou_noise(rng, sigma, theta=1.0 / NOISE_MEMORY_S)

    # the script's anchor path; a pinned segment ends where the price was at its pin
    a0, t = open_price, 0
    anchor[0] = open_price
    for s in sc.segs:
        end = s.end
        if s.pin is not None and t + s.dur <= n_sec:
            # at most PIN_REACH u from the scripted end: a wide miss stays a miss (pulling the
            # price all the way back would be a trend to harvest)
            end = s.end + float(np.clip(anchor[s.pin] + noise[s.pin] - noise[t + s.dur] - s.end,
                                        -PIN_REACH * u, PIN_REACH * u))
        elif s.hold:
            end = a0
        f = np.arange(1, s.dur + 1, dtype=np.float64) / s.dur
        # a burst (not smooth) is a jump: its whole move in its first JUMP_S seconds
        shape = _smoothstep(f) if s.smooth else np.minimum(1.0, f * (s.dur / JUMP_S))
        anchor[t + 1:t + 1 + s.dur] = a0 + (end - a0) * shape
        a0, t = end, t + s.dur
    anchor = anchor[:n_sec + 1]
    mid = np.maximum(anchor + noise, 50 * TICK)

    # arrivals: U-shaped intraday rate x regime volume factor
    m = np.arange(n_sec) / 60.0
    span = n_sec / 60.0
    ushape = 1.0 + 2.5 * np.exp(-m / 20.0) + 2.0 * np.exp(-(span - m) / 20.0)
    n_target = trades_per_session or spec.trades_per_session
    n_target = n_target * (n_sec / 23_400.0)
    lam = ushape * inten[:n_sec] * rate_min[per_sec[:n_sec]] * np.sqrt(shock[:n_sec])
    lam *= n_target / lam.sum()
    counts = rng.poisson(lam)
    sec = np.repeat(np.arange(n_sec), counts)
    n = sec.shape[0]
    # uniform times inside each second; sorting the keys alone orders them (iid offsets)
    key = np.sort(sec + rng.random(n))
    sec = np.minimum(key.astype(np.int64), n_sec - 1)
    offs = key - sec
    ts = open_ns + sec.astype(np.int64) * NS_PER_S + (offs * NS_PER_S).astype(np.int64)

    mid_t = mid[sec] + (mid[sec + 1] - mid[sec]) * offs
    dmid = np.sign(mid[sec + 1] - mid[sec])
    p_buy = np.clip(bias[sec] + 0.12 * dmid, 0.03, 0.97)
    aggressor = np.where(rng.random(n) < p_buy, 1, -1).astype(np.int8)

    spread = spec.spread_ticks + (rng.random(n) < 0.12).astype(np.int64)
    inv_tick = round(1.0 / TICK)
    bid_ticks = np.round(mid_t * inv_tick - spread / 2.0).astype(np.int64)
    bid_ticks = np.maximum(bid_ticks, 1)
    ask_ticks = bid_ticks + spread
    bid = bid_ticks / inv_tick
    ask = ask_ticks / inv_tick
    price = np.where(aggressor > 0, ask, bid)

    round_lot = rng.random(n) < 0.78
    lots = np.maximum(1, np.ceil(rng.lognormal(-0.4, 0.8, n) * sizem[sec])).astype(np.int64)
    odd = rng.integers(1, 100, n)
    size = np.where(round_lot, lots * 100, odd).astype(np.float64)
    if size_scale != 1.0:
        size *= size_scale

    trades = TradesArrays(ts, price, size, np.zeros(n, dtype=np.int8), bid, ask, source=f"synthetic:{symbol}")
    episodes = [
        Episode(kind, side, open_ns + t0 * NS_PER_S, open_ns + min(t1, n_sec) * NS_PER_S)
        for kind, side, t0, t1 in sc.episodes if t0 < n_sec
    ]
    va = _value_area(price, size) if n else balance
    return SimulatedSession(symbol.upper(), session_date, open_ns, close_ns, trades, aggressor, episodes,
                            (float(lo), float(hi)), va, float(price[-1]) if n else open_price)


def generate_days(
    symbol: str,
    seed: int,
    days: Sequence[date],
    trades_per_session: Optional[int] = None,
) -> list[SimulatedSession]:
    """Consecutive sessions chained: each day's balance range is the previous day's
    value area and it opens near the previous close. Deterministic for a seed."""
    out: list[SimulatedSession] = []
    for d in days:
        prev = out[-1] if out else None
        out.append(generate_symbol_session(
            symbol, seed, d,
            balance=prev.value_area if prev else None,
            open_price=prev.close if prev else None,
            trades_per_session=trades_per_session,
        ))
    return out


def generate_session(
    symbols: Iterable[str],
    seed: int,
    session_date: Optional[date] = None,
    history_days: int = 1,
    trades_per_session: Optional[int] = None,
) -> dict[str, SimulatedSession]:
    """The session of ``session_date`` for each symbol, chained from
    ``history_days`` earlier sessions (its balance range is real: the value area of
    the previous simulated day). Pure: same arguments, same trades."""
    d = session_date or DEFAULT_SESSION_DATE
    days = trading_days_ending(d, history_days + 1)
    return {s.upper(): generate_days(s, seed, days, trades_per_session)[-1] for s in symbols}


def vap_bin_for(price: float) -> float:
    """Volume-at-price granularity stored with bars: the largest of a few fine
    steps that is at most a quarter of the analytics' auto profile bin and divides
    it exactly, so the profile rebuilt from bars equals the one built from trades."""
    from ..analytics.profile import auto_bin_size

    coarse = auto_bin_size(price)
    for step in (2.5, 1.0, 0.5, 0.25, 0.1, 0.05, 0.02, 0.01):
        ratio = coarse / step
        if ratio >= 4 - 1e-9 and abs(ratio - round(ratio)) < 1e-9:
            return step
    return TICK


def bars_from_trades(trades: TradesArrays, side: np.ndarray, open_ns: int,
                     vap_bin: Optional[float] = None) -> BarsArrays:
    """One-minute bars (start-stamped, aligned to ``open_ns``) with buy/sell volume
    from ``side`` and volume at price in ``vap_bin`` bins (bin centres)."""
    n = len(trades)
    if n == 0:
        e = np.zeros(0)
        return BarsArrays(np.zeros(0, dtype=np.int64), e, e, e, e, e, e, e, np.zeros(0, dtype=np.int64), e, [])
    ts, price, size = trades.ts_ns, trades.price, trades.size
    minute = (ts - open_ns) // NS_PER_MIN
    starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    ends = np.r_[starts[1:], n]
    o = price[starts]
    c = price[ends - 1]
    h = np.maximum.reduceat(price, starts)
    lo = np.minimum.reduceat(price, starts)
    vol = np.add.reduceat(size, starts)
    buy = np.add.reduceat(np.where(side > 0, size, 0.0), starts)
    sell = vol - buy
    pv = np.add.reduceat(price * size, starts)
    bar_ts = open_ns + minute[starts] * NS_PER_MIN
    b = vap_bin or vap_bin_for(float(price[0]))
    binidx = np.floor(price / b + 1e-9).astype(np.int64)
    bar_of = np.repeat(np.arange(starts.shape[0]), ends - starts)
    lo_bin = int(binidx.min())
    width = int(binidx.max()) - lo_bin + 1
    key = bar_of * width + (binidx - lo_bin)
    dense = np.bincount(key, weights=size, minlength=starts.shape[0] * width)
    uniq = np.flatnonzero(dense)
    vsum = dense[uniq]
    ubar = uniq // width
    ucentre = np.round((uniq % width + lo_bin + 0.5) * b, 6)
    splits = np.searchsorted(ubar, np.arange(1, starts.shape[0]))
    vap = [tuple(zip(cs.tolist(), vs.tolist())) for cs, vs in zip(np.split(ucentre, splits), np.split(vsum, splits))]
    return BarsArrays(bar_ts.astype(np.int64), o, h, lo, c, vol, buy, sell, (ends - starts).astype(np.int64),
                      pv / vol, vap, source=trades.source)


def generate_bars(symbol: str, seed: int, days: Sequence[date], trades_per_session: Optional[int] = None,
                  vap_bin: Optional[float] = None, thin: int = 1) -> list[BarsArrays]:
    """Bars-only chained sessions for long backtests: one BarsArrays per day, with
    buy/sell volume and volume at price; the trades are dropped after aggregation.
    ``thin`` > 1 simulates ``thin`` times fewer, ``thin`` times larger prints (same
    volume and price path scale, much faster; ``Bar.trades`` counts the simulated
    prints). The price path then differs from ``thin=1`` (other random draws)."""
    if thin < 1:
        raise ValueError(f"thin must be >= 1, got {thin}")
    spec = symbol_spec(symbol)
    n_trades = (trades_per_session or spec.trades_per_session) // thin
    out: list[BarsArrays] = []
    prev: Optional[SimulatedSession] = None
    for d in days:
        sim = generate_symbol_session(symbol, seed, d, balance=prev.value_area if prev else None,
                                      open_price=prev.close if prev else None,
                                      trades_per_session=n_trades, size_scale=float(thin))
        out.append(sim.bars(vap_bin))
        prev = sim
    return out


def merge_sessions(sessions: Sequence[SimulatedSession]) -> tuple[np.ndarray, list[str]]:
    """Order in which to emit the trades of several symbols: (index array of
    (symbol number, trade number) pairs sorted by time, symbols)."""
    names = [s.symbol for s in sessions]
    ts = np.concatenate([s.trades.ts_ns for s in sessions]) if sessions else np.zeros(0, dtype=np.int64)
    which = np.concatenate([np.full(len(s.trades), k, dtype=np.int32) for k, s in enumerate(sessions)]) \
        if sessions else np.zeros(0, dtype=np.int32)
    idx = np.concatenate([np.arange(len(s.trades)) for s in sessions]) if sessions else np.zeros(0, dtype=np.int64)
    order = np.argsort(ts, kind="stable")
    return np.stack([which[order], idx[order]], axis=1), names


# --------------------------------------------------------------------------- the feed


STREAM_CHUNK = 16_384  # trades turned into Python values at a time (a day at once would hold ~200 MB)


def _in_time_order(sims: Sequence[SimulatedSession], order: np.ndarray, names: list[str]):
    """The trades of ``order`` (merge_sessions) as (symbol, ts, price, size, bid, ask)
    rows of Python values, a chunk at a time."""
    cols = [(s.trades.ts_ns, s.trades.price, s.trades.size, s.trades.bid, s.trades.ask) for s in sims]
    for start in range(0, len(order), STREAM_CHUNK):
        chunk = order[start:start + STREAM_CHUNK]
        which, idx = chunk[:, 0], chunk[:, 1]
        out = [np.empty(len(chunk), dtype=c.dtype) for c in cols[0]] if cols else []
        for k, symbol_cols in enumerate(cols):
            mask = which == k
            if mask.any():
                at = idx[mask]
                for o, c in zip(out, symbol_cols):
                    o[mask] = c[at]
        yield zip([names[k] for k in which.tolist()], *(o.tolist() for o in out))


def _parse_hhmm(text: str) -> dtime:
    try:
        hh, mm = text.strip().split(":")
        return dtime(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"start_at must be HH:MM (America/New_York), got {text!r}") from None


class SyntheticFeed(PacedFeed):
    """Feed + ControllableFeed: seeded multi-symbol sessions, streamed in time order.

    ``days`` sessions are played one after the other (None: until stopped, the
    UI's default), each chained to the one before (its balance range is the
    previous value area, it opens near the previous close), so the seed decides
    every day. Between two days the overnight passes as a ``Heartbeat`` a data
    minute (the clock, the session indicator and the day's reset move with data
    time), paced at the feed's speed but never longer than OVERNIGHT_WALL_S of
    wall time in all; at speed max it is handed out at once. Only the day being
    played and the one before are kept in memory.

    ``start_at`` (HH:MM ET) skips ahead: trades before it are handed out at once
    (so analytics see the whole session so far), pacing starts there.
    ``history_days`` earlier sessions are simulated and chained so the session's
    balance range exists; ``previous_session_bars()`` / ``history()`` give them to
    the engine for warm-up.

    ``quotes``: a ``Quote`` precedes each trade whose bid/ask differs from the
    symbol's last one (the simulator's own quotes; only pegged entries ask for them).
    """

    name = "synthetic"

    def __init__(
        self,
        symbols: Sequence[str] = DEFAULT_SYMBOLS,
        seed: int = 7,
        session_date: Optional[date] = None,
        speed: float = 1.0,
        start_at: Optional[str] = "09:30",
        reference_date: Optional[date] = None,
        history_days: int = 1,
        trades_per_session: Optional[int] = None,
        yield_every: int = 512,
        days: Optional[int] = 1,
        index_of: Optional[dict[str, str]] = None,
        quotes: bool = False,
    ) -> None:
        """``index_of``: index -> proxy (the execution map): the index's prints are
        the proxy's at INDEX_FACTORS x its price (``index_session``)."""
        if not symbols:
            raise ValueError("SyntheticFeed needs at least one symbol")
        self.symbols = tuple(s.upper() for s in symbols)
        self.index_of = {k.upper(): v.upper() for k, v in (index_of or {}).items()
                         if k.upper() in self.symbols and v.upper() in self.symbols}
        self.seed = int(seed)
        self.session_date = session_date or default_session_date(reference_date)
        if not is_trading_day(self.session_date):
            raise ValueError(f"session_date {self.session_date.isoformat()} is not an NYSE trading day")
        self.start_at = _parse_hhmm(start_at) if start_at else None
        self.history_days = max(1, int(history_days))
        self.trades_per_session = trades_per_session
        self._pacer = Pacer(speed, yield_every=yield_every)
        self._chains: Optional[dict[str, list[SimulatedSession]]] = None
        self._connected = False
        self._done = False
        self._last_data_ns = 0
        self._emitted = 0
        self._resume_ns = 0  # a resumed run: handed out unpaced up to here (the engine skips it)
        if days is not None and int(days) < 1:
            raise ValueError(f"days must be >= 1 (None: until stopped), got {days}")
        self.days = None if days is None else int(days)
        self.days_played = 0
        # also hand out a Quote each time a symbol's bid/ask changes, before the trade that
        # carries it (pegged entries follow them, engine/peg.py); off by default so the
        # seeded sessions every other run sees stay exactly as they were
        self.quotes = bool(quotes)
        self._quoted: dict[str, tuple[float, float]] = {}

    # ------------------------------------------------------------------ resuming (engine/sim_resume.py)

    def play_day(self, session_date: date, first_date: date) -> None:
        """Play ``session_date``, a later day of the chain that began on ``first_date``
        (same seed: every day up to it is simulated again, so it is the same day a run
        that went on would have played). Before ``start()``."""
        if not is_trading_day(session_date):
            raise ValueError(f"session_date {session_date.isoformat()} is not an NYSE trading day")
        n = 0
        d = first_date
        while d < session_date:
            d = _calendar().next_trading_day(d)
            n += 1
        self.session_date = session_date
        self.history_days = max(self.history_days, n + 1)
        self._chains = None

    def resume_at(self, data_ns: int) -> None:
        """Fast-forward to ``data_ns``: earlier trades are handed out at once, pacing starts there."""
        self._resume_ns = int(data_ns)

    def trades_between(self, start_ns: int, end_ns: int) -> list[Trade]:
        """Today's trades with start_ns <= ts_ns <= end_ns, all symbols, in the order the stream gives them."""
        rows = []
        for k, sym in enumerate(self.symbols):
            t = self.sessions()[sym].trades
            lo = np.searchsorted(t.ts_ns, start_ns, side="left")
            hi = np.searchsorted(t.ts_ns, end_ns, side="right")
            for i in range(int(lo), int(hi)):
                rows.append((int(t.ts_ns[i]), k, i, Trade(sym, int(t.ts_ns[i]), float(t.price[i]), float(t.size[i]), 0,
                                                           float(t.bid[i]), float(t.ask[i]))))
        rows.sort(key=lambda r: r[:3])  # the stream's order: time, then symbol, then sequence
        return [r[3] for r in rows]

    def last_trade_ns(self) -> int:
        """Data time of today's last simulated trade (the session has ended after it)."""
        return max((int(s.trades.ts_ns[-1]) for s in self.sessions().values() if len(s.trades)), default=0)

    # ------------------------------------------------------------------ data

    def _ensure(self) -> dict[str, list[SimulatedSession]]:
        if self._chains is None:
            days = trading_days_ending(self.session_date, self.history_days + 1)
            self._chains = {s: generate_days(s, self.seed, days, self.trades_per_session) for s in self.symbols
                            if s not in self.index_of}
            for index, proxy in self.index_of.items():
                self._chains[index] = [index_session(sim, index, _index_factor(index)) for sim in self._chains[proxy]]
            self._chains = {s: self._chains[s] for s in self.symbols}  # the symbols' order (the stream's)
        return self._chains

    def sessions(self) -> dict[str, SimulatedSession]:
        """Today's simulated session per symbol."""
        return {s: chain[-1] for s, chain in self._ensure().items()}

    def history_sessions(self, days: int = 1) -> dict[str, list[SimulatedSession]]:
        if days > self.history_days:
            raise ValueError(f"history({days}) asked, but the feed simulates {self.history_days} earlier day(s); "
                             f"construct it with history_days={days}")
        return {s: chain[-1 - days:-1] for s, chain in self._ensure().items()}

    def history(self, days: int = 1) -> list[Bar]:
        """One-minute bars (with flow and volume at price) of the ``days`` sessions
        before this one, all symbols, in time order."""
        bars: list[Bar] = []
        for chain in self.history_sessions(days).values():
            for sim in chain:
                bars.extend(sim.bar_list())
        bars.sort(key=lambda b: b.ts_ns)
        return bars

    def previous_session_bars(self) -> list[Bar]:
        return self.history(1)

    # ------------------------------------------------------------------ Feed

    async def start(self) -> None:
        self._ensure()
        self._connected = True

    async def stop(self) -> None:
        self._pacer.stop()
        self._connected = False

    async def stream(self) -> AsyncIterator[MarketData]:
        if not self._connected:
            await self.start()
        while True:
            async for trade in self._day(first=self.days_played == 0):
                yield trade
            if self._pacer.stopped:
                return
            self.days_played += 1
            if self.days is not None and self.days_played >= self.days:
                self._done = True
                return
            close_ns = self.last_trade_ns()
            self._next_day()
            async for beat in self._overnight(close_ns, self._first_trade_ns()):
                yield beat
            if self._pacer.stopped:
                return

    async def _day(self, first: bool) -> AsyncIterator[Trade]:
        """Today's trades of every symbol in time order; the first day may start
        later (``start_at``, a resume), the ones after are paced from their open."""
        sims = [self.sessions()[s] for s in self.symbols]
        order, names = merge_sessions(sims)
        paced_from = 0
        if first:
            if self.start_at is not None and sims:
                local = datetime.combine(self.session_date, self.start_at, tzinfo=ET)
                paced_from = int(local.timestamp()) * NS_PER_S
            paced_from = max(paced_from, self._resume_ns)
        pacer = self._pacer
        fast_forward = paced_from > 0
        for rows in _in_time_order(sims, order, names):
            for sym, ts, p, sz, b, a in rows:
                paced = ts >= paced_from
                if paced and fast_forward:
                    fast_forward = False
                    pacer.reset_anchor()
                await pacer.wait_for(ts, paced=paced)
                if pacer.stopped:
                    return
                self._last_data_ns = ts
                self._emitted += 1
                if self.quotes and self._quoted.get(sym) != (b, a):
                    self._quoted[sym] = (b, a)
                    yield Quote(sym, ts, b, a)
                yield Trade(sym, ts, p, sz, 0, b, a)

    async def _overnight(self, close_ns: int, open_ns: int) -> AsyncIterator[Heartbeat]:
        """A heartbeat at each whole data minute after the last trade and before the
        next day's first: at most OVERNIGHT_WALL_S of wall time in all."""
        first = close_ns - close_ns % NS_PER_MIN + NS_PER_MIN
        beats = range(first, open_ns, NS_PER_MIN)
        if not beats:
            return
        cap = OVERNIGHT_WALL_S / len(beats)
        pacer = self._pacer
        for ts in beats:
            await pacer.wait_for(ts, max_wait_s=cap)
            if pacer.stopped:
                return
            self._last_data_ns = ts
            yield Heartbeat(ts)

    def _next_day(self) -> None:
        """The next trading day of the chain becomes today (the day before is kept
        as the previous session, older ones are dropped)."""
        nxt = _calendar().next_trading_day(self.session_date)
        for sym, chain in self._ensure().items():
            if sym in self.index_of:
                continue  # follows its proxy, below
            prev = chain[-1]
            chain.append(generate_symbol_session(sym, self.seed, nxt, balance=prev.value_area,
                                                 open_price=prev.close, trades_per_session=self.trades_per_session))
            del chain[:-2]
        for index, proxy in self.index_of.items():
            self._chains[index] = [index_session(sim, index, _index_factor(index)) for sim in self._chains[proxy]]
        self.session_date = nxt
        self.history_days = 1
        self._resume_ns = 0

    def _first_trade_ns(self) -> int:
        """Data time of today's first simulated trade."""
        firsts = [int(s.trades.ts_ns[0]) for s in self.sessions().values() if len(s.trades)]
        return min(firsts) if firsts else session_bounds(self.session_date)[0]

    def finished_line(self) -> str:
        return f"simulation finished: {self.days_played} day(s), {self._emitted:,} trades"

    def status_message(self) -> str:
        return f"seed {self.seed}, {self.session_date.isoformat()}, {len(self.symbols)} symbols"
