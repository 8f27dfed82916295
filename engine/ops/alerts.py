"""Which events become an alert out (``[notify] alert_on``), and their words.

The watcher listens where the engine already tells: broker events after the
engine handled them (fills), the journal (a block whose rule is the daily-loss
gate; the store turning FAILING), and the feed's status, looked at by the
application's publisher every half second (a feed down longer than
``disconnect_after_s``, and its return). It only builds an ``Alert`` and hands
it to ``send`` (the webhook's non-blocking queue): nothing here waits.

The daily-loss gate blocks every entry until the next session; one alert per
session day says so, not one per blocked signal.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable, Optional

from ..config import NotifyConfig
from ..model import NS_PER_S, BrokerEvent, FeedStatus, JournalEntry
from ..risk import RiskRule


@dataclass(frozen=True)
class Alert:
    kind: str  # an engine.config.ALERT_KINDS value
    title: str
    text: str
    ts_ns: int  # the event's time (data time on a replay)
    symbol: Optional[str] = None
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def time_label(self) -> str:
        return datetime.fromtimestamp(self.ts_ns / NS_PER_S, tz=timezone.utc).isoformat(timespec="seconds")


class AlertWatcher:
    def __init__(self, notify: NotifyConfig, send: Callable[[Alert], None], session_date: Callable[[int], date],
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.enabled = set(notify.alert_on)
        self.disconnect_after_s = notify.disconnect_after_s
        self.send = send
        self.session_date = session_date
        self.timer = timer
        self._daily_loss_day: Optional[date] = None
        self._was_connected = False
        self._down_since: Optional[float] = None
        self._down_alerted = False

    # ------------------------------------------------------------------ engine events

    def on_broker_event(self, ev: BrokerEvent) -> None:
        if "fill" not in self.enabled or ev.kind not in ("fill", "partial_fill") or ev.fill is None:
            return
        f = ev.fill
        partial = " (partial)" if ev.kind == "partial_fill" else ""
        self.send(Alert("fill", f"Filled {f.side.value} {f.qty} {f.symbol} @ {f.price:.2f}{partial}",
                        f"{f.leg.value} order {f.client_order_id}", f.ts_ns, f.symbol,
                        (("symbol", f.symbol), ("side", f.side.value), ("qty", str(f.qty)),
                         ("price", f"{f.price:.2f}"), ("leg", f.leg.value))))

    def on_journal(self, entry: JournalEntry) -> None:
        if entry.kind == "block" and "daily_loss" in self.enabled:
            if (entry.data or {}).get("rule") == RiskRule.DAILY_LOSS.value:
                day = self.session_date(entry.ts_ns)
                if day != self._daily_loss_day:
                    self._daily_loss_day = day
                    self.send(Alert("daily_loss", "Daily loss limit: entries blocked until the next session",
                                    entry.message, entry.ts_ns, entry.symbol))
        elif entry.kind == "store" and entry.level == "error" and "store" in self.enabled:
            self.send(Alert("store", "Store failure", entry.message, entry.ts_ns))

    # ------------------------------------------------------------------ the feed, looked at regularly

    def check_feed(self, status: FeedStatus, now_ns: int = 0) -> None:
        """A feed that was connected and is down for ``disconnect_after_s`` (wall
        time: a disconnect is a real-world event) is one alert; its return another."""
        if "disconnect" not in self.enabled:
            return
        if status.connected or status.done:
            if self._down_alerted and status.connected:
                down_s = self.timer() - self._down_since if self._down_since is not None else 0.0
                self.send(Alert("disconnect", f"{status.name} feed reconnected",
                                f"after {down_s:.0f} s down", now_ns or status.last_data_ns))
            self._was_connected = self._was_connected or status.connected
            self._down_since, self._down_alerted = None, False
            return
        if not self._was_connected:
            return  # still starting: not a disconnect
        if self._down_since is None:
            self._down_since = self.timer()
        down_s = self.timer() - self._down_since
        if not self._down_alerted and down_s >= self.disconnect_after_s:
            self._down_alerted = True
            self.send(Alert("disconnect", f"{status.name} feed disconnected for {down_s:.0f} s",
                            status.message or "no market data", now_ns or status.last_data_ns,
                            fields=(("feed", status.name), ("down_s", f"{down_s:.0f}"))))
