"""The batching writer: the engine's hot path appends, a background task writes.

Why batches: one INSERT ... executemany per table per flush costs about the same
as a single row, so the engine can record every bar, state, signal, order, fill
and journal line without ever waiting on the disk.

Why nothing is lost:
- records that change over their life (signals, orders, candles, ...) are
  upserted by key, so every later version replaces the earlier one and a batch
  holding several versions of one record writes only the last;
- a failed write puts its rows back at the front of the queue, sets
  ``last_error``, calls ``on_error`` with a message fit for the journal, and
  backs off before retrying; ``flush()`` and ``close()`` raise ``StoreError``
  when rows could not be written, so a caller always finds out;
- a record the converter cannot turn into a row (a programming error: wrong
  type) is kept in ``unwritable`` with the error, never dropped quietly.

Why a thread: on a SQLite file a batch is written on a plain (synchronous)
connection in a worker thread, one hand-off for the whole batch. Through the
async driver every statement, the begin and the commit each need a turn of the
event loop, and at full replay speed the feed gives the loop a turn only every
few milliseconds of work, so a batch took seconds and the first rows reached
the file long after they were recorded.

Why a status: ``status()`` says OK, BEHIND (records waiting longer than
``behind_after_s``) or FAILING (the last write failed), and ``on_state`` is
called once per change of that state (not per failed write), so the engine can
show it in the header and journal each change, recovery included.

Enqueueing is O(1) (a list append) and must happen on the event loop's thread.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from sqlalchemy import Table, and_, delete, insert, or_, select
from sqlalchemy.engine import Engine as SyncEngine
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.model import StoreHealth, StoreStatus
from engine.store import convert
from engine.store.tables import (
    AccountSnapshotRow,
    CandleRow,
    FillRow,
    JournalRow,
    MarketStateRow,
    OrderFlowRow,
    OrderRow,
    PositionRow,
    SignalRow,
)

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """A store operation failed; the message never carries credentials."""


@dataclass(frozen=True)
class _Kind:
    """How one kind of record is written: its table, its converter, and whether
    rows are upserted (latest wins), inserted once (first wins) or appended."""

    table: Table
    to_row: Callable[..., dict]
    key: tuple[str, ...]  # () = append-only history
    policy: str  # "upsert" | "ignore" | "append"


KINDS: dict[str, _Kind] = {
    "candles": _Kind(CandleRow.__table__, convert.bar_to_row, ("symbol", "ts_ns"), "upsert"),
    "market_state": _Kind(MarketStateRow.__table__, convert.state_to_row, ("symbol", "ts_ns"), "upsert"),
    "order_flow": _Kind(OrderFlowRow.__table__, convert.flow_to_row, ("symbol", "ts_ns"), "upsert"),
    "signals": _Kind(SignalRow.__table__, convert.signal_to_row, ("id",), "upsert"),
    "orders": _Kind(OrderRow.__table__, convert.order_to_row, ("id",), "upsert"),
    "fills": _Kind(FillRow.__table__, convert.fill_to_row, ("id",), "ignore"),
    "positions": _Kind(PositionRow.__table__, convert.position_to_row, (), "append"),
    "account_snapshots": _Kind(AccountSnapshotRow.__table__, convert.account_to_row, (), "append"),
    "journal": _Kind(JournalRow.__table__, convert.journal_to_row, (), "append"),
}


def describe_error(exc: BaseException) -> str:
    """A short error text: the driver's message, not SQLAlchemy's dump of the
    statement and its parameters (which could be long and carry user text)."""
    orig = getattr(exc, "orig", None)
    inner = orig if orig is not None else exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {text[:300]}"


class UpsertBuilder:
    """Builds the per-dialect statement for a kind once and reuses it.

    SQLite and PostgreSQL get native ``ON CONFLICT`` (one executemany), MySQL
    ``ON DUPLICATE KEY``; any other backend gets a portable delete-then-insert
    (upsert) or filter-then-insert (ignore) inside the same transaction."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._cache: dict[str, Any] = {}

    def _native_insert(self):
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as ins
        elif self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as ins
        elif self.dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert as ins
        else:
            return None
        return ins

    def statement(self, name: str, kind: _Kind):
        if name in self._cache:
            return self._cache[name]
        stmt = None
        if kind.policy == "append":
            stmt = insert(kind.table)
        else:
            ins = self._native_insert()
            if ins is not None:
                stmt = ins(kind.table)
                others = {c.name: None for c in kind.table.c if c.name not in kind.key}
                if self.dialect in ("mysql", "mariadb"):
                    if kind.policy == "upsert":
                        stmt = stmt.on_duplicate_key_update({n: stmt.inserted[n] for n in others})
                    else:
                        stmt = stmt.prefix_with("IGNORE")
                elif kind.policy == "upsert":
                    stmt = stmt.on_conflict_do_update(
                        index_elements=list(kind.key), set_={n: stmt.excluded[n] for n in others}
                    )
                else:
                    stmt = stmt.on_conflict_do_nothing(index_elements=list(kind.key))
        self._cache[name] = stmt
        return stmt

    async def write(self, conn, name: str, kind: _Kind, rows: list[dict]) -> None:
        """``write_sync`` on an async connection (the async engine's path)."""
        await conn.run_sync(self.write_sync, name, kind, rows)

    def write_sync(self, conn, name: str, kind: _Kind, rows: list[dict]) -> None:
        """Insert ``rows`` of one kind on a plain (synchronous) connection, by the kind's
        policy: its dialect's upsert/ignore statement, else the portable path (find the
        keys already stored, then delete them (upsert) or skip those rows (ignore))."""
        stmt = self.statement(name, kind)
        if stmt is not None:
            conn.execute(stmt, rows)
            return
        cols = [kind.table.c[k] for k in kind.key]
        keys = [tuple(r[k] for k in kind.key) for r in rows]
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            if len(cols) == 1:
                cond = cols[0].in_([k[0] for k in chunk])
            else:
                cond = or_(*(and_(*(c == v for c, v in zip(cols, k))) for k in chunk))
            if kind.policy == "upsert":
                conn.execute(delete(kind.table).where(cond))
            else:
                existing = {tuple(r) for r in conn.execute(select(*cols).where(cond)).all()}
                rows = [r for r in rows if tuple(r[k] for k in kind.key) not in existing]
        if rows:
            conn.execute(insert(kind.table), rows)


class BatchWriter:
    """Queue + background flusher for the store's record_* methods."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch_size: int = 2000,
        interval_s: float = 0.5,
        on_error: Optional[Callable[[str], None]] = None,
        sync_engine: Optional[SyncEngine] = None,
        behind_after_s: float = 3.0,
        on_state: Optional[Callable[[StoreStatus, StoreStatus], None]] = None,
    ) -> None:
        """``sync_engine``: a plain engine on the same SQLite file, used from a worker
        thread for batch writes (None: write through ``engine``). ``on_state(new, old)``
        is called on the loop once per change of ``status().health``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self._engine = engine
        self._sync_engine = sync_engine
        self._builder = UpsertBuilder(engine.dialect.name)
        self.behind_after_s = behind_after_s
        self.on_state = on_state
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.on_error = on_error
        self._pending: list[tuple[str, tuple]] = []
        self._retry: dict[str, list[dict]] = {}  # converted rows whose write failed
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: Optional[asyncio.Task] = None
        self._closed = False
        self._delay = interval_s
        # observable state
        self.last_error: Optional[str] = None
        self.write_errors = 0
        self.rows_written = 0
        self.flushes = 0
        self.peak_backlog = 0
        self.write_seconds = 0.0  # wall time spent writing batches (rows_written / it = what the writer sustains)
        self.unwritable: list[tuple[str, tuple, str]] = []
        # wall time (monotonic) since when the oldest record of each group has waited
        self._pending_since: Optional[float] = None
        self._retry_since: Optional[float] = None
        self._flight_since: Optional[float] = None
        self._in_flight = 0  # records of the batch being written right now
        self._failing = False  # the last write attempt failed
        self._state = StoreStatus(StoreHealth.OK)

    # ------------------------------------------------------------------ hot path

    def put(self, kind: str, args: tuple) -> None:
        """Enqueue one record (O(1)); the writer task converts and writes it later."""
        if self._closed:
            raise StoreError(f"store is closed; cannot record {kind}")
        pending = self._pending
        if not pending:
            self._pending_since = time.monotonic()
        pending.append((kind, args))
        if len(pending) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    @property
    def lock(self) -> asyncio.Lock:
        """Held while a batch is written; a store on one shared connection (an
        in-memory SQLite) takes it around its reads too."""
        return self._lock

    @property
    def backlog(self) -> int:
        """Records waiting to be written (queued, being written, failed-and-retrying)."""
        return len(self._pending) + self._in_flight + self.not_written

    @property
    def not_written(self) -> int:
        """Rows whose write failed and has not succeeded since (kept for retry),
        plus records that could not be converted into rows at all."""
        return sum(len(v) for v in self._retry.values()) + len(self.unwritable)

    @property
    def write_engine(self) -> SyncEngine:
        """The (synchronous face of the) engine batches are written through: where a
        test hooks a fault in (``event.listen(..., "before_cursor_execute", ...)``)."""
        return self._sync_engine if self._sync_engine is not None else self._engine.sync_engine

    def oldest_wait_s(self, now: Optional[float] = None) -> float:
        """How long the oldest unwritten record has waited (0 when none waits)."""
        times = [t for t in (self._pending_since if self._pending else None, self._flight_since,
                             self._retry_since if self._retry else None) if t is not None]
        if not times:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - min(times))

    def status(self, now: Optional[float] = None) -> StoreStatus:
        """OK, BEHIND n records (the oldest waited more than ``behind_after_s``) or
        FAILING: reason (the last write failed; its rows are kept and retried)."""
        backlog = self.backlog
        not_written = self.not_written
        if self._failing:
            return StoreStatus(StoreHealth.FAILING, backlog, self.last_error or "write failed", not_written)
        if self.unwritable:
            return StoreStatus(StoreHealth.FAILING, backlog, self.unwritable[-1][2], not_written)
        if backlog and self.oldest_wait_s(now) > self.behind_after_s:
            return StoreStatus(StoreHealth.BEHIND, backlog, "", not_written)
        return StoreStatus(StoreHealth.OK, backlog, "", not_written)

    def check_state(self) -> StoreStatus:
        """The status now; tells ``on_state`` when its health differs from the last one told."""
        new = self.status()
        old = self._state
        if new.health is not old.health:
            self._state = new
            if self.on_state is not None:
                try:
                    self.on_state(new, old)
                except Exception:  # a broken listener must not stop the writer
                    log.exception("store on_state callback failed")
        return new

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="store-writer")

    async def _run(self) -> None:
        while not self._closed:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._delay)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closed:
                break
            if self._pending or self._retry:
                try:
                    await self._flush_once()
                except Exception as exc:  # never let the writer die silently
                    self._failing = True
                    self._record_error(f"store writer: {describe_error(exc)}")
            self.check_state()

    async def flush(self, *, raise_errors: bool = True) -> None:
        """Write everything queued so far. Raises StoreError if some rows could not
        be written (they stay queued for the next attempt) unless told not to."""
        for _ in range(1000):  # the hot path may keep appending; stop when caught up
            if not (self._pending or self._retry):
                break
            ok = await self._flush_once()
            if not ok:
                if raise_errors:
                    raise StoreError(f"{self.backlog} records not written yet: {self.last_error}")
                return
        if self.unwritable and raise_errors:
            raise StoreError(f"{len(self.unwritable)} records could not be converted: {self.unwritable[-1][2]}")

    async def close(self) -> None:
        """Stop the background task and write everything; raises if rows remain."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except asyncio.CancelledError:  # pragma: no cover - loop shutting down
                pass
            self._task = None
        ok = True
        for _ in range(3):
            if not (self._pending or self._retry):
                break
            ok = await self._flush_once()
        if not ok or self._pending or self._retry:
            counts = {k: len(v) for k, v in self._retry.items()}
            raise StoreError(f"closing with {self.backlog} records unwritten {counts}: {self.last_error}")
        if self.unwritable:
            raise StoreError(
                f"closed; {len(self.unwritable)} records could not be converted: {self.unwritable[-1][2]}"
            )

    # ------------------------------------------------------------------ the write

    def _record_error(self, message: str) -> None:
        self.last_error = message
        self.write_errors += 1
        log.error("%s", message)
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception:  # a broken callback must not stop the writer
                log.exception("store on_error callback failed")

    def _convert(self, items: list[tuple[str, tuple]]) -> dict[str, list[dict]]:
        """Group queued records by table, keyed ones deduplicated (last wins)."""
        grouped: dict[str, Any] = {}
        for name, rows in self._retry.items():
            grouped[name] = rows
        self._retry = {}
        keyed: dict[str, dict] = {}
        for name, rows in grouped.items():
            k = KINDS[name]
            if k.key:
                keyed[name] = {tuple(r[c] for c in k.key): r for r in rows}
        for name, args in items:
            k = KINDS[name]
            try:
                row = k.to_row(*args)
            except Exception as exc:
                msg = f"store: cannot convert a {name} record: {type(exc).__name__}: {exc}"
                self.unwritable.append((name, args, msg))
                self._record_error(msg)
                continue
            if k.key:
                d = keyed.get(name)
                if d is None:
                    d = keyed[name] = {}
                key = tuple(row[c] for c in k.key)
                if k.policy == "upsert":
                    d[key] = row  # the latest version wins
                else:
                    d.setdefault(key, row)  # insert-once: the first wins, as in the table
            else:
                lst = grouped.get(name)
                if lst is None:
                    lst = grouped[name] = []
                lst.append(row)
        for name, d in keyed.items():
            grouped[name] = list(d.values())
        return {n: r for n, r in grouped.items() if r}

    async def _flush_once(self) -> bool:
        async with self._lock:
            items, self._pending = self._pending, []
            since = [t for t in (self._pending_since if items else None, self._retry_since if self._retry else None)
                     if t is not None]
            self._pending_since = None
            self.peak_backlog = max(self.peak_backlog, len(items))
            grouped = self._convert(items)
            if not grouped:
                self._retry_since = None
                self._failing = False
                self.check_state()
                return True
            self._in_flight = sum(len(r) for r in grouped.values())
            self._flight_since = min(since) if since else time.monotonic()
            started = time.perf_counter()
            try:
                if self._sync_engine is not None:
                    written, failed, error = await asyncio.to_thread(self._write_in_thread, grouped)
                else:
                    written, failed, error = await self._write_async(grouped)
            except asyncio.CancelledError:
                # Cancelled mid-write (the loop is shutting down). The async path's transaction
                # rolled back: keep its rows. A worker thread finishes its write on its own.
                if self._sync_engine is None:
                    for name, rows in grouped.items():
                        self._retry[name] = rows + self._retry.get(name, [])
                    self._retry_since = self._flight_since
                raise
            finally:
                flight_since, self._flight_since, self._in_flight = self._flight_since, None, 0
                self.write_seconds += time.perf_counter() - started
            self.rows_written += written
            if failed:
                for name, rows in failed.items():
                    self._retry[name] = rows + self._retry.get(name, [])
                self._retry_since = flight_since
                self._failing = True
                self._delay = min(self._delay * 2, 5.0)
                self._record_error(
                    f"store write failed, {sum(len(r) for r in failed.values())} rows kept for retry: {error}"
                )
                self.check_state()
                return False
            self._retry_since = None
            self._failing = False
            self.flushes += 1
            self._delay = self.interval_s
            self.check_state()
            return True

    async def _write_async(self, grouped: dict[str, list[dict]]) -> tuple[int, dict[str, list[dict]], str]:
        """Write a batch through the async engine: (rows written, rows that failed by table, error)."""
        try:
            async with self._engine.begin() as conn:
                for name, rows in grouped.items():
                    await self._builder.write(conn, name, KINDS[name], rows)
            return sum(len(r) for r in grouped.values()), {}, ""
        except Exception as exc:
            error = describe_error(exc)
        # One table's trouble must not hold back the others: retry each alone.
        written, failed = 0, {}
        for name, rows in grouped.items():
            try:
                async with self._engine.begin() as conn:
                    await self._builder.write(conn, name, KINDS[name], rows)
                written += len(rows)
            except Exception as exc2:
                failed[name] = rows
                error = f"{name}: {describe_error(exc2)}"
        return written, failed, error

    def _write_in_thread(self, grouped: dict[str, list[dict]]) -> tuple[int, dict[str, list[dict]], str]:
        """``_write_async`` on the plain engine (SQLite files), run in a worker thread."""
        engine = self._sync_engine
        assert engine is not None
        try:
            with engine.begin() as conn:
                for name, rows in grouped.items():
                    self._builder.write_sync(conn, name, KINDS[name], rows)
            return sum(len(r) for r in grouped.values()), {}, ""
        except Exception as exc:
            error = describe_error(exc)
        written, failed = 0, {}
        for name, rows in grouped.items():
            try:
                with engine.begin() as conn:
                    self._builder.write_sync(conn, name, KINDS[name], rows)
                written += len(rows)
            except Exception as exc2:
                failed[name] = rows
                error = f"{name}: {describe_error(exc2)}"
        return written, failed, error
