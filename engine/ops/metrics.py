"""The Prometheus view of a run (``--metrics-port``).

The engine's state changes on the event loop; Prometheus scrapes on the HTTP
server's thread. So the loop *publishes* a ``MetricsView`` (plain numbers, made
from the engine's own published figures: ``Engine.summary()``, the feed's
status, the store's status, the provider counts) and the collector serves the
last one published. Nothing on the scrape thread touches the engine.

Counters are cumulative for the run (they restart at zero with a new process,
which Prometheus' ``rate()`` handles).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Optional

from prometheus_client import ProcessCollector
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric

from ..model import StoreHealth
from .cache import CACHE_STATS, CacheCount
from .provider_stats import PROVIDER_STATS, ProviderCount
from .rate_limit import RATE_LIMITS

if TYPE_CHECKING:
    from ..engine import Engine

PREFIX = "cockpit"


@dataclass(frozen=True)
class MetricsView:
    """Everything the endpoint serves, as of one moment on the event loop."""

    signals: dict[tuple[str, str], int] = field(default_factory=dict)  # (setup, decision) -> count
    blocks: dict[str, int] = field(default_factory=dict)  # RiskRule value -> count
    orders: int = 0
    fills: int = 0
    rejections: int = 0
    open_positions: int = 0
    day_pnl: float = 0.0
    equity: float = 0.0
    malformed: int = 0
    lvn_alerts: int = 0
    feed: str = ""
    feed_connected: bool = False
    feed_lag_s: float = 0.0
    feed_reconnects: int = 0
    store_backlog: int = 0
    store_not_recorded: int = 0
    store_failing: bool = False
    providers: tuple[ProviderCount, ...] = ()
    caches: tuple[CacheCount, ...] = ()
    rate_limit_holds: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    alerts_dropped: int = 0


def metrics_view(engine: "Engine", alerts: Optional[object] = None) -> MetricsView:
    """The view of ``engine`` now; ``alerts`` is the webhook sender (its counts), if any."""
    s = engine.summary()
    status = engine.feed.status()
    store = engine.recorder.store_status()
    return MetricsView(
        signals={(setup, d): n for setup, by in s["signals_by_setup"].items() for d, n in by.items()},
        blocks=dict(s["blocked_reasons"]), orders=s["orders"], fills=s["fills"], rejections=s["rejections"],
        open_positions=s["open_positions"], day_pnl=s["day_pnl"], equity=s["equity"], malformed=s["malformed"],
        lvn_alerts=s["lvn_alerts"], feed=status.name, feed_connected=status.connected, feed_lag_s=status.lag_s,
        feed_reconnects=status.reconnects, store_backlog=store.backlog, store_not_recorded=store.not_recorded,
        store_failing=store.health is StoreHealth.FAILING, providers=tuple(PROVIDER_STATS.counts()),
        caches=tuple(CACHE_STATS.counts()), rate_limit_holds=RATE_LIMITS.held,
        alerts_sent=getattr(alerts, "sent", 0), alerts_failed=getattr(alerts, "failed", 0),
        alerts_dropped=getattr(alerts, "dropped", 0),
    )


class CockpitCollector:
    """A prometheus_client collector serving the last published view."""

    def __init__(self) -> None:
        self._view = MetricsView()

    def publish(self, view: MetricsView) -> None:
        self._view = view  # one reference swap: the scrape thread sees the old view or the new one

    def collect(self) -> Iterator[Metric]:
        v = self._view
        p = PREFIX
        sig = CounterMetricFamily(f"{p}_signals", "Signals by setup and decision (approved, rejected, expired, "
                                  "blocked, dropped, watched, auto)", labels=["setup", "decision"])
        for (setup, decision), n in sorted(v.signals.items()):
            sig.add_metric([setup, decision], n)
        yield sig
        blocks = CounterMetricFamily(f"{p}_signal_blocks", "Signals blocked, by the risk rule that blocked them",
                                     labels=["rule"])
        for rule, n in sorted(v.blocks.items()):
            blocks.add_metric([rule], n)
        yield blocks
        yield CounterMetricFamily(f"{p}_orders", "Orders sent to the broker", value=v.orders)
        yield CounterMetricFamily(f"{p}_fills", "Fills reported by the broker", value=v.fills)
        yield CounterMetricFamily(f"{p}_order_rejections", "Orders the broker rejected", value=v.rejections)
        yield CounterMetricFamily(f"{p}_malformed_items", "Market data items skipped as malformed", value=v.malformed)
        yield CounterMetricFamily(f"{p}_lvn_alerts", "LVN alerts raised", value=v.lvn_alerts)
        yield GaugeMetricFamily(f"{p}_open_positions", "Open positions", value=v.open_positions)
        yield GaugeMetricFamily(f"{p}_day_pnl_dollars", "Day P&L of the account (equity - start of day)",
                                value=v.day_pnl)
        yield GaugeMetricFamily(f"{p}_equity_dollars", "Account equity", value=v.equity)
        connected = GaugeMetricFamily(f"{p}_feed_connected", "1 while the market data feed is connected",
                                      labels=["feed"])
        connected.add_metric([v.feed], 1.0 if v.feed_connected else 0.0)
        yield connected
        lag = GaugeMetricFamily(f"{p}_feed_lag_seconds", "Seconds since the last market data item's time",
                                labels=["feed"])
        lag.add_metric([v.feed], v.feed_lag_s)
        yield lag
        rec = CounterMetricFamily(f"{p}_feed_reconnects", "Feed connections re-made after a drop", labels=["feed"])
        rec.add_metric([v.feed], v.feed_reconnects)
        yield rec
        requests = CounterMetricFamily(f"{p}_provider_requests", "HTTP requests to the data vendor and broker",
                                       labels=["provider", "endpoint"])
        errors = CounterMetricFamily(f"{p}_provider_errors", "Requests that failed (HTTP >= 400 or no answer)",
                                     labels=["provider", "endpoint"])
        limited = CounterMetricFamily(f"{p}_provider_rate_limited", "Requests answered 429",
                                      labels=["provider", "endpoint"])
        for c in v.providers:
            requests.add_metric([c.provider, c.endpoint], c.requests)
            errors.add_metric([c.provider, c.endpoint], c.errors)
            limited.add_metric([c.provider, c.endpoint], c.rate_limited)
        yield from (requests, errors, limited)
        yield CounterMetricFamily(f"{p}_provider_rate_limit_holds", "Requests the client-side rate limit held "
                                  "until their budget had room", value=v.rate_limit_holds)
        yield GaugeMetricFamily(f"{p}_store_backlog_records", "Records recorded but not written to the store yet",
                                value=v.store_backlog)
        yield GaugeMetricFamily(f"{p}_store_not_recorded_records", "Records whose write failed and has not "
                                "succeeded since", value=v.store_not_recorded)
        yield GaugeMetricFamily(f"{p}_store_failing", "1 while store writes fail", value=1.0 if v.store_failing else 0.0)
        lookups = CounterMetricFamily(f"{p}_cache_lookups", "Provider look-ups served by the TTL cache (hit) or "
                                      "the provider (miss)", labels=["kind", "result"])
        ratio = GaugeMetricFamily(f"{p}_cache_hit_ratio", "Hits / look-ups of the TTL cache", labels=["kind"])
        for c in v.caches:
            lookups.add_metric([c.kind, "hit"], c.hits)
            lookups.add_metric([c.kind, "miss"], c.misses)
            ratio.add_metric([c.kind], c.hit_ratio)
        yield from (lookups, ratio)
        alerts = CounterMetricFamily(f"{p}_alerts", "Webhook alerts by outcome (sent, failed after retries, "
                                     "dropped because the queue was full)", labels=["outcome"])
        alerts.add_metric(["sent"], v.alerts_sent)
        alerts.add_metric(["failed"], v.alerts_failed)
        alerts.add_metric(["dropped"], v.alerts_dropped)
        yield alerts


def make_registry(collector: CockpitCollector) -> CollectorRegistry:
    """A registry of its own (not the library's global one, so two runs in one
    process never collide): the cockpit's metrics and the process' own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)  # the process' memory, CPU and open files, for the dashboard
    return registry
