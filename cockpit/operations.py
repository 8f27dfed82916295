"""The run's outward services, beside the engine on its event loop: the
Prometheus endpoint (``--metrics-port``) and the alert webhook (``[notify]``).

Both are fed from the loop the engine runs on: a task publishes the engine's
figures to the metrics collector every ``PUBLISH_S`` (the HTTP server's thread
only reads the last view published) and lets the alert watcher look at the
feed's connection; the webhook sender is another task with a bounded queue.
Nothing here can hold the engine up: publishing is a few dict copies, alerts
are queued (oldest dropped, counted, when full).
"""
from __future__ import annotations

import asyncio
import ipaddress
import sys
from dataclasses import dataclass
from typing import Optional

from engine.config import ConfigError
from engine.ops.metrics import CockpitCollector, make_registry, metrics_view

PUBLISH_S = 0.5
DEFAULT_METRICS_HOST = "127.0.0.1"


@dataclass(frozen=True)
class MetricsAddress:
    host: str
    port: int  # 0 = any free port (tests); the bound one is Operations.metrics_port


def metrics_address(port: Optional[int], host: Optional[str]) -> Optional[MetricsAddress]:
    """``--metrics-port`` / ``--metrics-host`` checked; None when the endpoint is off."""
    if port is None:
        if host is not None:
            raise ConfigError("--metrics-host needs --metrics-port (the endpoint is off by default)")
        return None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--metrics-port {port} is not valid: allowed: 1-65535 (0 = any free port)")
    host = host or DEFAULT_METRICS_HOST
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ConfigError(f"--metrics-host {host!r} is not valid: allowed: an IP address of this machine "
                              f"(default {DEFAULT_METRICS_HOST}; 0.0.0.0 = every interface)") from None
    return MetricsAddress(host, port)


class Operations:
    """Start with ``async with Operations(engine, config, address):`` around the run."""

    def __init__(self, engine, config, metrics: Optional[MetricsAddress] = None) -> None:
        self.engine = engine
        self.config = config
        self.metrics = metrics
        self.collector = CockpitCollector()
        self.alerts = None  # the webhook sender, when [notify] webhook_url is set
        self.watcher = None
        self._server = None
        self._tasks: list[asyncio.Task] = []

    @property
    def metrics_port(self) -> Optional[int]:
        return self._server.server_port if self._server is not None else None

    @property
    def active(self) -> bool:
        return self.metrics is not None or self.alerts is not None

    async def __aenter__(self) -> "Operations":
        self._start_alerts()
        if self.metrics is not None:
            from prometheus_client import start_http_server

            self.publish()
            try:
                self._server, _ = start_http_server(self.metrics.port, addr=self.metrics.host,
                                                    registry=make_registry(self.collector))
            except OSError as exc:
                raise ConfigError(f"--metrics-port {self.metrics.port}: cannot listen on "
                                  f"{self.metrics.host}:{self.metrics.port} ({exc.strerror or exc})") from None
            print(f"cockpit: metrics on http://{self.metrics.host}:{self.metrics_port}/metrics", file=sys.stderr)
        if self.active:
            self._tasks.append(asyncio.create_task(self._publish_loop(), name="ops-publish"))
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        if self.alerts is not None:
            await self.alerts.close()
        self.publish()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def publish(self) -> None:
        """The engine's figures, as of now, to the collector; the watcher looks at the feed."""
        if self.watcher is not None:
            self.watcher.check_feed(self.engine.feed.status(), self.engine.clock.now_ns())
        if self.metrics is not None:
            self.collector.publish(metrics_view(self.engine, self.alerts))

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(PUBLISH_S)
            self.publish()

    def _start_alerts(self) -> None:
        """The webhook, when ``[notify] webhook_url`` is set: the watcher hears the
        engine's broker events and journal lines; the sender is a task of its own.
        A failed delivery is journaled (kind "notify", never an alert itself)."""
        notify = self.config.notify
        if not notify.webhook_url:
            return
        from engine.ops.alerts import AlertWatcher
        from engine.ops.webhook import WebhookSender

        recorder = self.engine.recorder
        self.alerts = WebhookSender.from_config(notify, report=lambda msg: recorder.log("warn", "notify", msg))
        self.watcher = AlertWatcher(notify, self.alerts.offer, self.engine.calendar.session_date)
        self.engine.recorder.add_journal_listener(self.watcher.on_journal)
        self.engine.add_broker_listener(self.watcher.on_broker_event)
        self._tasks.append(asyncio.create_task(self.alerts.run(), name="ops-webhook"))
