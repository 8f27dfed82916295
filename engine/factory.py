"""Build an Engine from a validated config: the one place that decides which
feed, broker, clock and store a run uses. The default needs no keys and no
network: the seeded simulator, the simulated paper broker, data time."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

from .analytics.session import SessionCalendar
from .brokers.paper import PaperBroker
from .clock import Clock, DataClock, WallClock
from .config import CockpitConfig, ConfigError
from .engine import Engine


def build_feed(config: CockpitConfig, clock: Clock):
    kind = config.feed.kind
    data_clock = clock if isinstance(clock, DataClock) else None
    if kind == "synthetic":
        from .feeds.synthetic import SyntheticFeed

        day = date.fromisoformat(config.feed.sim_date) if config.feed.sim_date else None
        return SyntheticFeed(symbols=tuple(config.app.symbols), seed=config.app.seed, session_date=day,
                             speed=config.feed.speed, clock=data_clock)
    if kind == "replay":
        from .feeds.replay import ReplayFeed

        if not config.feed.file:
            raise ConfigError("feed.kind = 'replay' needs feed.file (--file PATH): a trades CSV or 1-minute bars CSV")
        path = Path(config.feed.file)
        if not path.exists():
            raise ConfigError(f"feed.file = {str(path)!r} does not exist")
        return ReplayFeed(path, symbol=config.app.symbols[0], speed=config.feed.speed, clock=data_clock)
    raise ConfigError(f"feed.kind = {kind!r} needs the live connection modules (alpaca/polygon keys); "
                      "allowed without keys: 'synthetic', 'replay'")


def build_clock(config: CockpitConfig) -> Clock:
    return DataClock() if config.feed.kind in ("synthetic", "replay") else WallClock()


def build_engine(config: CockpitConfig, *, clock: Optional[Clock] = None, store=None,
                 use_store: bool = True) -> Engine:
    """Wire a ready-to-start Engine. ``store`` may be an opened Store; otherwise one is
    opened at config.app.db (the user data dir by default) when the engine starts,
    on the event loop that runs it, unless use_store is False."""
    clock = clock or build_clock(config)
    feed = build_feed(config, clock)
    if config.broker.kind == "paper":
        broker = PaperBroker(config.broker, clock, config.app.symbols)
    else:
        raise ConfigError("broker.kind = 'alpaca' needs APCA_API_KEY_ID / APCA_API_SECRET_KEY; allowed without keys: 'paper'")
    opener = None
    if store is None and use_store:
        async def opener():
            from .store import Store

            return await Store.open(config.app.db or None)
    calendar = SessionCalendar(config.feed.session, config.sessions.policy)
    return Engine(config, feed, broker, clock, store=store, calendar=calendar, store_opener=opener)
