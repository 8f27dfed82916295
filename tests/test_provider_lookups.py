"""Provider look-ups: TTL caches with hit counts, a client-side rate limit per
provider and endpoint kind, and both at work against the Polygon stand-in."""
from __future__ import annotations

import pytest

from engine.clock import FixedClock
from engine.config import ConfigError, load_config
from engine.feeds.polygon import PolygonFeed
from engine.ops.cache import CACHE_STATS, LOOKUPS, CacheStats, LookupCache
from engine.ops.provider_stats import PROVIDER_STATS
from engine.ops.providers import configure
from engine.ops.rate_limit import RATE_LIMITS, RateLimits
from tests.standins.polygon_rest import rest_agg
from tests.standins.testkit import POLYGON_KEY

T0_NS = 1_709_649_000_000_000_000  # 2024-03-05 14:30 UTC (09:30 ET)
MIN_NS = 60 * 10**9


def test_a_kept_answer_is_served_until_its_ttl_and_counted():
    now = [0.0]
    stats = CacheStats()
    cache = LookupCache({"quotes": 5.0, "bars": 0.0}, stats=stats, timer=lambda: now[0])
    calls: list[str] = []

    def fetch(value):
        return lambda: calls.append(value) or value

    assert cache.get("quotes", "AAPL", fetch("q1")) == "q1"
    now[0] = 4.9
    assert cache.get("quotes", "AAPL", fetch("q2")) == "q1"
    now[0] = 5.1
    assert cache.get("quotes", "AAPL", fetch("q3")) == "q3"
    assert cache.get("bars", "AAPL", fetch("b1")) == "b1" and cache.get("bars", "AAPL", fetch("b2")) == "b2"  # ttl 0
    assert calls == ["q1", "q3", "b1", "b2"]
    counts = {c.kind: (c.hits, c.misses, round(c.hit_ratio, 2)) for c in stats.counts()}
    assert counts == {"quotes": (1, 2, 0.33), "bars": (0, 2, 0.0)}


def test_a_failed_fetch_keeps_nothing():
    cache = LookupCache({"quotes": 5.0}, stats=CacheStats(), timer=lambda: 0.0)

    def boom():
        raise RuntimeError("vendor down")

    with pytest.raises(RuntimeError):
        cache.get("quotes", "AAPL", boom)
    assert cache.get("quotes", "AAPL", lambda: "ok") == "ok"


def test_requests_over_the_budget_are_held_but_a_delete_never_is():
    limits = RateLimits({"polygon": "3/second"})
    held = [limits.wait("polygon", "bars") for _ in range(4)]
    assert held[:3] == [0.0, 0.0, 0.0] and held[3] > 0  # the fourth waited for room (how long is not asserted)
    assert limits.held == 1
    assert limits.wait("polygon", "bars", "DELETE") == 0.0
    per_kind = RateLimits({"alpaca.orders": "1/minute"}, max_wait_s=0.05)
    assert per_kind.wait("alpaca", "orders") == 0.0
    assert per_kind.wait("alpaca", "account") == 0.0  # another kind: its own budget (alpaca's default)
    assert per_kind.wait("alpaca", "orders") > 0  # held, up to max_wait_s, then let go
    assert per_kind.held == 1


@pytest.mark.parametrize("limits, message", [
    ({"polgon": "5/minute"}, "'polgon' is not a provider"),
    ({"polygon.bar": "5/minute"}, "'polygon.bar' is not a provider"),
    ({"polygon": "fast"}, "polygon = 'fast' is not a rate"),
])
def test_a_bad_rate_limit_names_the_key(limits, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides={"providers": {"rate_limits": limits}}, env={})


async def test_polygon_bars_of_a_closed_range_are_fetched_once(polygon_rest):
    configure(load_config(None, overrides={"providers": {"bars_ttl_s": 300}}, env={}).providers)
    start = T0_NS
    polygon_rest.add_aggs("AAPL", [rest_agg((start + i * MIN_NS) // 10**6, 100, 101, 99, 100.5, 1000) for i in range(5)])
    feed = PolygonFeed(["AAPL"], POLYGON_KEY, rest_base=polygon_rest.base_url, clock=FixedClock(start + 60 * MIN_NS))
    hits_before = {c.kind: c.hits for c in CACHE_STATS.counts()}.get("bars", 0)
    requests_before = sum(c.requests for c in PROVIDER_STATS.counts() if c.provider == "polygon" and c.endpoint == "bars")
    first = await feed.backfill("AAPL", start, start + 5 * MIN_NS, "bars")
    again = await feed.backfill("AAPL", start, start + 5 * MIN_NS, "bars")
    assert len(first) == 5 and again == first
    assert len(polygon_rest.requests_to("/v2/aggs")) == 1
    assert {c.kind: c.hits for c in CACHE_STATS.counts()}["bars"] == hits_before + 1
    requests = sum(c.requests for c in PROVIDER_STATS.counts() if c.provider == "polygon" and c.endpoint == "bars")
    assert requests == requests_before + 1  # counted in the transport, by endpoint kind
    # a range whose last bar may still be open is always asked for
    open_feed = PolygonFeed(["AAPL"], POLYGON_KEY, rest_base=polygon_rest.base_url, clock=FixedClock(start + 5 * MIN_NS))
    await open_feed.backfill("AAPL", start, start + 5 * MIN_NS, "bars")
    await open_feed.backfill("AAPL", start, start + 5 * MIN_NS, "bars")
    assert len(polygon_rest.requests_to("/v2/aggs")) == 3


async def test_the_polygon_client_is_held_by_the_rate_limit(polygon_rest):
    configure(load_config(None, overrides={"providers": {"bars_ttl_s": 0, "rate_limits": {"polygon.bars": "2/second"}}},
                          env={}).providers)
    try:
        polygon_rest.add_aggs("AAPL", [rest_agg(T0_NS // 10**6, 100, 101, 99, 100.5, 1000)])
        feed = PolygonFeed(["AAPL"], POLYGON_KEY, rest_base=polygon_rest.base_url, clock=FixedClock(T0_NS + 3600 * 10**9))
        held_before = RATE_LIMITS.held
        for _ in range(3):
            await feed.backfill("AAPL", T0_NS, T0_NS + MIN_NS, "bars")
        assert RATE_LIMITS.held == held_before + 1
        assert len(polygon_rest.requests_to("/v2/aggs")) == 3
    finally:
        configure(load_config(None, env={}).providers)


def test_doctor_shows_a_running_cockpits_cache_hit_rates(monkeypatch, capsys):
    import json

    from prometheus_client import start_http_server

    from cockpit.cli import main
    from engine.ops.cache import CacheCount
    from engine.ops.metrics import CockpitCollector, MetricsView, make_registry
    from engine.ops.provider_stats import ProviderCount

    collector = CockpitCollector()
    collector.publish(MetricsView(caches=(CacheCount("bars", 3, 1),),
                                  providers=(ProviderCount("polygon", "bars", 4, 1, 0),), rate_limit_holds=2))
    server, _ = start_http_server(0, addr="127.0.0.1", registry=make_registry(collector))
    try:
        monkeypatch.delenv("POLYGON_API_KEY", raising=False)
        main(["doctor", "--only", "polygon", "--metrics-port", str(server.server_port), "--json"])
        lookups = json.loads(capsys.readouterr().out)["lookups"]
    finally:
        server.shutdown()
        server.server_close()
    assert lookups[0]["source"] == "this process"
    running = lookups[1]
    assert running["answered"] and running["caches"]["bars"] == {"hits": 3.0, "misses": 1.0, "hit_ratio": 0.75}
    assert running["requests"]["polygon bars"] == {"requests": 4.0, "errors": 1.0, "rate_limited": 0.0}
    assert running["rate_limit_holds"] == 2


def test_alpaca_market_data_does_not_spend_the_trading_budget():
    from engine.ops.rate_limit import alpaca_provider

    assert alpaca_provider("/v2/stocks/AAPL/bars") == alpaca_provider("/v2/stocks/trades/latest") == "alpaca_data"
    assert alpaca_provider("/v2/orders") == alpaca_provider("/v2/account") == "alpaca"
    limits = RateLimits({"alpaca_data": "1/minute"}, max_wait_s=0.05)
    assert limits.wait("alpaca_data", "bars") == 0.0
    assert limits.wait("alpaca", "orders") == 0.0  # an order right after a backfill: its own budget
    assert limits.wait("alpaca_data", "bars") > 0


def test_a_held_request_waits_until_the_window_resets_on_the_clock_it_is_given():
    """The wait is measured on the injected clock (not read from the system here): a
    clock that says the reset is 0.3 s away gives a pause of 0.3 s."""
    import time as _time

    pauses: list[float] = []

    class Behind:  # 0.7 s after now: the 1/second window resets 0.3 s later
        def now_ns(self) -> int:
            return _time.time_ns() + 700_000_000

    limits = RateLimits({"polygon": "1/second"}, max_wait_s=0.5, sleep=pauses.append, clock=Behind())
    assert limits.wait("polygon", "bars") == 0.0
    limits.wait("polygon", "bars")
    assert pauses and pauses[0] == pytest.approx(0.3, abs=0.05)
