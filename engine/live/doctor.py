"""``cockpit doctor`` for Alpaca: can this machine trade and get data, and if not, why.

Each check answers one question in plain words and, when it fails, says what
to do about it. Keys are reported as set or not set, never shown. Every REST
call goes through alpaca-py's own clients (the same ones the broker and feed
use), off the event loop, with a short timeout. The data stream check speaks
the websocket protocol directly (connect, auth, subscribe, read the replies),
as alpaca-py does (msgpack), so it can read the refusals the client turns into
a bare "auth failed": 406 (another session holds the key's one data
connection) and 409 (the plan does not include this feed).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from .rest import AlpacaRestError, call_rest, harden_client
from .secrets import ENV_KEY_ID, ENV_SECRET_KEY, AlpacaKeys, redact


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, False, f"skipped: {why}", "fix the failed check above first")


def _auth_fix(paper: bool) -> str:
    kind = "paper" if paper else "live"
    other = "live" if paper else "paper"
    return (f"the keys were refused: make sure they are {kind}-trading keys (a {other} key does not work here), "
            "copy them again from the Alpaca dashboard, or regenerate them")


async def check_alpaca(
    keys: Optional[AlpacaKeys],
    *,
    paper: bool = True,
    feed: str = "iex",
    probe_symbol: str = "SPY",
    trading_url: Optional[str] = None,
    data_url: Optional[str] = None,
    stream_url: Optional[str] = None,
    stream_symbols: Sequence[str] = (),
    timeout_s: float = 5.0,
) -> list[CheckResult]:
    """Keys, reachability, account status and permissions, market clock, data
    entitlement, the data stream. Never raises for a failed check; each result
    says what is wrong and how to fix it, with every text redacted.
    ``trading_url`` / ``data_url`` / ``stream_url`` override Alpaca's own URLs;
    the stream is asked for the trades of ``stream_symbols`` (default the probe symbol)."""
    results: list[CheckResult] = []
    if keys is None or not keys.key_id or not keys.secret_key:
        results.append(CheckResult(
            "keys", False, f"{ENV_KEY_ID} / {ENV_SECRET_KEY} are not set",
            f"set {ENV_KEY_ID} and {ENV_SECRET_KEY} in the environment (both from the Alpaca dashboard, "
            "'API keys'), or put them in a key file readable only by you (chmod 600, COCKPIT_ALPACA_KEY_FILE)",
        ))
        for name in ("trading API", "account", "market clock", "market data", "data stream"):
            results.append(_skipped(name, "no keys"))
        return results
    results.append(CheckResult("keys", True, f"key id and secret are set (from {keys.source}); values not shown"))

    from alpaca.data.enums import DataFeed
    from alpaca.data.historical.stock import StockHistoricalDataClient
    from alpaca.data.requests import StockLatestTradeRequest
    from alpaca.trading.client import TradingClient

    trading = TradingClient(keys.key_id, keys.secret_key, paper=paper, url_override=trading_url)
    harden_client(trading, timeout_s)
    data = StockHistoricalDataClient(keys.key_id, keys.secret_key, url_override=data_url)
    harden_client(data, timeout_s)
    where = trading_url or ("paper-api.alpaca.markets" if paper else "api.alpaca.markets")

    async def call(fn: Any, *args: Any) -> Any:
        return await call_rest(fn, *args, rate_limit_retries=1)

    # reachability + keys accepted: one account request answers both
    try:
        account = await call(trading.get_account)
    except AlpacaRestError as err:
        if err.status is None:
            results.append(CheckResult(
                "trading API", False, f"cannot reach {where}: {err.message}",
                "check the internet connection, a proxy or firewall, and the Alpaca status page",
            ))
        elif err.status in (401, 403):
            results.append(CheckResult("trading API", False, f"{where} refused the keys (HTTP {err.status}): {err.message}",
                                       _auth_fix(paper)))
        else:
            results.append(CheckResult("trading API", False, f"{where} answered HTTP {err.status}: {err.message}",
                                       "try again in a minute; if it persists, check the Alpaca status page"))
        for name in ("account", "market clock", "market data", "data stream"):
            results.append(_skipped(name, "trading API not usable"))
        return results
    results.append(CheckResult("trading API", True, f"reached {where}; keys accepted ({'paper' if paper else 'LIVE'})"))

    status = str(getattr(account.status, "value", account.status))
    blocked = [label for label, flag in (("trading blocked", account.trading_blocked),
                                         ("account blocked", account.account_blocked),
                                         ("trading suspended by you", account.trade_suspended_by_user)) if flag]
    if status != "ACTIVE" or blocked:
        reasons = ", ".join([f"status {status}"] + blocked)
        results.append(CheckResult(
            "account", False, f"account {account.account_number} cannot trade: {reasons}",
            "open the Alpaca dashboard: finish onboarding or lift the block (a suspension you set is under "
            "'Account configuration'); contact Alpaca support if the account is restricted",
        ))
    else:
        detail = (f"account {account.account_number} ACTIVE; equity {float(account.equity or 0):,.2f}, "
                  f"buying power {float(account.buying_power or 0):,.2f}")
        if account.pattern_day_trader:
            detail += "; flagged pattern day trader"
        results.append(CheckResult("account", True, detail))

    try:
        clock = await call(trading.get_clock)
        if clock.is_open:
            results.append(CheckResult("market clock", True, f"market open; closes {clock.next_close.isoformat()}"))
        else:
            results.append(CheckResult("market clock", True, f"market closed; opens {clock.next_open.isoformat()}"))
    except AlpacaRestError as err:
        results.append(CheckResult("market clock", False, f"could not read the market clock: {err.message}",
                                   "try again in a minute; if it persists, check the Alpaca status page"))

    try:
        request = StockLatestTradeRequest(symbol_or_symbols=probe_symbol, feed=DataFeed(feed))
        latest = await call(data.get_stock_latest_trade, request)
        trade = latest.get(probe_symbol) if isinstance(latest, dict) else None
        if trade is None:
            results.append(CheckResult("market data", True, f"{feed} data permitted (no recent {probe_symbol} trade)"))
        else:
            results.append(CheckResult("market data", True,
                                       f"{feed} data permitted; last {probe_symbol} {float(trade.price):.2f}"))
    except AlpacaRestError as err:
        if err.status in (401, 403):
            fix = ("your plan does not include SIP data: set data_feed = \"iex\" under [feed] in cockpit.toml, "
                   "or subscribe to Alpaca's SIP data plan") if feed == "sip" else _auth_fix(paper)
            results.append(CheckResult("market data", False, f"{feed} data refused (HTTP {err.status}): {err.message}", fix))
        elif err.status is None:
            results.append(CheckResult("market data", False, f"cannot reach the data API: {err.message}",
                                       "check the internet connection, a proxy or firewall"))
        else:
            results.append(CheckResult("market data", False, f"data API answered HTTP {err.status}: {err.message}",
                                       "try again in a minute; if it persists, check the Alpaca status page"))
    url = stream_url or f"wss://stream.data.alpaca.markets/v2/{feed}"
    results.append(await check_data_stream(keys, url, list(stream_symbols) or [probe_symbol], feed, timeout_s))
    return results


def _decode(frame: Any) -> list:
    import msgpack

    msgs = msgpack.unpackb(frame) if isinstance(frame, (bytes, bytearray)) else json.loads(frame)
    return msgs if isinstance(msgs, list) else [msgs]


def _stream_refusal(code: Any, msg: str, symbols: list[str], feed: str) -> CheckResult:
    """An error the data stream sent at auth or subscribe, in plain words (Alpaca's
    market data streaming docs, error codes)."""
    said = redact(f"Alpaca {code}: {msg}")
    if code == 406 or "connection limit" in msg.lower():
        return CheckResult("data stream", False, f"another session holds this key's connection ({said})",
                           "stop the other cockpit or script streaming with this key (Alpaca allows one data "
                           "stream connection per key), then try again")
    if code == 409 or "insufficient subscription" in msg.lower():
        fix = ("set data_feed = \"iex\" under [feed] in cockpit.toml, or subscribe to Alpaca's SIP data plan"
               if feed == "sip" else "check the data plan in the Alpaca dashboard")
        return CheckResult("data stream", False, f"plan does not include real-time trades for "
                           f"{', '.join(symbols)} ({feed} feed; {said})", fix)
    if code in (401, 402):
        return CheckResult("data stream", False, f"the data stream refused the keys ({said})",
                           "copy the keys again from the Alpaca dashboard, or regenerate them")
    return CheckResult("data stream", False, f"the data stream answered {said}",
                       "try again in a minute; if it persists, check the Alpaca status page")


async def check_data_stream(keys: AlpacaKeys, url: str, symbols: list[str], feed: str = "iex",
                            timeout_s: float = 5.0) -> CheckResult:
    """Connect, authenticate and subscribe to ``symbols``' trades on Alpaca's data
    stream, then disconnect at once (holding the key's one connection longer
    would refuse the cockpit's own). A symbol the subscription reply leaves out
    is one the plan does not stream."""
    import msgpack
    from websockets.asyncio.client import connect

    try:
        async with asyncio.timeout(timeout_s * 2):
            async with connect(url, open_timeout=timeout_s, close_timeout=1,
                               additional_headers={"Content-Type": "application/msgpack"}) as ws:
                await ws.recv()  # [{"T": "success", "msg": "connected"}]
                await ws.send(msgpack.packb({"action": "auth", "key": keys.key_id, "secret": keys.secret_key}))
                first = (_decode(await ws.recv()) or [{}])[0]
                if first.get("T") == "error":
                    return _stream_refusal(first.get("code"), str(first.get("msg", "")), symbols, feed)
                await ws.send(msgpack.packb({"action": "subscribe", "trades": symbols}))
                while True:
                    for m in _decode(await ws.recv()):
                        if m.get("T") == "error":
                            return _stream_refusal(m.get("code"), str(m.get("msg", "")), symbols, feed)
                        if m.get("T") == "subscription":
                            granted = set(m.get("trades") or ())
                            missing = [s for s in symbols if s not in granted and "*" not in granted]
                            if missing:
                                return CheckResult(
                                    "data stream", False,
                                    f"plan does not include real-time trades for {', '.join(missing)} ({feed} feed)",
                                    "remove them from [app] symbols, or check the data plan in the Alpaca dashboard")
                            return CheckResult("data stream", True,
                                               f"{url} accepted the keys and trades of {', '.join(symbols)}")
    except (TimeoutError, asyncio.TimeoutError):
        return CheckResult("data stream", False, f"no answer from {url} within {timeout_s * 2:.0f}s",
                           "check the internet connection, a proxy or firewall, and the Alpaca status page")
    except Exception as exc:
        return CheckResult("data stream", False, f"cannot use {url}: {redact(f'{type(exc).__name__}: {exc}')}",
                           "check the internet connection, a proxy or firewall, and the Alpaca status page")
