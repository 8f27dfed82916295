"""Alerts out through the webhook ([notify]): a local receiver on 127.0.0.1 gets
fills of a real AUTO session, retried deliveries, bounded queues, redacted text."""
from __future__ import annotations

import asyncio
from datetime import date

import pytest

from cockpit.operations import Operations
from engine.config import ConfigError, NotifyConfig, load_config
from engine.live.secrets import register_secret
from engine.model import NS_PER_S, FeedStatus, JournalEntry
from engine.ops.alerts import Alert, AlertWatcher
from engine.ops.webhook import WebhookSender, payload
from engine.recorder import Recorder
from engine.notify import Notifier
from engine.clock import FixedClock
from tests.factories import engine_config, paper_engine
from tests.standins.webhook import WebhookReceiver
from tests.waiting import wait_for

T0 = 1_700_000_000 * NS_PER_S


def alert(n: int = 0) -> Alert:
    return Alert("fill", f"Filled buy {n} SPY @ 500.00", "entry order ck-1", T0, "SPY", (("qty", str(n)),))


async def test_a_real_auto_session_posts_its_fills_to_the_webhook():
    with WebhookReceiver() as hook:
        config = engine_config("AUTO", notify={"webhook_url": hook.url, "webhook_style": "json"})
        engine = paper_engine(config)
        blocks: list[JournalEntry] = []
        engine.recorder.add_journal_listener(lambda e: blocks.append(e) if e.kind == "block" else None)
        async with Operations(engine, config) as ops:
            await engine.start()
            await engine.wait_done()
            await engine.tick()
            await wait_for(lambda: ops.alerts.sent == engine.counters["fills"], timeout=30, what="every fill posted")
            await engine.stop()
        fills = [b for b in hook.bodies if b["kind"] == "fill"]
        assert engine.counters["fills"] >= 1
        assert len(fills) == engine.counters["fills"]
        first = engine.fills[0]
        assert fills[0]["symbol"] == first.symbol
        assert fills[0]["fields"]["price"] == f"{first.price:.2f}"
        assert ops.alerts.dropped == 0 and ops.alerts.failed == 0
        # every block's journal line names its rule (what the daily-loss alert looks for)
        assert blocks and all(b.data["rule"] in engine.desk.block_reasons for b in blocks)


async def test_a_receiver_that_fails_twice_gets_the_alert_on_the_third_attempt():
    with WebhookReceiver() as hook:
        hook.fail_next(503, 429)
        sender = WebhookSender(hook.url, "slack", initial_backoff_s=0.01, max_backoff_s=0.02)
        assert await sender.deliver(alert(1))
        assert hook.attempts == 3
        assert hook.bodies == [payload(alert(1), "slack")]
        assert (sender.sent, sender.failed) == (1, 0)


async def test_a_refused_body_is_not_retried_and_is_reported_without_the_url():
    reports: list[str] = []
    with WebhookReceiver() as hook:
        hook.fail_next(400)
        sender = WebhookSender(hook.url, "discord", initial_backoff_s=0.01, report=reports.append)
        assert not await sender.deliver(alert())
        assert hook.attempts == 1 and sender.failed == 1
    assert reports and "HTTP 400" in reports[0]
    assert hook.path not in reports[0] and "127.0.0.1" not in reports[0]


async def test_no_receiver_at_all_gives_up_after_max_attempts_and_says_so():
    reports: list[str] = []
    sender = WebhookSender("http://127.0.0.1:9/hooks/secret-token-xyz", max_attempts=3, initial_backoff_s=0.01,
                           max_backoff_s=0.02, report=reports.append)
    assert not await sender.deliver(alert())
    assert sender.failed == 1
    assert "no answer" in reports[0] and "secret-token-xyz" not in reports[0]


def test_a_full_queue_drops_the_oldest_and_counts_it():
    sender = WebhookSender("http://127.0.0.1:9/x", queue_size=2)
    for n in range(5):
        sender.offer(alert(n))  # returns at once: nothing is sent here
    assert sender.dropped == 3
    assert [a.fields for a in sender.queue] == [(("qty", "3"),), (("qty", "4"),)]


def test_payloads_are_redacted_and_shaped_for_each_receiver():
    register_secret("sk-live-0123456789")
    a = Alert("store", "Store failure", "write failed with key sk-live-0123456789", T0)
    slack, discord, plain = (payload(a, s) for s in ("slack", "discord", "json"))
    assert "sk-live" not in str((slack, discord, plain))
    assert slack["text"].startswith("*Store failure*")
    assert discord["content"].startswith("**Store failure**")
    assert plain["kind"] == "store" and plain["time"] == "2023-11-14T22:13:20+00:00"


def watcher(sent: list, **notify) -> tuple[AlertWatcher, list[float]]:
    now = [0.0]
    w = AlertWatcher(NotifyConfig(**notify), sent.append, lambda ts: date(2024, 1, ts // (86_400 * NS_PER_S) % 28 + 1),
                     timer=lambda: now[0])
    return w, now


def test_the_daily_loss_gate_alerts_once_per_session_and_other_blocks_never():
    sent: list[Alert] = []
    w, _ = watcher(sent)
    block = lambda ts, rule: JournalEntry(ts, "warn", "block", f"blocked: {rule}", "SPY", {"signal_id": "s", "rule": rule})
    w.on_journal(block(T0, "max_positions"))
    w.on_journal(block(T0, "daily loss limit"))
    w.on_journal(block(T0 + 60 * NS_PER_S, "daily loss limit"))
    assert [a.kind for a in sent] == ["daily_loss"]
    w.on_journal(block(T0 + 86_400 * NS_PER_S, "daily loss limit"))  # the next session
    assert [a.kind for a in sent] == ["daily_loss", "daily_loss"]


def test_a_store_failure_journaled_by_the_recorder_becomes_an_alert():
    sent: list[Alert] = []
    w, _ = watcher(sent)
    recorder = Recorder(FixedClock(T0), Notifier(), 50)
    recorder.add_journal_listener(w.on_journal)
    recorder.log("info", "store", "store OK: caught up")
    recorder.log("error", "store", "store FAILING: disk full; 12 records kept, retried until they are written")
    assert [(a.kind, a.text[:19]) for a in sent] == [("store", "store FAILING: disk")]


def test_a_disconnect_alerts_only_past_the_threshold_and_its_return_too():
    sent: list[Alert] = []
    w, now = watcher(sent, disconnect_after_s=30)
    w.check_feed(FeedStatus("alpaca", connected=False))  # starting: not a disconnect
    w.check_feed(FeedStatus("alpaca", connected=True))
    w.check_feed(FeedStatus("alpaca", connected=False, message="disconnected; reconnecting in 2.0s"))
    now[0] = 29.0
    w.check_feed(FeedStatus("alpaca", connected=False))
    assert sent == []
    now[0] = 31.0
    w.check_feed(FeedStatus("alpaca", connected=False))
    w.check_feed(FeedStatus("alpaca", connected=False))
    assert [a.title for a in sent] == ["alpaca feed disconnected for 31 s"]
    now[0] = 40.0
    w.check_feed(FeedStatus("alpaca", connected=True))
    assert [a.title for a in sent][-1] == "alpaca feed reconnected"
    assert sent[-1].text == "after 40 s down"


def test_alert_on_limits_what_is_sent():
    sent: list[Alert] = []
    w, _ = watcher(sent, alert_on=["fill"])
    w.on_journal(JournalEntry(T0, "error", "store", "store FAILING: x"))
    assert sent == []


@pytest.mark.parametrize("url", ["ftp://hooks.example/T0KEN", "not a url T0KEN", "https://"])
def test_a_bad_webhook_url_names_the_key_and_hides_the_value(url):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides={"notify": {"webhook_url": url}}, env={})
    assert "notify.webhook_url = '<hidden>' is not valid" in str(err.value) and "https://" in str(err.value)
    assert "T0KEN" not in str(err.value)
