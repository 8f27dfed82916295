"""``cockpit doctor`` for Polygon (Massive): is the key set, does the API answer
and accept it, is the key entitled to the symbols' trades, does the stream
accept it. Each check says, in plain words, what to do when it fails.

The key is reported as set or not set, never shown; every text is redacted.
REST goes through polygon-api-client (the same client the feed uses, with no
retries and a short timeout so a dead host fails fast); the stream check speaks
the websocket protocol directly (connect, auth, subscribe, read the status
replies) so it can read the "not authorized" answers the client would swallow.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Iterable, Optional

from ..config import endpoint_env_var
from ..feeds.polygon import ENV_API_KEY, _rest_error, make_rest_client, polygon_api_key, rest_base_url, ws_base_url
from .doctor import CheckResult
from .secrets import redact

NAMES = ("key", "REST API", "trade data", "stream")


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, False, f"skipped: {why}", "fix the failed check above first")


def _unreachable_fix(endpoint: str) -> str:
    return (f"check the internet connection, a proxy or firewall, and Polygon's status page; if you set "
            f"{endpoint_env_var(endpoint)} (endpoints.{endpoint}), check that address")


async def check_polygon(
    api_key: Optional[str] = None,
    *,
    symbols: Iterable[str] = ("SPY",),
    rest_base: Optional[str] = None,
    ws_url: Optional[str] = None,
    timeout_s: float = 5.0,
    options: bool = False,
) -> list[CheckResult]:
    """Key, REST reachability and key acceptance, trade-data entitlement per
    symbol, (with ``options``: the options chain snapshot the options feedback gate
    reads,) stream authentication and subscription. Never raises for a failed
    check. ``api_key`` None = read POLYGON_API_KEY now."""
    key = api_key if api_key is not None else polygon_api_key()
    results: list[CheckResult] = []
    if not key:
        results.append(CheckResult(
            "key", False, f"{ENV_API_KEY} is not set",
            f"export {ENV_API_KEY}=... with the key from the Polygon (now Massive) dashboard, 'API Keys'; "
            "skip this if you do not use Polygon data (the Alpaca feed needs no Polygon key)",
        ))
        results.extend(_skipped(n, "no key") for n in NAMES[1:])
        return results
    results.append(CheckResult("key", True, f"{ENV_API_KEY} is set; value not shown"))
    symbols = [s.strip().upper() for s in symbols if s and s.strip()] or ["SPY"]
    base = rest_base_url(rest_base)
    client = make_rest_client(key, base, retries=0, timeout_s=timeout_s)

    def market_status():
        return client.get_market_status()

    try:
        status = await asyncio.wait_for(asyncio.to_thread(market_status), timeout_s * 2)
        market = getattr(status, "market", None) or "unknown"
        results.append(CheckResult("REST API", True, f"reached {base}; key accepted; market {market}"))
    except Exception as exc:
        err = _rest_error(exc)
        text = err.message.lower()
        if type(exc).__name__ == "BadResponse" and ("api key" in text or "unauthor" in text or "auth" in text):
            results.append(CheckResult(
                "REST API", False, f"{base} refused the key: {err.message}",
                f"copy the key again from the Polygon (Massive) dashboard into {ENV_API_KEY}; "
                "a key from another account or a revoked key is refused",
            ))
        elif type(exc).__name__ == "BadResponse":
            results.append(CheckResult("REST API", False, f"{base} answered: {err.message}",
                                       "try again in a minute; if it persists, check Polygon's status page"))
        else:
            results.append(CheckResult("REST API", False, f"cannot reach {base}: {err.message}",
                                       _unreachable_fix("polygon_rest")))
        results.extend(_skipped(n, "Polygon REST not usable") for n in NAMES[2:])
        return results

    def probe(sym: str):
        # raw: one page, no pagination; a non-200 raises BadResponse with Polygon's body
        return client.list_trades(sym, limit=1, raw=True)

    refused: list[str] = []
    failed: list[str] = []
    for sym in symbols:
        try:
            await asyncio.wait_for(asyncio.to_thread(probe, sym), timeout_s * 2)
        except Exception as exc:
            err = _rest_error(exc)
            (refused if err.not_entitled else failed).append(f"{sym} ({err.message})")
    if refused or failed:
        parts = []
        if refused:
            parts.append("not entitled: " + "; ".join(refused))
        if failed:
            parts.append("failed: " + "; ".join(failed))
        fix = ("your Polygon plan does not include trades for these symbols: upgrade the plan in the "
               "dashboard, remove them from [app] symbols, or use the Alpaca feed for them") if refused else \
              "try again in a minute; if it persists, check Polygon's status page"
        results.append(CheckResult("trade data", False, "trade history " + " | ".join(parts), fix))
    else:
        results.append(CheckResult("trade data", True, f"trades permitted for {', '.join(symbols)}"))

    if options:
        results.append(await _check_options(client, symbols, timeout_s))
    results.append(await _check_stream(key, symbols, ws_base_url(ws_url), timeout_s))
    return results


async def _check_options(client, symbols: list[str], timeout_s: float) -> CheckResult:
    """One page of one contract of each symbol's chain snapshot: what [risk] options_gate needs."""
    def probe(sym: str) -> int:
        resp = client.list_snapshot_options_chain(sym, params={"limit": 1}, raw=True)
        return len(json.loads(resp.data).get("results") or [])

    refused: list[str] = []
    failed: list[str] = []
    empty: list[str] = []
    for sym in symbols:
        try:
            if await asyncio.wait_for(asyncio.to_thread(probe, sym), timeout_s * 2) == 0:
                empty.append(sym)
        except Exception as exc:
            err = _rest_error(exc)
            (refused if err.not_entitled else failed).append(f"{sym} ({err.message})")
    if refused or failed or empty:
        parts = ([f"not entitled: {'; '.join(refused)}"] if refused else []) + \
                ([f"failed: {'; '.join(failed)}"] if failed else []) + \
                ([f"no contracts: {', '.join(empty)}"] if empty else [])
        fix = ("[risk] options_gate is on and blocks every entry it cannot judge: add options data to the Polygon "
               "plan, or set options_gate = false (or options_if_unavailable = \"allow\")")
        return CheckResult("options chain", False, "options chain snapshot " + " | ".join(parts), fix)
    return CheckResult("options chain", True, f"options chain snapshot permitted for {', '.join(symbols)} "
                       "([risk] options_gate reads it)")


async def _check_stream(key: str, symbols: list[str], url: str, timeout_s: float) -> CheckResult:
    from websockets.asyncio.client import connect

    topics = ",".join(f"T.{s}" for s in symbols)
    try:
        async with asyncio.timeout(timeout_s * 2):
            async with connect(url, open_timeout=timeout_s, close_timeout=1) as ws:
                await ws.recv()  # "connected"
                await ws.send(json.dumps({"action": "auth", "params": key}))
                auth = json.loads(await ws.recv())
                first = auth[0] if isinstance(auth, list) and auth else {}
                if first.get("status") != "auth_success":
                    text = str(first.get("message", auth))
                    if any(w in text.lower() for w in ("plan", "upgrade")):
                        return CheckResult(
                            "stream", False, f"this key's plan does not include the stream: {redact(text)}",
                            "websockets need a paid Polygon plan for this market; upgrade it in the dashboard, "
                            "or use the Alpaca feed")
                    return CheckResult(
                        "stream", False, f"the stream refused the key: {redact(text)}",
                        "websockets need a paid Polygon plan for this market; check the plan in the dashboard, "
                        f"or copy the key again into {ENV_API_KEY}",
                    )
                await ws.send(json.dumps({"action": "subscribe", "params": topics}))
                pending = set(symbols)
                problems: list[str] = []
                unnamed = ""  # a "not authorized" naming no topic: the unconfirmed symbols are the refused ones
                while pending:
                    try:
                        frame = await asyncio.wait_for(ws.recv(), 1.0 if unnamed else timeout_s * 2)
                    except (TimeoutError, asyncio.TimeoutError):
                        if not unnamed:
                            raise
                        break
                    for m in json.loads(frame):
                        if not isinstance(m, dict) or m.get("ev") != "status":
                            continue
                        status, msg = str(m.get("status", "")), str(m.get("message", ""))
                        if status in ("max_connections", "force_disconnect"):
                            return CheckResult(
                                "stream", False, f"another session holds this key's connection "
                                f"(Polygon {status}: {redact(msg)})",
                                "stop the other cockpit or script streaming with this key (Polygon allows one "
                                "connection per key and market unless the plan says more), then try again")
                        named = [s for s in pending if re.search(rf"\bT\.{re.escape(s)}(?![A-Za-z0-9])", msg)]
                        for s in named:
                            pending.discard(s)
                            if status != "success":
                                problems.append(f"{s}: {msg}")
                        if not named and status != "success" and "not authorized" in msg.lower():
                            unnamed = msg
                problems += [f"{s}: plan does not include real-time trades ({unnamed})" for s in sorted(pending)]
        if problems:
            return CheckResult("stream", False, "subscription refused for " + "; ".join(redact(p) for p in problems),
                               "your plan does not stream these symbols: upgrade it, remove them from "
                               "[app] symbols, or use the Alpaca feed for them")
        return CheckResult("stream", True, f"stream {url} accepted the key and {topics}")
    except (TimeoutError, asyncio.TimeoutError):
        return CheckResult("stream", False, f"no answer from {url} within {timeout_s * 2:.0f}s",
                           _unreachable_fix("polygon_ws"))
    except Exception as exc:
        return CheckResult("stream", False, f"cannot use {url}: {redact(f'{type(exc).__name__}: {exc}')}",
                           _unreachable_fix("polygon_ws"))


__all__ = ["check_polygon"]
