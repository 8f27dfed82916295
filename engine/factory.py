"""Build an Engine from a validated config: the one place that decides which
feed, broker, clock and store a run uses. The default needs no keys and no
network: the seeded simulator, the simulated paper broker, data time."""
from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import Optional

from .analytics.session import SessionCalendar
from .brokers.paper import PaperBroker
from .clock import Clock, DataClock, MonotonicClock, WallClock
from .config import CockpitConfig, ConfigError
from .engine import Engine


# feeds that hand out Quote items (pegged entries follow them); a replay only of a trades
# file with bid and ask columns (REPLAY_NEEDS_QUOTES)
QUOTING_FEEDS = ("synthetic", "alpaca", "polygon", "replay")
REPLAY_NEEDS_QUOTES = ("engine.entry_type = 'pegged' needs bid/ask quotes; feed.file = {file!r} has none ({why}); "
                       "replay a trades file with bid and ask columns (ts_ns,price,size,side,bid,ask), or use "
                       "entry_type 'market' or 'limit'")


def build_feed(config: CockpitConfig, clock: Clock, until_quit: bool = False):
    """The configured feed. ``until_quit``: the simulator goes on day after day unless
    feed.days says how many (the UI); otherwise it plays feed.days days, one by default."""
    from .ops.providers import configure

    configure(config.providers)  # look-up TTLs and rate limits for the vendors' clients
    kind = config.feed.kind
    urls = config.endpoints
    if config.engine.entry_type == "pegged" and kind not in QUOTING_FEEDS:
        # without quotes every pegged entry would only wait out peg_timeout_s and go to market
        raise ConfigError(f"engine.entry_type = 'pegged' needs a feed with bid/ask quotes; feed.kind = {kind!r} "
                          f"has none; allowed with pegged: {', '.join(QUOTING_FEEDS)}")
    if kind == "synthetic":
        from .feeds.synthetic import SyntheticFeed

        day = date.fromisoformat(config.feed.sim_date) if config.feed.sim_date else None
        days = config.feed.days or (None if until_quit else 1)
        return SyntheticFeed(symbols=tuple(config.feed_symbols), seed=config.app.seed, session_date=day,
                             speed=config.feed.speed, days=days, index_of=config.execution_map,
                             quotes=config.engine.entry_type == "pegged")  # a pegged entry follows the bid/ask
    if kind == "replay":
        from .feeds.quoted import has_quotes
        from .feeds.replay import ReplayFeed

        if not config.feed.file:
            raise ConfigError("feed.kind = 'replay' needs feed.file (--file PATH): a trades CSV or 1-minute bars CSV")
        path = Path(config.feed.file)
        if not path.exists():
            raise ConfigError(f"feed.file = {str(path)!r} does not exist")
        pegged = config.engine.entry_type == "pegged"
        feed = ReplayFeed(path, symbol=config.app.symbols[0], speed=config.feed.speed, quotes=pegged)
        if pegged and not has_quotes(feed.data):  # the quotes a pegged entry follows (feeds/quoted.py)
            why = "bars data" if feed.data.kind == "bars" else "no bid and ask columns, or every one empty"
            raise ConfigError(REPLAY_NEEDS_QUOTES.format(file=str(path), why=why))
        return feed
    if kind == "alpaca":
        from .feeds.alpaca import AlpacaFeed

        keys = _alpaca_keys("feed.kind = 'alpaca'")
        return AlpacaFeed(config.feed_symbols, keys.key_id, keys.secret_key, feed=config.feed.data_feed,
                          url_override=urls.alpaca_data_stream or None, data_url_override=urls.alpaca_data or None,
                          clock=clock, stale_after_s=config.risk.stale_after_s)
    if kind == "polygon":
        from .feeds.polygon import PolygonFeed, polygon_api_key

        key = polygon_api_key()
        if not key:
            raise ConfigError("feed.kind = 'polygon' needs POLYGON_API_KEY in the environment "
                              "(run `cockpit doctor` to check); allowed without keys: 'synthetic', 'replay'")
        return PolygonFeed(config.feed_symbols, key, ws_url=urls.polygon_ws or None,
                           rest_base=urls.polygon_rest or None, clock=clock,
                           quotes=config.engine.entry_type == "pegged")  # Q.SYM only for a pegged run
    raise ConfigError(f"feed.kind = {kind!r} is not known; allowed: synthetic, replay, alpaca, polygon")


def _alpaca_keys(what: str):
    from .live.secrets import SecretsError, install_log_redaction, load_alpaca_keys

    try:
        keys = load_alpaca_keys()
    except SecretsError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    if keys is None:
        raise ConfigError(f"{what} needs APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment "
                          "(or COCKPIT_ALPACA_KEY_FILE, a 0600 file); run `cockpit doctor` to check")
    install_log_redaction()
    return keys


def build_broker(config: CockpitConfig, clock: Clock, run_id: str = ""):
    from .ops.providers import configure

    configure(config.providers)
    if config.broker.kind == "paper" and not config.broker.live:
        prefix = f"paper-{run_id}" if run_id else "paper"
        return PaperBroker(config.broker, clock, config.feed_symbols, id_prefix=prefix)
    from .brokers.alpaca import AlpacaBroker

    keys = _alpaca_keys("broker.kind = 'alpaca'")
    return AlpacaBroker(keys.key_id, keys.secret_key, paper=not config.broker.live,
                        url_override=config.endpoints.alpaca_trading or None,
                        stream_url_override=config.endpoints.alpaca_trading_stream or None, clock=clock)


def build_options(config: CockpitConfig, *, live_feed_only: bool = True):
    """The options feedback gate's chain readings: Polygon's chain snapshot with
    POLYGON_API_KEY and a live feed (any feed with ``live_feed_only`` False: a look-up
    of today's chain, e.g. ``cockpit preview risk``); otherwise none, and the reason
    why (the gate then says "options data unavailable" with it)."""
    from .config import LIVE_FEEDS
    from .options_gate import OptionsFeedback

    refresh_s = config.providers.option_chains_ttl_s
    if live_feed_only and config.feed.kind not in LIVE_FEEDS:
        return OptionsFeedback(config.app.symbols, None, refresh_s=refresh_s,
                               no_source=f"Polygon's chain snapshot is today's market; a {config.feed.kind} feed "
                               "has no options data")
    from .feeds.polygon import fetch_option_chain, make_rest_client, polygon_api_key

    key = polygon_api_key()
    if not key:
        return OptionsFeedback(config.app.symbols, None, refresh_s=refresh_s,
                               no_source="POLYGON_API_KEY is not set (the chain comes from Polygon)")
    client = make_rest_client(key, config.endpoints.polygon_rest or None)
    return OptionsFeedback(config.app.symbols, lambda symbol: fetch_option_chain(client, symbol), refresh_s=refresh_s)


def build_clock(config: CockpitConfig) -> Clock:
    return DataClock() if config.feed.kind in ("synthetic", "replay") else WallClock()


def build_engine(config: CockpitConfig, *, clock: Optional[Clock] = None, store=None,
                 use_store: bool = True, fresh: bool = False, until_quit: bool = False) -> Engine:
    """Wire a ready-to-start Engine. ``store`` may be an opened Store; otherwise one is
    opened at config.app.db (the user data dir by default) when the engine starts,
    on the event loop that runs it, unless use_store is False. A simulated session
    resumes from the store unless ``fresh`` (engine/sim_resume.py); with ``until_quit``
    (the UI) it goes on day after day unless feed.days is set."""
    clock = clock or build_clock(config)
    feed = build_feed(config, clock, until_quit)
    # A simulated or replayed session can be run again into the same store: a short run
    # token keeps its signal, order and fill ids from overwriting the earlier run's.
    # Live ids are unique by wall time already (and must stay stable across a restart).
    run_id = secrets.token_hex(3) if config.feed.kind in ("synthetic", "replay") else ""
    broker = build_broker(config, clock, run_id)
    opener = None
    if store is None and use_store:
        from .store import Store
        from .store.lock import lock_store

        lock = lock_store(config.app.db or None)  # one trading process per store: refused here, before any UI

        async def opener():
            try:
                return await Store.open(config.app.db or None, lock=lock, exclusive=True)
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
    calendar = SessionCalendar(config.feed.session, config.sessions.policy_for(config.feed.session))
    from .live.secrets import redact

    engine = Engine(config, feed, broker, clock, store=store, calendar=calendar, store_opener=opener, redact=redact,
                    run_id=run_id, options=build_options(config) if config.risk.options_gate else None,
                    wall_clock=MonotonicClock())
    engine.start_fresh = fresh
    return engine
