"""The Prometheus endpoint (`cockpit run --metrics-port`), scraped on 127.0.0.1
while a real headless `python -m cockpit` run trades the simulated session."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cockpit.operations import metrics_address
from engine.config import ConfigError
from engine.ops.metrics import CockpitCollector, MetricsView, make_registry
from engine.ops.provider_stats import ProviderStats, endpoint_kind

ROOT = Path(__file__).resolve().parents[1]
SPEED = "600"  # the first fills come ~40 data minutes in: a few seconds of wall time


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of the endpoint: (name, sorted labels) -> value."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items() if n == name and all(dict(lab).get(k) == x for k, x in labels.items()))


def test_a_headless_run_serves_its_figures_on_127_0_0_1():
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", "run", "--headless", "--json", "--no-store",
                             "--feed", "synthetic", "--speed", SPEED, "--mode", "AUTO", "--metrics-port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # the first thing the run says: where the metrics are
        m = re.search(r"metrics on (http://127\.0\.0\.1:(\d+)/metrics)", line)
        assert m, line
        url = m.group(1)
        deadline = time.monotonic() + 120
        samples: dict = {}
        while total(samples, "cockpit_fills_total") < 1:  # a guard, not a measurement
            assert proc.poll() is None, f"the run ended ({proc.returncode}) before a fill was served"
            assert time.monotonic() < deadline, "no fill served within 120 s"
            samples = scrape(url)
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert total(samples, "cockpit_signals_total") >= 1
    assert total(samples, "cockpit_signals_total", decision="auto") >= 1
    assert total(samples, "cockpit_orders_total") >= 1
    assert ("cockpit_feed_connected", (("feed", "synthetic"),)) in samples
    assert ("cockpit_store_backlog_records", ()) in samples
    assert any(n == "cockpit_equity_dollars" and v > 0 for (n, _), v in samples.items())
    assert proc.returncode == 128 + signal.SIGTERM, err


def test_the_collector_serves_the_last_view_published():
    collector = CockpitCollector()
    registry = make_registry(collector)
    collector.publish(MetricsView(signals={("auction", "blocked"): 3}, blocks={"daily loss limit": 2}, day_pnl=-12.5))
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in registry.collect() for s in fam.samples}
    assert values[("cockpit_signals_total", (("decision", "blocked"), ("setup", "auction")))] == 3
    assert values[("cockpit_signal_blocks_total", (("rule", "daily loss limit"),))] == 2
    assert values[("cockpit_day_pnl_dollars", ())] == -12.5


def test_provider_requests_are_counted_by_endpoint_kind():
    stats = ProviderStats()
    stats.record("alpaca", "/v2/orders/ck-1a2b", 200)
    stats.record("alpaca", "/v2/orders", 429)
    stats.record("polygon", "/v2/aggs/ticker/AAPL/range/1/minute/1/2", None)
    got = {(c.provider, c.endpoint): (c.requests, c.errors, c.rate_limited) for c in stats.counts()}
    assert got == {("alpaca", "orders"): (2, 1, 1), ("polygon", "bars"): (1, 1, 0)}
    assert endpoint_kind("/v2/stocks/AAPL/quotes/latest") == "quotes"
    assert endpoint_kind("/v3/snapshot/options/AAPL") == "options"


@pytest.mark.parametrize("port, host, message", [
    (70000, None, "--metrics-port 70000 is not valid"),
    (None, "127.0.0.1", "--metrics-host needs --metrics-port"),
    (9100, "my host", "--metrics-host 'my host' is not valid"),
])
def test_bad_metrics_flags_name_the_flag(port, host, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        metrics_address(port, host)


def test_the_endpoint_is_off_by_default_and_local_when_on():
    assert metrics_address(None, None) is None
    assert metrics_address(9100, None).host == "127.0.0.1"


def test_the_grafana_dashboard_charts_only_metrics_the_endpoint_serves():
    import json

    dashboard = json.loads((ROOT / "cockpit" / "grafana_dashboard.json").read_text())
    registry = make_registry(CockpitCollector())
    served = {fam.name for fam in registry.collect()}
    served |= {f"{name}_total" for name in served}
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    for expr in exprs:
        names = set(re.findall(r"\bcockpit_[a-z_]+", expr))
        assert names and names <= served, (expr, names - served)
