"""Client order ids: unique, readable, deterministic and short enough for Alpaca.

Why deterministic: a replay or a backtest of the same data must send the same
orders with the same ids, so two runs can be diffed and a restarted engine can
recognise its own orders at the broker. Ids are therefore built from things the
engine already knows (a prefix, the signal id, an attempt number, a counter),
never from the clock or a random source.

Why <= 48 characters: Alpaca refuses longer client order ids. An id that would
be longer keeps a readable head and ends in a short stable hash of the full text,
so it stays unique and stays the same on every run.

Shapes::

    ck-<signal id>-<attempt>          an entry for a signal (attempt 1, 2, ... on resubmits)
    <entry id>-tp / <entry id>-sl     the bracket children of that entry
    ck-x-<symbol>-<n>                 a plain exit (flatten, time exit), n a counter
    ck-<signal id>-px                 the one partial exit of the position a signal opened (the
                                      same id after a restart: a resend is refused as a duplicate
                                      and the earlier order adopted, never a second partial)
    ck-<signal id>-ps<n>              the n-th protective stop placed for a position that had
                                      none at the broker (same n, same id: a retry is refused
                                      as a duplicate, never doubled)
"""
from __future__ import annotations

import hashlib
import re

MAX_CLIENT_ORDER_ID_LEN = 48  # Alpaca's limit
_HASH_LEN = 10
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]+")

LEG_SUFFIX = {"take_profit": "tp", "stop_loss": "sl", "entry": "en", "exit": "x"}


def _clean(part: object) -> str:
    """Keep ids printable and URL/DB safe: anything odd becomes a single '_'."""
    text = _UNSAFE.sub("_", str(part)).strip("_")
    return text or "_"


def fit(client_order_id: str, max_len: int = MAX_CLIENT_ORDER_ID_LEN) -> str:
    """``client_order_id`` unchanged if short enough, else a readable head plus a
    stable hash of the whole id (same input, same output, on every run)."""
    if len(client_order_id) <= max_len:
        return client_order_id
    digest = hashlib.blake2b(client_order_id.encode(), digest_size=8).hexdigest()[:_HASH_LEN]
    head = client_order_id[: max_len - _HASH_LEN - 1].rstrip("-")
    return f"{head}-{digest}"


def is_valid_client_order_id(client_order_id: str) -> bool:
    return isinstance(client_order_id, str) and 0 < len(client_order_id) <= MAX_CLIENT_ORDER_ID_LEN


class ClientOrderIds:
    """Makes every client order id one engine run sends.

    ``prefix`` tells runs apart (e.g. "ck" live, "bt7" for a backtest with seed 7);
    the counter of plain exits starts at ``start`` so a restarted engine can
    continue where the previous run stopped.
    """

    def __init__(self, prefix: str = "ck", start: int = 0) -> None:
        self.prefix = _clean(prefix)
        # the tail of the longest shape ("-sl" after a hashed entry id) must still fit
        if len(self.prefix) > 16:
            raise ValueError(f"client order id prefix {prefix!r} is longer than 16 characters")
        self._counter = start

    def for_signal(self, signal_id: str, attempt: int = 1) -> str:
        """The entry id of a signal's ``attempt``-th submission (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt}")
        # leave room for the child suffix so the children stay readable too
        return fit(f"{self.prefix}-{_clean(signal_id)}-{attempt}", MAX_CLIENT_ORDER_ID_LEN - 3)

    @staticmethod
    def child(parent_client_order_id: str, leg: str) -> str:
        """A bracket child's id: the parent's id plus the leg ("take_profit" -> "-tp")."""
        suffix = LEG_SUFFIX.get(str(leg)) or _clean(leg)
        return fit(f"{parent_client_order_id}-{suffix}")

    def protective(self, signal_id: str, n: int) -> str:
        """The id of the ``n``-th protective stop (1-based) of the position a signal opened."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return fit(f"{self.prefix}-{_clean(signal_id)}-ps{n}")

    def partial(self, signal_id: str) -> str:
        """The id of the (one) partial exit of the position ``signal_id`` opened. Built from
        the signal, not a counter: a counter restarts at 1 after a restart and would reuse the
        id of an earlier day's or position's exit, which Alpaca refuses as a duplicate."""
        return fit(f"{self.prefix}-{_clean(signal_id)}-px")

    def next_exit(self, symbol: str, tag: str = "x") -> str:
        """A fresh id for a plain exit order of ``symbol`` (flatten, partial, time exit)."""
        self._counter += 1
        return fit(f"{self.prefix}-{_clean(tag)}-{_clean(symbol)}-{self._counter}")


def client_order_id(signal_id: str, attempt: int = 1, prefix: str = "ck") -> str:
    """``ck-<signal id>-<attempt>``: the entry id of a signal's ``attempt``-th submission."""
    return ClientOrderIds(prefix).for_signal(signal_id, attempt)
