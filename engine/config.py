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
from typing import Any, Literal, Optional, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .model import Mode

FeedKind = Literal["synthetic", "replay", "alpaca", "polygon"]
SessionKind = Literal["us_equity", "24h_utc", "24h_chicago"]
DataFeed = Literal["iex", "sip"]  # Alpaca market data: IEX (free) or SIP (all exchanges)
SetupName = Literal["auction", "trend_model", "mean_reversion", "sma_cross"]
Objective = Literal["sharpe", "profit_factor", "expectancy"]  # what a sweep ranks by
ThemeName = Literal["dark", "light", "high-contrast"]
ImportTimeframe = Literal["1Min", "trades"]  # what the REST importers fetch: one-minute bars, or every trade

SETUP_NAMES: tuple[str, ...] = get_args(SetupName)
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
        out = [s.strip().upper() for s in v]
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
    entry_type: Literal["market", "limit"] = "market"
    limit_timeout_s: float = Field(30.0, gt=0)


class StrategyParams(_Section):
    """Every threshold of STRATEGY.md. Per-symbol overrides and sweeps vary these."""

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
    lvn_alert_atr: float = Field(0.0, ge=0)  # 0 = use lvn_alert_pct
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
    # 11. exits
    target1_r: float = Field(0.0, ge=0)  # 0 = no partial exit
    partial_fraction: float = Field(0.5, gt=0, lt=1)
    trail_activate_r: float = Field(0.0, ge=0)  # 0 = no trailing stop
    trail_atr: float = Field(1.0, gt=0)
    trade_timeout_min: float = Field(0.0, ge=0)  # 0 = no time exit
    flat_before_close_min: float = Field(5.0, ge=0)  # 0 = hold through the close

    @field_validator("setups")
    @classmethod
    def _setups(cls, v: list[str]) -> list[str]:
        allowed = SETUP_NAMES
        for name in v:
            if name not in allowed:
                raise ValueError(f"unknown setup {name!r}; allowed: {', '.join(allowed)}")
        return v


class StrategyConfig(StrategyParams):
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per symbol

    def for_symbol(self, symbol: str) -> StrategyParams:
        """The parameters a symbol trades with: the defaults plus its overrides."""
        base = self.model_dump(exclude={"overrides"})
        base.update(self.overrides.get(symbol, {}))
        return StrategyParams(**base)


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
    risk_per_trade_pct: float = Field(0.5, gt=0, le=100)  # percent of equity risked per trade
    # > 0: every entry is this many shares (still capped by buying power and
    # max_position_notional) instead of the risk-based size; 0 = risk-based sizing
    fixed_qty: int = Field(0, ge=0)
    max_position_notional: float = Field(50_000.0, gt=0)
    max_positions: int = Field(3, ge=1)
    max_open_orders: int = Field(10, ge=1)
    max_daily_loss_pct: float = Field(2.0, gt=0, le=100)
    min_account_balance: float = Field(2_000.0, ge=0)
    # new entries only inside [start, end), HH:MM in the session's own time zone (ET for
    # us_equity, UTC for 24h_utc, Chicago for 24h_chicago); "" = the session's default
    # window: 09:35-15:50 ET for US stocks, the whole day for a 24-hour market
    trading_start: str = ""
    trading_end: str = ""
    allow_symbols: list[str] = Field(default_factory=list)  # empty = all
    deny_symbols: list[str] = Field(default_factory=list)
    max_consecutive_losses: int = Field(4, ge=1)
    # block a signal whose target is less than this many R away (0 = no minimum)
    min_reward_risk: float = Field(1.0, ge=0)
    stale_after_s: float = Field(15.0, gt=0)

    @field_validator("trading_start", "trading_end")
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


class SessionPolicy(_Section):
    start: str
    end: str
    setup: Optional[str]


class SessionsConfig(_Section):
    policy: list[SessionPolicy] = Field(
        default_factory=lambda: [
            SessionPolicy(start="09:30", end="11:00", setup="trend_model"),
            SessionPolicy(start="11:00", end="14:00", setup="mean_reversion"),
            SessionPolicy(start="14:00", end="16:00", setup="trend_model"),
        ]
    )
    # when true, only the recommended setup of the current window may trade
    enforce_policy: bool = False


class UIConfig(_Section):
    refresh_hz: float = Field(4.0, gt=0, le=60)
    theme: ThemeName = "dark"
    bell: bool = True
    keys: dict[str, str] = Field(default_factory=dict)  # action -> key, overrides the defaults


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
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    ui: UIConfig = Field(default_factory=UIConfig)
    endpoints: EndpointsConfig = Field(default_factory=EndpointsConfig)

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
    value = err.get("input")
    msg = err["msg"]
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        msg = f"allowed: {ctx['expected']}"
    return f"{source}: {key} = {value!r} is not valid: {msg}"


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _env_overrides(env: dict[str, str]) -> dict:
    """COCKPIT_FEED__SPEED=10 -> {"feed": {"speed": "10"}}; values parsed as TOML scalars.
    COCKPIT_POLYGON_URL=URL (ENDPOINT_ENV_VARS) -> {"endpoints": {"polygon_rest": URL}}."""
    out: dict = {}
    endpoints = {key: env[name] for name, key in ENDPOINT_ENV_VARS.items() if env.get(name)}
    if endpoints:
        out["endpoints"] = endpoints
    for name, raw in env.items():
        if not name.startswith("COCKPIT_") or "__" not in name:
            continue
        path = name[len("COCKPIT_") :].lower().split("__")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = value
    return out


def parse_config(data: dict, source: str = "config") -> CockpitConfig:
    try:
        return CockpitConfig.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e, source) for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def load_config(
    path: Optional[Union[str, Path]] = None,
    overrides: Optional[dict] = None,
    env: Optional[dict[str, str]] = None,
) -> CockpitConfig:
    """Load cockpit.toml (if given and present), then env, then CLI ``overrides``."""
    data: dict = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
        source = str(p)
    data = _deep_merge(data, _env_overrides(dict(os.environ) if env is None else env))
    if overrides:
        data = _deep_merge(data, overrides)
    return parse_config(data, source)


def default_config_path() -> Optional[Path]:
    """./cockpit.toml if present, else the one shipped with the project (if any)."""
    here = Path.cwd() / "cockpit.toml"
    if here.exists():
        return here
    shipped = Path(__file__).resolve().parent.parent / "cockpit.toml"
    return shipped if shipped.exists() else None
