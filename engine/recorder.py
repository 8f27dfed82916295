"""The record of a run: the journal the log pane shows and the store behind it.

The recorder owns the in-memory journal (newest last, capped) and the store
every signal, order, fill, candle, account snapshot and journal line is written
to. A run without a store (a backtest, ``--no-store``) gets ``NullStore``, which
drops every write, so no caller has to ask whether there is a store. It also
reads back what a restart in the same session needs (``load_today``), and
journals each change of the store's state (OK / BEHIND / FAILING, and the
recovery) once, which the header shows (``store_status``).
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any, Awaitable, Callable, Optional

from .clock import Clock
from .model import NO_STORE, Bar, JournalEntry, LazyJournalEntry, Order, Position, Signal, StoreHealth, StoreStatus
from .notify import Notifier


def _num(x: Optional[float]) -> Optional[float]:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


class NullStore:
    """A store that records nothing: every write is dropped, every read is empty."""

    def record_journal(self, entry: JournalEntry) -> None: ...

    def record_order(self, order: Order) -> None: ...

    def record_fill(self, fill: Any) -> None: ...

    def record_signal(self, signal: Signal) -> None: ...

    def record_bar(self, bar: Bar) -> None: ...

    def record_state(self, *args: Any) -> None: ...

    def record_flow(self, *args: Any, **kwargs: Any) -> None: ...

    def record_account(self, account: Any, ts_ns: int) -> None: ...

    def record_position(self, position: Any, ts_ns: int) -> None: ...

    async def all_strategy_configs(self) -> dict:
        return {}

    async def close(self) -> None: ...


NULL_STORE = NullStore()


class Recorder:
    def __init__(self, clock: Clock, notifier: Notifier, journal_size: int, redact: Callable[[str], str] = str,
                 store: Any = None, opener: Optional[Callable[[], Awaitable[Any]]] = None) -> None:
        self.clock = clock
        self.notifier = notifier
        self.redact = redact
        self.journal: deque[JournalEntry] = deque(maxlen=journal_size)
        self.store = store if store is not None else NULL_STORE
        self._opener = opener  # async () -> Store, run on the loop that starts the engine
        self._held: set[str] = set()  # symbols whose last recorded position was not flat
        self._not_recorded_at_close: Optional[int] = None  # what the close could not write
        self._journal_listeners: list[Callable[[JournalEntry], None]] = []
        self._listen_to(self._store)

    async def open(self) -> None:
        if not self.recording and self._opener is not None:
            self.store = await self._opener()
            self._listen_to(self._store)
            note = getattr(self._store, "schema_note", None)
            if note:  # an older store was backed up and upgraded at open: say so in the journal
                self.log("info", "store", note)

    # ------------------------------------------------------------------ the store's state

    def _listen_to(self, store: Any) -> None:
        listen = getattr(store, "set_state_listener", None)
        if listen is not None:
            listen(self._store_state_changed)

    def store_status(self) -> StoreStatus:
        """OK / BEHIND n records / FAILING: reason, or NO STORE for a run that records nothing."""
        return self._store.status() if self.recording else NO_STORE

    @property
    def rows_not_recorded(self) -> int:
        """Records whose write never succeeded (so far; after close, for good)."""
        if self._not_recorded_at_close is not None:
            return self._not_recorded_at_close
        return int(getattr(self._store, "not_written", 0))

    def _store_state_changed(self, new: StoreStatus, old: StoreStatus) -> None:
        """One journal line per change of the store's health (never one per failed write)."""
        if new.health is StoreHealth.FAILING:
            self.log("error", "store", f"store FAILING: {new.reason}; {new.not_recorded:,} records kept, "
                                       f"retried until they are written")
        elif new.health is StoreHealth.BEHIND:
            self.log("warn", "store", f"store BEHIND: {new.backlog:,} records waiting to be written")
        elif old.health is StoreHealth.FAILING:
            self.log("info", "store", "store OK again: the records kept after the failure are written")
        else:
            self.log("info", "store", "store OK: caught up")

    # ------------------------------------------------------------------ journal

    def log(self, level: str, kind: str, message: str, symbol: Optional[str] = None,
            data: Optional[dict] = None) -> None:
        """One journal line (secrets redacted), in memory and in the store."""
        self.add(JournalEntry(self.clock.now_ns(), level, kind, self.redact(message), symbol, data))

    def logf(self, level: str, kind: str, template: str, args: tuple, symbol: Optional[str] = None,
             data: Optional[dict] = None) -> None:
        """``log`` of the line ``template.format(*args)``, formatted and redacted when
        it is first read (``model.LazyJournalEntry``): the hot path's lines (signals,
        decisions, orders, fills) cost their arguments, not their text, and most are
        never read in a backtest. ``args`` must be values that cannot change before the
        line is read (str, numbers, the model's enums: an enum formats as its value)."""
        self.add(LazyJournalEntry(self.clock.now_ns(), level, kind, template, args, symbol, data, self.redact))

    def add(self, entry: JournalEntry) -> None:
        """A journal line made elsewhere (a feed's notice)."""
        self.journal.append(entry)
        if self._journal_to_store is not None:
            self._journal_to_store(entry)
        self.notifier.bump()
        for listener in self._journal_listeners:
            listener(entry)

    def add_journal_listener(self, callback: Callable[[JournalEntry], None]) -> None:
        """``callback(entry)`` for every journal line from now on, on the engine's loop
        (the alert watcher: it must only look and queue, never wait)."""
        self._journal_listeners.append(callback)

    # ------------------------------------------------------------------ records

    @property
    def store(self) -> Any:
        return self._store

    @store.setter
    def store(self, store: Any) -> None:
        """The store, and the recorder's writes of orders, fills and signals bound to
        it: ``order(o)``, ``fill(f)``, ``signal(s)`` are the store's own methods (one
        call each on the round trip's path, not two)."""
        self._store = store
        self.recording = store is not NULL_STORE  # an attribute, not a property: the engine asks every bar
        # the journal's writes, None for a run that records nothing (no call to drop each line)
        self._journal_to_store: Optional[Callable[[JournalEntry], None]] = (
            None if store is NULL_STORE else store.record_journal)
        self.order: Callable[[Order], None] = store.record_order
        self.fill: Callable[[Any], None] = store.record_fill
        self.signal: Callable[[Signal], None] = store.record_signal

    def bar(self, symbol: str, bar: Bar, snap: Any) -> None:
        """A closed candle with its market state and order flow."""
        st = self._store
        if st is NULL_STORE:  # (every bar asks: no property call)
            return
        st.record_bar(bar)
        r = snap.rolling
        st.record_state(symbol, bar.ts_ns, snap.state.value, r.poc if r else math.nan, r.vah if r else math.nan,
                        r.val if r else math.nan, snap.distance_from_poc_pct, snap.momentum)
        fl = snap.flow
        st.record_flow(symbol, bar.ts_ns, buy=_num(bar.buy_volume), sell=_num(bar.sell_volume), delta=fl.last_delta,
                       cvd=fl.cvd, pressure=_num(fl.buy_pressure), aggression=fl.aggression,
                       direction=fl.direction.value if fl.direction else None)

    def account(self, broker: Any) -> None:
        """The broker's account and positions, as of now. A symbol that went flat gets
        a flat row: a restart takes the newest row per symbol, which must say so."""
        if self._store is NULL_STORE:
            return
        now = self.clock.now_ns()
        self._store.record_account(broker.account(), now)
        held = set()
        for p in broker.positions():
            self._store.record_position(p, now)
            if p.qty:
                held.add(p.symbol)
        for symbol in sorted(self._held - held):
            if broker.position(symbol) is None:
                self._store.record_position(Position(symbol, 0, 0.0, 0.0, 0.0), now)
        self._held = held

    def note_restored_positions(self, symbols) -> None:
        """Positions a restart brought back: recorded flat when they close."""
        self._held |= set(symbols)

    async def load_today(self, session_start_ns: int):
        """What the store kept of this session (engine.store.RestoredState), or None without a store."""
        if not self.recording:
            return None
        return await self._store.load_today(session_start_ns)

    async def close(self, broker: Any) -> None:
        """Record the final account and close the store; a StoreError from the close
        (records it could not write) is raised after ``rows_not_recorded`` is set."""
        self.account(broker)
        try:
            await self._store.close()
        finally:
            self._not_recorded_at_close = int(getattr(self._store, "not_written", 0))
