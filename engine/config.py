"""Configuration: cockpit.toml validated with pydantic.

Every threshold in STRATEGY.md is a key of ``[strategy]`` (one flat table so a
symbol can override any of them, a sweep can vary any of them, and the
``strategy_configs`` table can store them as one JSON object). A bad file is a
``ConfigError`` whose message names the key, the value and what is allowed;
unknown keys get the closest valid name. Precedence: CLI flag > environment
variable (``COCKPIT_SECTION__KEY``, and the short names of ``ENDPOINT_ENV_VARS``
for the service base URLs) > cockpit.toml > built-in default.

The closed sets of names (feed kinds, sessions, setups, objectives, ...) are
Literals here; the command line takes its ``choices`` from them with
``typing.get_args`` so a name is declared once.
"""
from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .model import Mode

FeedKind = Literal["synthetic", "replay", "alpaca", "polygon"]
SessionKind = Literal["us_equity", "24h_utc", "24h_chicago"]
DataFeed = Literal["iex", "sip"]  # Alpaca market data: IEX (free) or SIP (all exchanges)
SetupName = Literal[
    "auction", "trend_model", "mean_reversion", "sma_cross",
    # STRATEGY.md section 13 (the AutoTrader playbook)
    "ema_cross", "vwap_reclaim", "sigma_fade", "hod_failure", "orb", "trend_pullback", "vwap_mean_reversion",
]
Sides = Literal["long", "short", "both"]  # which sides of a section-13 setup trade
StopMode = Literal["atr", "pct", "dollars"]  # where a signal's stop and target come from (engine/stops.py)
Objective = Literal["sharpe", "profit_factor", "expectancy"]  # what a sweep ranks by
ThemeName = Literal["dark", "light", "high-contrast"]
ImportTimeframe = Literal["1Min", "trades"]  # what the REST importers fetch: one-minute bars, or every trade

SETUP_NAMES: tuple[str, ...] = get_args(SetupName)
# names of a trader's own setups ([strategy.plugins] / --setup-file), added when a config
# that declares them is read, so `setups` may name them (engine/strategy/plugins.py)
PLUGIN_SETUP_NAMES: set[str] = set()


def known_setup_names() -> tuple[str, ...]:
    return SETUP_NAMES + tuple(sorted(PLUGIN_SETUP_NAMES - set(SETUP_NAMES)))
MODE_NAMES: tuple[str, ...] = tuple(m.value for m in Mode)


class ConfigError(ValueError):
    """A configuration problem a person can fix; the message says how."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AppConfig(_Section):
    mode: Mode = Mode.SEMI
    symbols: list[str] = Field(default_factory=lambda: ["SPY", "QQQ", "AAPL", "TSLA", "NVDA"])
    db: str = ""  # "" = cockpit.db in the user data dir; a path or any SQLAlchemy URL
    seed: int = 7
    timezone: str = "America/New_York"

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one symbol is required")
        out = list(dict.fromkeys(s.strip().upper() for s in v))  # each once: SPY,SPY runs SPY once
        for s in out:
            if not s or not all(c.isalnum() or c in ".-/_" for c in s):
                raise ValueError(f"{s!r} is not a symbol (letters, digits, . - / _)")
        return out


class FeedConfig(_Section):
    kind: FeedKind = "synthetic"
    file: str = ""  # replay: trades CSV or 1-minute bars CSV(.gz)
    speed: float = Field(1.0, ge=0.0, description="replay/simulator speed factor; 0 = as fast as possible")
    session: SessionKind = "us_equity"  # session definition of the instrument
    data_feed: DataFeed = "iex"  # alpaca market data feed
    sim_date: str = ""  # synthetic: the session date (YYYY-MM-DD); "" = the latest trading day
    # synthetic: trading days to play one after the other; 0 = until quit in the UI, one day headless
    days: int = Field(0, ge=0, description="simulator days to play; 0 = until quit in the UI, one headless")
    # synthetic, started at the open: "first_signal" hands the morning out at once and paces
    # from the session's first signal (a new user sees one within a minute); "open" paces from 09:30
    sim_start: Literal["first_signal", "open"] = "first_signal"


LIVE_FEEDS = ("alpaca", "polygon")  # feeds of the market Alpaca trades


class BrokerConfig(_Section):
    kind: Literal["paper", "alpaca"] = "paper"
    live: bool = False  # real money; also needs --live and a typed confirmation
    initial_equity: float = Field(100_000.0, gt=0)
    slippage_bps: float = Field(1.0, ge=0)
    commission_per_share: float = Field(0.0, ge=0)
    # paper broker buying power = equity x margin_multiplier - gross position notional
    # - notional reserved by open entry orders (2 = Reg-T; Alpaca day-trading accounts get 4)
    margin_multiplier: float = Field(2.0, ge=1.0, le=4.0)


class EngineConfig(_Section):
    signal_ttl_s: float = Field(60.0, gt=0)
    # SEMI: a pending signal lasts at least this many seconds of WALL time, whatever the
    # replay speed (at x10 a 60 s data-time TTL is 6 s of a person's time); 0 = data time only
    min_decision_s: float = Field(20.0, ge=0, le=600)
    # a pending signal expires when price runs past entry by this fraction of the stop distance
    signal_run_fraction: float = Field(0.5, gt=0)
    journal_size: int = Field(500, ge=10)
    entry_type: Literal["market", "limit", "pegged"] = "market"
    limit_timeout_s: float = Field(30.0, gt=0)
    # pegged entries (STRATEGY.md 14, engine/peg.py): sent only while (ask - bid) / mid <=
    # entry_spread_bps; limit = mid + limit_offset_bps of mid toward the far side (never beyond);
    # re-pegged on quote changes at most max_reprices times within peg_timeout_s (data time);
    # then market when market_fallback, else cancelled
    entry_spread_bps: float = Field(5.0, gt=0)
    limit_offset_bps: float = Field(1.0, ge=0)
    max_reprices: int = Field(5, ge=0)
    peg_timeout_s: float = Field(10.0, gt=0)
    market_fallback: bool = True


# Names the seed systems used for a strategy key (in a strategy_configs parameters JSON,
# an override or [strategy]): accepted and stored under the cockpit's name; a seed
# name given next to the cockpit's wins (it is the one the stored JSON carries).
PARAM_ALIASES = {"min_aggression_score": "min_aggression"}


class StrategyParams(_Section):
    """Every threshold of STRATEGY.md. Per-symbol overrides and sweeps vary these."""

    @model_validator(mode="before")
    @classmethod
    def _seed_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in PARAM_ALIASES):
            data = dict(data)
            for alias, name in PARAM_ALIASES.items():
                if alias in data:
                    data[name] = data.pop(alias)
        return data

    # 2. volume profile
    bin_size: Union[float, Literal["auto"]] = "auto"
    value_area_pct: float = Field(70.0, gt=0, le=100)
    smooth_bins: int = Field(3, ge=1)
    lvn_ratio: float = Field(0.35, gt=0)
    lvn_prominence: float = Field(0.15, ge=0)
    hvn_ratio: float = Field(1.5, gt=0)
    hvn_prominence: float = Field(0.15, ge=0)
    # 1.4 / 3. indicators
    bvc_window: int = Field(60, ge=2)
    atr_period: int = Field(14, ge=1)
    momentum_bars: int = Field(20, ge=1)
    volume_ratio_bars: int = Field(60, ge=1)
    # 4. market state
    lookback_minutes: int = Field(60, ge=1)
    balance_poc_pct: float = Field(1.0, gt=0)
    momentum_threshold: float = Field(0.5, ge=0)
    # 5. aggression
    flow_lookback: int = Field(5, ge=1)
    volume_spike: float = Field(2.0, gt=0)
    cvd_momentum: float = Field(0.25, gt=0)
    pressure_threshold: float = Field(70.0, ge=50, le=100)
    # 6. LVN alerts
    lvn_alert_pct: float = Field(0.5, gt=0)
    # 0 = use lvn_alert_pct. Default 0.25 (STRATEGY.md 6's ATR form): trend_model's stop sits beyond
    # the band, and a 0.5%-of-price band is 5-10 one-minute ATRs, so at 0 no trend_model target
    # passes min_reward_risk (issue 15: it never traded at the built-in defaults)
    lvn_alert_atr: float = Field(0.25, ge=0)
    # 8. structure
    breakout_atr: float = Field(0.5, ge=0)
    impulse_end_atr: float = Field(0.75, gt=0)
    impulse_min_atr: float = Field(2.0, ge=0)
    # 9. setups
    setups: list[str] = Field(default_factory=lambda: ["auction", "trend_model", "mean_reversion"])
    enabled: bool = True
    min_aggression: float = Field(70.0, ge=0, le=100)
    balance_min_aggression: float = Field(80.0, ge=0, le=100)
    allow_balance_trades: bool = False
    atr_stop: float = Field(1.5, gt=0)
    atr_target: float = Field(3.0, gt=0)
    reclaim_bars: int = Field(5, ge=1)
    sma_period: int = Field(20, ge=2)  # sma_cross baseline setup
    # 13. the playbook setups (engine/strategy/playbook.py); each has its own `sides`
    ema_fast: int = Field(20, ge=1)  # EMA20 of the section-13 rules (1- and 5-minute closes)
    ema_slow: int = Field(50, ge=2)  # EMA50
    ema_cross_sides: Sides = "long"
    vwap_reclaim_sides: Sides = "long"
    vwap_reclaim_min_rvol: float = Field(1.1, ge=0)
    vwap_reclaim_cooldown_s: float = Field(900.0, ge=0)
    sigma_fade_sides: Sides = "long"
    sigma_fade_k: float = Field(2.0, gt=0)  # band = VWAP -/+ k x sigma
    sigma_fade_min_rvol: float = Field(1.0, ge=0)
    sigma_fade_stop_atr: float = Field(0.5, ge=0)  # stop = the sweep bar's low - this x ATR
    sigma_fade_slope_bars: int = Field(10, ge=1)  # EMA50 now vs this many bars ago
    hod_failure_sides: Sides = "long"
    hod_failure_lookback: int = Field(15, ge=1)  # the session high set within this many bars
    hod_failure_pullback_atr: float = Field(0.5, ge=0)
    orb_sides: Sides = "long"
    orb_range_min: int = Field(30, ge=1)
    orb_min_rvol: float = Field(1.5, ge=0)
    orb_target_r: float = Field(2.0, gt=0)
    trend_pullback_sides: Sides = "long"
    trend_pullback_touch_atr: float = Field(0.1, ge=0)  # low <= EMA20 + this x ATR is a touch
    trend_pullback_max_adds: int = Field(2, ge=0)
    vwap_mean_reversion_sides: Sides = "long"
    vwap_mean_reversion_k: float = Field(2.5, gt=0)
    # 11. exits
    target1_r: float = Field(0.0, ge=0)  # 0 = no partial exit
    partial_fraction: float = Field(0.5, gt=0, lt=1)
    trail_activate_r: float = Field(0.0, ge=0)  # 0 = no trailing stop
    trail_atr: float = Field(1.0, gt=0)
    trade_timeout_min: float = Field(0.0, ge=0)  # 0 = no time exit
    flat_before_close_min: float = Field(5.0, ge=0)  # 0 = hold through the close
    # 14. stop modes (engine/stops.py): atr = the setup's own bracket (ATR based);
    # pct = stop_pct / tp_pct of entry; dollars = R of r_dollars per share with the
    # 1R stop / 1.5R half / 3R rest / trail from 1R / flat before the close profile
    stop_mode: StopMode = "atr"
    stop_pct: float = Field(0.0, ge=0, lt=1)  # fraction of entry (0.01 = 1%); 0 = the setup's stop
    tp_pct: float = Field(0.0, ge=0)  # fraction of entry; 0 = the setup's target
    r_dollars: float = Field(0.0, ge=0)  # dollars per share of 1R (stop_mode dollars)
    qty: int = Field(0, ge=0)  # fixed shares per entry for this symbol; 0 = sized by risk
    trail_pct: float = Field(0.0, ge=0, lt=1)  # trail at high-water x (1 - trail_pct); 0 = off
    trail_activate_pct: float = Field(0.0, ge=0)  # ... once the high-water gained this fraction of entry

    # two ATR targets (stop_mode atr): half (partial_pct) off at entry +/- target1_atr x ATR
    # with the stop to break-even, the rest at the bracket's target, entry +/- target2_atr x ATR
    target1_atr: float = Field(0.0, ge=0)  # 0 = no first target (target1_r may still split)
    partial_pct: float = Field(0.5, gt=0, lt=1)  # fraction of the shares sold at target1_atr
    target2_atr: float = Field(0.0, ge=0)  # 0 = the setup's own target

    @model_validator(mode="after")
    def _stop_mode_inputs(self) -> "StrategyParams":
        """A stop mode without its inputs is refused at load, naming the key."""
        if self.stop_mode == "pct":
            for key in ("stop_pct", "tp_pct"):
                if getattr(self, key) <= 0:
                    raise ValueError(f"stop_mode 'pct' needs {key} > 0 (a fraction of entry, e.g. 0.01 = 1%); "
                                     f"stop_mode allowed: {', '.join(get_args(StopMode))}")
        if self.stop_mode == "dollars" and self.r_dollars <= 0:
            raise ValueError(f"stop_mode 'dollars' needs r_dollars > 0 (dollars per share of 1R, e.g. 0.10); "
                             f"stop_mode allowed: {', '.join(get_args(StopMode))}")
        if self.target1_atr > 0 and self.target2_atr > 0 and self.target1_atr >= self.target2_atr:
            raise ValueError(f"target1_atr {self.target1_atr:g} must be below target2_atr {self.target2_atr:g} "
                             "(the partial comes first; 0 turns either off)")
        return self

    @field_validator("setups")
    @classmethod
    def _setups(cls, v: list[str]) -> list[str]:
        allowed = known_setup_names()
        for name in v:
            if name not in allowed:
                raise ValueError(f"unknown setup {name!r}; allowed: {', '.join(allowed)}")
        return v

    def max_adds(self, setup: str) -> int:
        """``<setup>_max_adds`` (STRATEGY.md 13), 0 for a setup without one. Read from the
        fields rather than by ``getattr(..., 0)``: a missing attribute of a pydantic model
        raises and catches an AttributeError inside (~5 us), and every signal dropped
        while its symbol holds a position asks (``OrderRouter.may_add``)."""
        return self.__dict__.get(f"{setup}_max_adds", 0)


class StrategyConfig(StrategyParams):
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per symbol
    # a trader's own setups: setup name -> Python file defining it (engine/strategy/plugins.py)
    plugins: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _plugin_names(cls, data: Any) -> Any:
        """The plugins' names are setup names from here on (their files are imported
        when the engine builds its setups, not while a config is read)."""
        if isinstance(data, dict) and isinstance(data.get("plugins"), dict):
            for name in data["plugins"]:
                if isinstance(name, str) and name.isidentifier():
                    PLUGIN_SETUP_NAMES.add(name)
        return data

    @field_validator("plugins")
    @classmethod
    def _plugins(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not name.isidentifier():
                raise ValueError(f"plugin setup name {name!r} is not an identifier (letters, digits, _)")
            if name in SETUP_NAMES:
                raise ValueError(f"plugin setup name {name!r} is a built-in setup's name")
        return v

    def for_symbol(self, symbol: str) -> StrategyParams:
        """The parameters a symbol trades with: the defaults plus its overrides."""
        base = self.model_dump(exclude={"overrides", "plugins"})
        base.update(self.overrides.get(symbol, {}))
        return StrategyParams(**base)

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """A symbol's override is checked at load: a bad key or value names the
        symbol, the key and what is allowed (not a failure later at run time)."""
        for symbol, over in v.items():
            try:
                StrategyParams(**over)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ValueError(f"strategy.overrides.{symbol}: {params_error(err)}") from None
        return v


def params_error(err: dict) -> str:
    """One line for a StrategyParams validation error: the key, the value and what is
    allowed (an unknown key gets the closest valid name)."""
    key = ".".join(map(str, err["loc"]))
    if not key:  # a rule across keys (a model validator): its message names them
        return str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        valid = sorted(StrategyParams.model_fields)
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key {key!r}{hint}"
    ctx = err.get("ctx") or {}
    allowed = f"allowed: {ctx['expected']}" if "expected" in ctx else err["msg"]
    return f"{key} = {err.get('input')!r} is not valid: {allowed}"


class PriceBandParams(_Section):
    """The price-sanity band of one symbol (engine/sanity.py says what it rejects)."""

    # a print more than this % above the last good price (or below it by the same
    # ratio: 50 = up 50% or down 33%) is held back until confirmed; 0 = no band
    price_band_pct: float = Field(50.0, ge=0)
    # prints in a row at a new level (the first included) that confirm it: a real gap
    # or a halt's reopening is accepted at the last of them; fewer are skipped
    confirm_prints: int = Field(3, ge=1)


class DataConfig(PriceBandParams):
    """Market data checks; ``overrides`` per symbol, as for ``[strategy]``."""

    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def for_symbol(self, symbol: str) -> PriceBandParams:
        base = self.model_dump(exclude={"overrides"})
        base.update(self.overrides.get(symbol, {}))
        return PriceBandParams(**base)

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for symbol, over in v.items():
            try:
                PriceBandParams(**over)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ValueError(f"data.overrides.{symbol}.{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        return v


class RiskConfig(_Section):
    # percent of equity risked per trade. The setups' stops are one-minute ATR stops (1.5 ATR is
    # 0.07-0.3% of price on the default symbols), so 0.05% of $100k ($50) already sizes SPY at
    # about $67k: at the defaults the risk budget, not a cap, decides every size (issue 15:
    # at 0.5% every entry was capped by max_position_notional and the risk key did nothing)
    risk_per_trade_pct: float = Field(0.05, gt=0, le=100)
    # > 0: every entry is this many shares (still capped by buying power and
    # max_position_notional) instead of the risk-based size; 0 = risk-based sizing
    fixed_qty: int = Field(0, ge=0)
    max_position_notional: float = Field(100_000.0, gt=0)
    # entries never take the account's cash below this ($; 0 = no floor): the size is capped
    # so that cash - qty x entry >= min_cash, and an entry is blocked when none fits
    min_cash: float = Field(0.0, ge=0)
    max_positions: int = Field(3, ge=1)
    # entries that may be open in one symbol at once (the first and adds of the same side,
    # each with its own bracket); 1 = one position per symbol, a new signal is dropped
    max_positions_per_symbol: int = Field(1, ge=1)
    max_open_orders: int = Field(10, ge=1)
    max_daily_loss_pct: float = Field(2.0, gt=0, le=100)
    min_account_balance: float = Field(2_000.0, ge=0)
    # new entries only inside [start, end), HH:MM in the session's own time zone (ET for
    # us_equity, UTC for 24h_utc, Chicago for 24h_chicago); "" = the session's default
    # window: 09:35-15:50 ET for US stocks, the whole day for a 24-hour market
    trading_start: str = ""
    trading_end: str = ""
    # a window per session kind, [start, end] in that session's zone, e.g.
    # windows.24h_utc = ["13:00", "21:00"]; it wins over trading_start/end for its kind
    windows: dict[SessionKind, list[str]] = Field(default_factory=dict)
    allow_symbols: list[str] = Field(default_factory=list)  # empty = all
    deny_symbols: list[str] = Field(default_factory=list)
    max_consecutive_losses: int = Field(4, ge=1)
    # block a signal whose target is less than this many R away (0 = no minimum)
    min_reward_risk: float = Field(1.0, ge=0)
    stale_after_s: float = Field(15.0, gt=0)
    # symbols that may open positions only from power_hour_start (ET) to the close (STRATEGY.md 13)
    power_hour_symbols: list[str] = Field(default_factory=lambda: ["SPX"])
    power_hour_start: str = "15:00"
    # options feedback gate (STRATEGY.md 14; engine/options_gate.py), off by default: the
    # underlying's option chain today (Polygon's chain snapshot, needs POLYGON_API_KEY and a
    # live feed) must have total volume >= options_min_volume contracts and an at-the-money
    # implied volatility <= options_max_iv (a fraction: 0.6 = 60%)
    options_gate: bool = False
    options_min_volume: int = Field(10_000, ge=0)
    options_max_iv: float = Field(0.6, gt=0)
    # when the chain cannot be had (no key, look-up failed, too old): "block" the entry
    # (reason "options data unavailable") or "allow" it (the signal's reason says so)
    options_if_unavailable: Literal["block", "allow"] = "block"

    @field_validator("options_max_iv")
    @classmethod
    def _iv_fraction(cls, v: float) -> float:
        if v > 10:  # 1000%: a percent typed where a fraction belongs
            raise ValueError(f"allowed: a fraction of 1 (0.6 = 60%), at most 10; {v:g} looks like a percent, "
                             f"did you mean {v / 100:g}?")
        return v

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: dict) -> dict:
        for kind, window in v.items():
            if len(window) != 2 or not all(window):
                raise ValueError(f"windows.{kind} = {window!r}: allowed: [start, end], two times of day HH:MM")
            for t in window:
                cls._hhmm(t)
            if window[0] >= window[1]:
                raise ValueError(f"windows.{kind} = {window!r}: the start must come before the end")
        return v

    def window_for(self, kind: str) -> Optional[tuple[str, str]]:
        """The trader's entry window for a session kind: ``windows[kind]``, else
        trading_start/end, else None (the session's default)."""
        w = self.windows.get(kind)
        if w:
            return w[0], w[1]
        if self.trading_start:
            return self.trading_start, self.trading_end
        return None

    @field_validator("trading_start", "trading_end", "power_hour_start")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if v == "":
            return v
        try:
            h, m = v.split(":")
            if not (0 <= int(h) <= 23 and 0 <= int(m) <= 59):
                raise ValueError
        except ValueError:
            raise ValueError(f"{v!r} is not a time of day HH:MM") from None
        return v


class SizingConfig(_Section):
    """Dynamic sizing (engine/sizing.py, STRATEGY.md 14): the risk budget times seven
    clamped factors (equity, volatility, win rate, time of day, streak, signal
    strength, regime), each shown with the signal. Off: the budget is the plain
    risk_per_trade_pct of equity."""

    dynamic: bool = False
    reference_equity: float = Field(100_000.0, gt=0)  # the equity factor is equity / this


class SessionPolicy(_Section):
    """One window of the session policy table (ET, HH:MM). ``setup`` is the setup
    the session pane recommends in it (STRATEGY.md 7). A window that lists
    ``setups`` is a *trading* policy (STRATEGY.md 13): when any window does,
    the trading policies replace the risk trading window: an entry is allowed
    only inside one of them and only for a setup it lists, sized with its
    ``risk_per_trade_pct`` when set."""

    start: str
    end: str
    setup: Optional[str] = None
    setups: Optional[list[str]] = None  # setups allowed in the window (a trading policy)
    risk_per_trade_pct: Optional[float] = Field(None, gt=0, le=100)  # replaces risk.risk_per_trade_pct in it

    @field_validator("setups")
    @classmethod
    def _setups(cls, v: Optional[list[str]]) -> Optional[list[str]]:
        allowed = known_setup_names()  # [strategy] (and its plugins) is read before [sessions]
        for name in v or ():
            if name not in allowed:
                raise ValueError(f"unknown setup {name!r}; allowed: {', '.join(allowed)}")
        return v

    @property
    def label(self) -> str:
        """``09:30-11:00 orb, ema_cross`` (what the pane and a block reason show)."""
        names = ", ".join(self.setups) if self.setups is not None else (self.setup or "no setup")
        return f"{self.start}-{self.end} {names or 'no setup'}"

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, v: str, info) -> str:
        try:
            h, m = (int(x) for x in v.split(":"))
            ok = (0 <= h <= 23 and 0 <= m <= 59) or (info.field_name == "end" and (h, m) == (24, 0))
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{v!r} is not a time of day: allowed HH:MM (00:00-23:59"
                             f"{', or 24:00' if info.field_name == 'end' else ''})")
        return v


class SessionsConfig(_Section):
    policy: list[SessionPolicy] = Field(
        default_factory=lambda: [
            SessionPolicy(start="09:30", end="11:00", setup="trend_model"),
            SessionPolicy(start="11:00", end="14:00", setup="mean_reversion"),
            SessionPolicy(start="14:00", end="16:00", setup="trend_model"),
        ]
    )
    # 24-hour markets (24h_utc, 24h_chicago): the whole day has a recommended setup, so the
    # session pane does not say "none" most of the day. Windows in ET like ``policy``;
    # an end may be "24:00". Quiet hours (Asia, after the US close) fade to value, London
    # and New York hours follow the trend.
    policy_24h: list[SessionPolicy] = Field(
        default_factory=lambda: [
            SessionPolicy(start="00:00", end="03:00", setup="mean_reversion"),
            SessionPolicy(start="03:00", end="09:30", setup="trend_model"),
            SessionPolicy(start="09:30", end="16:00", setup="trend_model"),
            SessionPolicy(start="16:00", end="24:00", setup="mean_reversion"),
        ]
    )
    # when true, only the recommended setup of the current window may trade
    enforce_policy: bool = False

    @property
    def trading(self) -> list[SessionPolicy]:
        """The trading policies (windows that list ``setups``); empty = the risk window rules."""
        return [p for p in self.policy if p.setups is not None]
    def policy_for(self, kind: str) -> list[SessionPolicy]:
        """The policy table of a session kind: ``policy`` for US stocks, ``policy_24h``
        for a 24-hour market."""
        return self.policy if kind == "us_equity" else self.policy_24h


class UIConfig(_Section):
    refresh_hz: float = Field(4.0, gt=0, le=60)
    theme: ThemeName = "dark"
    bell: bool = True
    keys: dict[str, str] = Field(default_factory=dict)  # action -> key, overrides the defaults


AlertKind = Literal["fill", "daily_loss", "disconnect", "store"]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)
WebhookStyle = Literal["slack", "discord", "json"]


class NotifyConfig(_Section):
    """Alerts out (engine/ops/alerts.py, webhook.py). The terminal bell is ``[ui] bell``."""

    # "" = no webhook. An http(s) URL; it often carries a token, so it is treated as a
    # secret: never journaled, logged or shown in an error
    webhook_url: str = ""
    webhook_style: WebhookStyle = "slack"  # slack ({"text"}), discord ({"content"}), json (the alert's fields)
    alert_on: list[AlertKind] = Field(default_factory=lambda: list(ALERT_KINDS))
    disconnect_after_s: float = Field(30.0, gt=0)  # a feed down this long is an alert (and its return another)
    queue_size: int = Field(100, ge=1)  # alerts waiting to be sent; when full the oldest is dropped (counted)
    max_attempts: int = Field(5, ge=1, le=20)  # per alert, with exponential backoff between them
    timeout_s: float = Field(5.0, gt=0)

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        v = v.strip()
        if v:
            parts = urlsplit(v)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("allowed: an http:// or https:// URL with a host (e.g. a Slack or Discord "
                                 "incoming webhook), or \"\" for none")
        return v


class ProvidersConfig(_Section):
    """Look-ups at the data vendor and broker: how long an answer is kept (engine/ops/cache.py)
    and how fast requests may go (engine/ops/rate_limit.py)."""

    quotes_ttl_s: float = Field(5.0, ge=0)  # 0 = never kept
    option_chains_ttl_s: float = Field(60.0, ge=0)
    bars_ttl_s: float = Field(300.0, ge=0)  # closed minute bars only: the open one is always asked for
    # "provider" or "provider.endpoint" -> "N/second" | "N/minute"; on top of alpaca = "190/minute"
    # (trading API: Alpaca allows 200), alpaca_data = "190/minute" (market data) and polygon = "100/second"
    rate_limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, v: dict[str, str]) -> dict[str, str]:
        if v:  # (none set: nothing to parse, and the limits library stays unimported)
            from .ops.rate_limit import parse_rate_limits

            parse_rate_limits(v)  # a ValueError names the key and what is allowed
        return v

    def ttls_s(self) -> dict[str, float]:
        return {"quotes": self.quotes_ttl_s, "option_chains": self.option_chains_ttl_s, "bars": self.bars_ttl_s}


class EndpointsConfig(_Section):
    """Base URLs of the market data and broker services; "" = the provider's own.
    Set to point the cockpit at a proxy or a local stand-in. Keys are never
    configuration: they stay in the environment (engine.live.secrets)."""

    alpaca_trading: str = ""  # Alpaca trading REST (paper or live account)
    alpaca_trading_stream: str = ""  # Alpaca trade-updates websocket
    alpaca_data: str = ""  # Alpaca market data REST
    alpaca_data_stream: str = ""  # Alpaca market data websocket
    polygon_rest: str = ""  # Polygon (Massive) REST
    polygon_ws: str = ""  # Polygon (Massive) websocket


# Short environment names for the endpoints (each also settable as
# COCKPIT_ENDPOINTS__KEY, which wins when both are set).
ENDPOINT_ENV_VARS = {
    "COCKPIT_ALPACA_URL": "alpaca_trading",
    "COCKPIT_ALPACA_TRADING_STREAM_URL": "alpaca_trading_stream",
    "COCKPIT_ALPACA_DATA_URL": "alpaca_data",
    "COCKPIT_ALPACA_STREAM_URL": "alpaca_data_stream",
    "COCKPIT_POLYGON_URL": "polygon_rest",
    "COCKPIT_POLYGON_WS_URL": "polygon_ws",
}


# The seed bot's environment names, aliases of risk keys (COCKPIT_RISK__KEY wins when both are set).
SEED_ENV_VARS = {
    "MAX_POSITIONS": "max_positions",
    "RISK_PER_TRADE_PCT": "risk_per_trade_pct",
    "MAX_DAILY_LOSS_PCT": "max_daily_loss_pct",
    "MIN_ACCOUNT_BALANCE": "min_account_balance",
}


def endpoint_env_var(key: str) -> str:
    """The short environment name of ``endpoints.<key>`` (for messages)."""
    return next(name for name, k in ENDPOINT_ENV_VARS.items() if k == key)


class CockpitConfig(_Section):
    app: AppConfig = Field(default_factory=AppConfig)
    feed: FeedConfig = Field(default_factory=FeedConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    sizing: SizingConfig = Field(default_factory=SizingConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    ui: UIConfig = Field(default_factory=UIConfig)
    endpoints: EndpointsConfig = Field(default_factory=EndpointsConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    providers: ProvidersConfig = Field(default_factory=ProvidersConfig)
    # STRATEGY.md 14: the setup reads the key symbol, the order goes to the value (SPX = "SPY")
    execution_map: dict[str, str] = Field(default_factory=dict)

    @field_validator("execution_map")
    @classmethod
    def _execution_map(cls, v: dict[str, str]) -> dict[str, str]:
        return normalize_execution_map(v)

    @model_validator(mode="after")
    def _mapped_symbols_are_traded(self) -> "CockpitConfig":
        """A key of execution_map is a symbol the setups read: it must be in app.symbols."""
        for k in self.execution_map:
            if k not in self.app.symbols:
                raise ValueError(f"execution_map.{k}: {k} is not in app.symbols ({', '.join(self.app.symbols)}); "
                                 "the setup reads the key symbol, so list it there")
        return self

    @property
    def feed_symbols(self) -> list[str]:
        """What the feed subscribes to and the engine follows: app.symbols, then each
        execution_map proxy not already among them (the order goes there)."""
        extra = [p for p in dict.fromkeys(self.execution_map.values()) if p not in self.app.symbols]
        return list(self.app.symbols) + extra

    @model_validator(mode="after")
    def _a_real_broker_trades_on_real_prices(self) -> "CockpitConfig":
        """Orders at Alpaca (paper or live) are priced from the feed: a simulated or
        replayed feed, or another market's session, would send orders at prices that
        are not the market's."""
        if self.broker.kind == "alpaca" or self.broker.live:
            account = "a live account" if self.broker.live else "an Alpaca paper account"
            if self.feed.kind not in LIVE_FEEDS:
                raise ValueError(f"feed.kind = {self.feed.kind!r} with {account}: orders would be priced from "
                                 f"{'simulated' if self.feed.kind == 'synthetic' else 'recorded'} data; "
                                 f"allowed with this broker: {', '.join(LIVE_FEEDS)}")
            if self.feed.session != "us_equity":
                raise ValueError(f"feed.session = {self.feed.session!r} with {account}: Alpaca trades US stocks; "
                                 "allowed with this broker: 'us_equity'")
        return self

    @model_validator(mode="after")
    def _window_is_both_or_neither(self) -> "CockpitConfig":
        if bool(self.risk.trading_start) != bool(self.risk.trading_end):
            raise ValueError("risk.trading_start and risk.trading_end are set together (or both left out for the "
                             f"session's default window); got {self.risk.trading_start!r} and {self.risk.trading_end!r}")
        return self


# --------------------------------------------------------------------------- loading


def _model_for_path(loc: tuple) -> Optional[type[BaseModel]]:
    model: Any = CockpitConfig
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return model


def _describe(err: dict, source: str) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        parent = _model_for_path(loc[:-1])
        valid = sorted(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"; did you mean {'.'.join(map(str, loc[:-1] + (close[0],)))!r}?" if close else ""
        return f"{source}: unknown key {key!r}{hint} Valid keys here: {', '.join(valid)}"
    if not loc:  # a rule across sections (a model validator): its message names the keys
        return f"{source}: {err['msg'].removeprefix('Value error, ')}"
    value = "<hidden>" if loc in SECRET_KEYS else err.get("input")
    msg = err["msg"]
    inner = msg.removeprefix("Value error, ")
    if inner.startswith(key + "."):  # a nested table's validator already named the full key
        return f"{source}: {inner}"
    if err["type"] == "value_error" and isinstance(err.get("input"), dict):  # a rule across a table's keys
        return f"{source}: {key}: {inner}"
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        msg = f"allowed: {ctx['expected']}"
    return f"{source}: {key} = {value!r} is not valid: {msg}"


SECRET_KEYS = {("notify", "webhook_url")}  # a bad value is not echoed: a webhook URL carries its token


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _toml_scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(env: dict[str, str]) -> dict:
    """COCKPIT_FEED__SPEED=10 -> {"feed": {"speed": "10"}}; values parsed as TOML scalars.
    COCKPIT_POLYGON_URL=URL (ENDPOINT_ENV_VARS) -> {"endpoints": {"polygon_rest": URL}}."""
    out: dict = {}
    endpoints = {key: env[name] for name, key in ENDPOINT_ENV_VARS.items() if env.get(name)}
    if endpoints:
        out["endpoints"] = endpoints
    seed_risk = {key: _toml_scalar(env[name]) for name, key in SEED_ENV_VARS.items() if env.get(name)}
    if seed_risk:
        out["risk"] = seed_risk
    for name, raw in env.items():
        if not name.startswith("COCKPIT_") or "__" not in name:
            continue
        path = name[len("COCKPIT_") :].lower().split("__")
        value = _toml_scalar(raw)
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = value
    return out


def normalize_execution_map(v: dict) -> dict[str, str]:
    """``[execution_map]`` upper-cased and checked (each side a symbol, no symbol its own
    proxy, no proxy itself a key); ValueError naming the key. The config's validator, and
    the backtest's reading of the map before it loads the data (the index and its proxy)."""
    out: dict[str, str] = {}
    for key, proxy in v.items():
        k, p = str(key).strip().upper(), str(proxy).strip().upper()
        for s in (k, p):
            if not s or not all(c.isalnum() or c in ".-/_" for c in s):
                raise ValueError(f"execution_map.{key} = {proxy!r}: {s!r} is not a symbol (letters, digits, . - / _)")
        if k == p:
            raise ValueError(f"execution_map.{key} = {proxy!r}: a symbol cannot be its own proxy")
        out[k] = p
    for k, p in out.items():
        if p in out:
            raise ValueError(f"execution_map.{k} = {p!r}: {p} is itself mapped (to {out[p]!r}); "
                             "a proxy must be a traded symbol, not another key")
    return out


def parse_config(data: dict, source: Union[str, Callable[[tuple], str]] = "config") -> CockpitConfig:
    """Validate ``data``; a ConfigError names each bad key and where its value came
    from (``source``: a name, or a function of the key's path, see load_config)."""
    try:
        return CockpitConfig.model_validate(data)
    except ValidationError as exc:
        source_of = source if callable(source) else (lambda loc: source)
        lines = [_describe(e, source_of(tuple(str(p) for p in e["loc"]))) for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def _has_path(data: dict, loc: tuple) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return bool(loc)


def value_source(loc: tuple, overrides: dict, env_data: dict, file_source: str) -> str:
    """Where the value at ``loc`` came from, by precedence: a command-line flag,
    an environment variable (named), the config file, the built-in defaults."""
    if _has_path(overrides, loc):
        return "command line"
    if _has_path(env_data, loc):
        if loc[0] == "endpoints":
            names = [name for name, key in ENDPOINT_ENV_VARS.items() if len(loc) > 1 and key == loc[1]]
            if names:
                return f"environment {names[0]}"
        return "environment COCKPIT_" + "__".join(p.upper() for p in loc)
    return file_source


def read_toml(path: Union[str, Path]) -> dict:
    """A cockpit.toml's tables; a missing file or bad TOML is a ConfigError naming the file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def load_config(
    path: Optional[Union[str, Path]] = None,
    overrides: Optional[dict] = None,
    env: Optional[dict[str, str]] = None,
) -> CockpitConfig:
    """Load cockpit.toml (if given and present), then env, then CLI ``overrides``."""
    data: dict = {}
    source = "defaults"
    if path is not None:
        data = read_toml(path)
        source = str(Path(path))
    env_data = _env_overrides(dict(os.environ) if env is None else env)
    data = _deep_merge(data, env_data)
    if overrides:
        data = _deep_merge(data, overrides)
    return parse_config(data, lambda loc: value_source(loc, overrides or {}, env_data, source))


def default_config_path() -> Optional[Path]:
    """./cockpit.toml if present, else the one shipped with the project (if any)."""
    here = Path.cwd() / "cockpit.toml"
    if here.exists():
        return here
    shipped = Path(__file__).resolve().parent.parent / "cockpit.toml"
    return shipped if shipped.exists() else None
