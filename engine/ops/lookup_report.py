"""Provider look-ups in figures, for ``cockpit doctor``: requests and errors per
endpoint kind, cache hit rates per kind and the rate limit's holds. From this
process (the doctor's own checks), or from a running cockpit's metrics text
(``--metrics-port``), which holds the same figures for the whole run."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .cache import CACHE_STATS
from .provider_stats import PROVIDER_STATS
from .rate_limit import RATE_LIMITS


@dataclass
class LookupReport:
    source: str  # "this process" | the metrics URL
    requests: dict[str, dict[str, float]] = field(default_factory=dict)  # "provider endpoint" -> requests/errors/429
    caches: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> hits/misses/hit_ratio
    rate_limit_holds: float = 0.0
    answered: bool = True  # False: the metrics endpoint asked for did not answer

    def as_dict(self) -> dict:
        return {"source": self.source, "answered": self.answered, "requests": self.requests, "caches": self.caches,
                "rate_limit_holds": self.rate_limit_holds}

    def lines(self) -> list[str]:
        out = [f"look-ups ({self.source}):"]
        if not self.answered:
            return out
        for key, c in sorted(self.requests.items()):
            out.append(f"  {key}: {c.get('requests', 0):.0f} requests, {c.get('errors', 0):.0f} errors, "
                       f"{c.get('rate_limited', 0):.0f} answered 429")
        for kind, c in sorted(self.caches.items()):
            out.append(f"  cache {kind}: {c.get('hit_ratio', 0) * 100:.0f}% hits "
                       f"({c.get('hits', 0):.0f} of {c.get('hits', 0) + c.get('misses', 0):.0f})")
        if not self.requests and not self.caches:
            out.append("  none yet")
        out.append(f"  held by the client-side rate limit: {self.rate_limit_holds:.0f} request(s)")
        return out


def this_process() -> LookupReport:
    report = LookupReport("this process")
    for c in PROVIDER_STATS.counts():
        report.requests[f"{c.provider} {c.endpoint}"] = {"requests": c.requests, "errors": c.errors,
                                                         "rate_limited": c.rate_limited}
    for c in CACHE_STATS.counts():
        report.caches[c.kind] = {"hits": c.hits, "misses": c.misses, "hit_ratio": c.hit_ratio}
    report.rate_limit_holds = RATE_LIMITS.held
    return report


def from_metrics_text(text: str, source: str) -> LookupReport:
    """The same figures read back from the metrics endpoint's exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    report = LookupReport(source)
    requests: dict[str, dict[str, float]] = defaultdict(dict)
    caches: dict[str, dict[str, float]] = defaultdict(dict)
    names = {"cockpit_provider_requests_total": "requests", "cockpit_provider_errors_total": "errors",
             "cockpit_provider_rate_limited_total": "rate_limited"}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name in names:
                requests[f"{s.labels['provider']} {s.labels['endpoint']}"][names[s.name]] = s.value
            elif s.name == "cockpit_cache_lookups_total":
                caches[s.labels["kind"]]["hits" if s.labels["result"] == "hit" else "misses"] = s.value
            elif s.name == "cockpit_cache_hit_ratio":
                caches[s.labels["kind"]]["hit_ratio"] = s.value
            elif s.name == "cockpit_provider_rate_limit_holds_total":
                report.rate_limit_holds = s.value
    report.requests, report.caches = dict(requests), dict(caches)
    return report
