"""Alerts out through a webhook (``[notify] webhook_url``): Slack-, Discord- or
plain-JSON-shaped bodies, sent by one task with retries.

Never blocking the engine: ``offer`` only appends to a bounded queue (when it
is full the oldest alert is dropped and counted) and wakes the sender task;
the HTTP post runs in a thread. Retried with exponential backoff, full jitter
(tenacity) on no answer, 429 and 5xx; another 4xx is the receiver refusing the
body, not retried. Every text goes through ``redact``, and the URL itself (a
webhook URL is a credential) never appears in an error: failures are told by
status and exception type only.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Callable, Optional

import requests
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from ..config import NotifyConfig
from ..live.secrets import redact, register_secret
from .alerts import Alert

log = logging.getLogger(__name__)
CLOSE_FLUSH_S = 3.0  # at the end of a run, how long the alerts still queued get to go out
COLOURS = {"fill": "#2eb67d", "daily_loss": "#e01e5a", "disconnect": "#ecb22e", "store": "#e01e5a"}


class RetryableWebhookError(Exception):
    """No answer, 429 or 5xx: worth another attempt."""


class WebhookRefused(Exception):
    """The receiver refused the body (4xx other than 429): retrying would not help."""


def payload(alert: Alert, style: str) -> dict[str, Any]:
    """The body for ``style`` ("slack", "discord" or "json"), every text redacted."""
    title, text = redact(alert.title), redact(alert.text)
    fields = [(k, redact(v)) for k, v in alert.fields]
    if style == "slack":
        body: dict[str, Any] = {"text": f"*{title}*\n{text}"}
        if fields:
            body["attachments"] = [{"color": COLOURS.get(alert.kind, "#888888"),
                                    "fields": [{"title": k, "value": v, "short": True} for k, v in fields]}]
        return body
    if style == "discord":
        body = {"username": "Cockpit", "content": f"**{title}**\n{text}"}
        if fields:
            body["embeds"] = [{"fields": [{"name": k, "value": v, "inline": True} for k, v in fields]}]
        return body
    return {"kind": alert.kind, "title": title, "text": text, "symbol": alert.symbol, "time": alert.time_label,
            "fields": dict(fields)}


class WebhookSender:
    def __init__(self, url: str, style: str = "slack", queue_size: int = 100, max_attempts: int = 5,
                 timeout_s: float = 5.0, initial_backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 report: Optional[Callable[[str], None]] = None) -> None:
        register_secret(url)
        self._url = url
        self.style = style
        self.queue_size = queue_size
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.report = report or (lambda message: log.warning("%s", message))
        self.queue: deque[Alert] = deque()
        self._wake = asyncio.Event()
        self._session = requests.Session()
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    @classmethod
    def from_config(cls, notify: NotifyConfig, report: Optional[Callable[[str], None]] = None) -> "WebhookSender":
        return cls(notify.webhook_url, notify.webhook_style, notify.queue_size, notify.max_attempts,
                   notify.timeout_s, report=report)

    def __repr__(self) -> str:  # never the URL
        return f"WebhookSender(style={self.style!r}, queued={len(self.queue)}, sent={self.sent})"

    # ------------------------------------------------------------------ the engine's side: never waits

    def offer(self, alert: Alert) -> None:
        if len(self.queue) >= self.queue_size:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(alert)
        self._wake.set()

    # ------------------------------------------------------------------ the sender task

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.queue:
                await self.deliver(self.queue.popleft())

    async def close(self) -> None:
        """The run is ending: what is still queued gets ``CLOSE_FLUSH_S`` to go out."""
        async def flush() -> None:
            while self.queue:
                await self.deliver(self.queue.popleft())

        try:
            await asyncio.wait_for(flush(), CLOSE_FLUSH_S)
        except asyncio.TimeoutError:
            self.report(f"webhook: {len(self.queue)} alert(s) not sent before the run ended")
        self._session.close()

    async def deliver(self, alert: Alert) -> bool:
        """One alert, with retries; False (counted, reported) when it could not go out."""
        body = payload(alert, self.style)
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.max_attempts),
                    wait=wait_random_exponential(multiplier=self.initial_backoff_s, max=self.max_backoff_s),
                    retry=retry_if_exception_type(RetryableWebhookError), reraise=True):
                with attempt:
                    await asyncio.to_thread(self._post, body)
        except (RetryableWebhookError, WebhookRefused) as exc:
            self.failed += 1
            self.report(f"webhook: {alert.kind} alert not sent: {exc}")
            return False
        self.sent += 1
        return True

    def _post(self, body: dict) -> None:
        try:
            response = self._session.post(self._url, json=body, timeout=self.timeout_s)
        except requests.RequestException as exc:  # its text holds the URL: only the type is told
            raise RetryableWebhookError(f"no answer ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryableWebhookError(f"HTTP {status}")
        if status >= 400:
            raise WebhookRefused(f"HTTP {status} (the receiver refused the body)")
