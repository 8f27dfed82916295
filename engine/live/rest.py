"""Running alpaca-py's synchronous REST calls from the event loop, safely.

Why: alpaca-py's clients are ``requests`` sessions: a call blocks its thread.
Each call runs in an executor so the loop (and the UI, and flatten-all) never
waits on the network. alpaca-py itself would retry a 429 by sleeping a fixed
3 s inside that thread, ignoring Retry-After, and would also blindly retry a
504 on POST; ``harden_client`` turns that off and gives every request a
timeout (alpaca-py sets none, so a dead server would hang a thread forever),
and ``call_rest`` retries 429s here, honouring Retry-After, on the loop.
Every error that leaves this module is an ``AlpacaRestError`` whose text has
been through ``redact``.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from concurrent.futures import Executor
from typing import Any, Callable, Optional, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..ops.provider_stats import PROVIDER_STATS, endpoint_kind
from ..ops.rate_limit import RATE_LIMITS, alpaca_provider
from .backoff import Backoff, parse_retry_after
from .secrets import redact

log = logging.getLogger(__name__)
T = TypeVar("T")


class AlpacaRestError(Exception):
    """A REST call failed. ``status`` is the HTTP status (None when the request
    never got an answer: timeout, refused, dropped), ``code`` Alpaca's error
    code when given. The message is already redacted."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[int] = None,
                 retry_after_s: Optional[float] = None) -> None:
        self.message = redact(message)
        super().__init__(self.message)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s

    @property
    def no_answer(self) -> bool:
        """True when we cannot know whether the server acted on the request."""
        return self.status is None or self.status >= 500


class _TimeoutAdapter(HTTPAdapter):
    """Applies a default (connect, read) timeout to every request of a session,
    holds it for the client-side rate limit (engine.ops.rate_limit) and counts it
    per endpoint kind (engine.ops.provider_stats)."""

    def __init__(self, timeout: tuple[float, float], **kwargs: Any) -> None:
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        path = urlsplit(request.url).path
        provider = alpaca_provider(path)
        RATE_LIMITS.wait(provider, endpoint_kind(path), request.method or "GET")
        try:
            response = super().send(request, **kwargs)
        except Exception:
            PROVIDER_STATS.record(provider, path, None)
            raise
        PROVIDER_STATS.record(provider, path, response.status_code)
        return response


def harden_client(client: Any, timeout_s: float, connect_timeout_s: Optional[float] = None) -> None:
    """Give an alpaca-py RESTClient a request timeout and switch off its own
    blocking retry loop (we retry 429s ourselves, see module doc)."""
    if timeout_s <= 0:
        raise ValueError(f"request timeout must be > 0 seconds, got {timeout_s!r}")
    adapter = _TimeoutAdapter((connect_timeout_s or min(timeout_s, 5.0), timeout_s))
    session: requests.Session = client._session
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    client._retry = 0
    client._retry_codes = []


def error_from_exception(exc: BaseException) -> AlpacaRestError:
    """Translate alpaca-py's APIError / requests' exceptions, redacting the text."""
    from alpaca.common.exceptions import APIError

    if isinstance(exc, AlpacaRestError):
        return exc
    if isinstance(exc, APIError):
        status = exc.status_code
        text = str(exc)
        message, code = text, None
        try:
            body = json.loads(text)
            if isinstance(body, dict):
                message = str(body.get("message") or text)
                code = body.get("code") if isinstance(body.get("code"), int) else None
        except ValueError:
            pass
        retry_after = None
        response = exc.response
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if not message.strip():
            message = f"HTTP {status}"
        return AlpacaRestError(message, status=status, code=code, retry_after_s=retry_after)
    if isinstance(exc, requests.Timeout):
        return AlpacaRestError(f"no answer in time ({type(exc).__name__})")
    if isinstance(exc, requests.ConnectionError):
        return AlpacaRestError(f"connection failed ({type(exc).__name__}: {exc})")
    if isinstance(exc, requests.RequestException):
        return AlpacaRestError(f"request failed ({type(exc).__name__}: {exc})")
    return AlpacaRestError(f"{type(exc).__name__}: {exc}")


async def call_rest(
    fn: Callable[..., T],
    *args: Any,
    executor: Optional[Executor] = None,
    rate_limit_retries: int = 5,
    backoff: Optional[Backoff] = None,
    max_wait_s: float = 30.0,
    on_rate_limited: Optional[Callable[[float], None]] = None,
) -> T:
    """Run ``fn(*args)`` in ``executor``; on HTTP 429 wait (Retry-After, else
    the backoff) without blocking the loop and try again, up to
    ``rate_limit_retries`` times. Raises AlpacaRestError."""
    loop = asyncio.get_running_loop()
    backoff = backoff or Backoff(initial_s=0.5, max_s=max_wait_s)
    attempt = 0
    while True:
        try:
            result = await loop.run_in_executor(executor, functools.partial(fn, *args))
            backoff.reset()
            return result
        except Exception as exc:  # translated below; nothing unredacted escapes
            err = error_from_exception(exc)
        if err.status == 429 and attempt < rate_limit_retries:
            wait = err.retry_after_s if err.retry_after_s is not None else backoff.next_delay()
            wait = min(wait, max_wait_s)
            attempt += 1
            if on_rate_limited is not None:
                on_rate_limited(wait)
            log.warning("Alpaca rate limit (429): waiting %.2fs before retry %d/%d", wait, attempt, rate_limit_retries)
            await asyncio.sleep(wait)
            continue
        raise err
