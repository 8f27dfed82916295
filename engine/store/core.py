"""The Store: where every bar, state, signal, decision, order, fill, position,
account snapshot and journal line goes, and where a restart gets them back.

One SQLite file by default (WAL mode, so the UI can read while the writer
writes); any SQLAlchemy URL with an async driver works for users who outgrow a
file. Writes are queued by cheap ``record_*`` calls and written in batches by
``BatchWriter``; reads flush the queue first so they see everything recorded.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine as SyncEngine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from engine.clock import Clock
from engine.model import (
    Account,
    Bar,
    Decision,
    Fill,
    JournalEntry,
    Order,
    OrderStatus,
    Position,
    Signal,
    StoreStatus,
)
from engine.store import convert
from engine.store.tables import (
    TABLES,
    AccountSnapshotRow,
    CandleRow,
    FillRow,
    JournalRow,
    OrderFlowRow,
    OrderRow,
    PositionRow,
    RunRow,
    SignalRow,
    SimSessionRow,
    StrategyConfigRow,
)
from engine.store.at_open import bring_to_head
from engine.store.server_lock import engine_options, lock_server_store
from engine.store.writer import BatchWriter, StoreError, describe_error

DEFAULT_DB_NAME = "cockpit.db"
OPEN_STATUSES = tuple(s.value for s in OrderStatus if s.is_open)

# Sync driver names people type, and the async driver the engine needs instead.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mysql+pymysql": "mysql+aiomysql",
}


def default_db_path() -> Path:
    """cockpit.db in the user data dir (platformdirs), created on demand."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("cockpit")) / DEFAULT_DB_NAME


def resolve_url(url_or_path: Optional[str]) -> str:
    """``None``/"" -> the user data dir file; ":memory:" -> an in-memory SQLite;
    a plain path -> a SQLite file; anything with "://" -> a SQLAlchemy URL, with a
    sync driver name swapped for its async twin (sqlite -> sqlite+aiosqlite)."""
    if not url_or_path:
        path = default_db_path()
    elif url_or_path == ":memory:":
        return "sqlite+aiosqlite://"
    elif "://" not in url_or_path:
        path = Path(url_or_path).expanduser()
    else:
        try:
            url = make_url(url_or_path)
        except Exception as exc:
            raise StoreError(f"--db is not a valid SQLAlchemy URL: {exc}") from None
        driver = _ASYNC_DRIVERS.get(url.drivername)
        if driver:
            url = url.set(drivername=driver)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return url.render_as_string(hide_password=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{path.resolve()}"


def safe_url(url: str) -> str:
    """The URL for messages: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable url>"


@dataclass
class RestoredState:
    """What a restart in the same session needs to carry on where it stopped."""

    bars: dict[str, list[Bar]] = field(default_factory=dict)  # since session start, oldest first
    previous_bars: dict[str, list[Bar]] = field(default_factory=dict)  # previous session, if asked
    cvd: dict[str, float] = field(default_factory=dict)  # latest recorded CVD per symbol this session
    positions: dict[str, Position] = field(default_factory=dict)  # latest non-flat position per symbol
    open_orders: list[Order] = field(default_factory=list)
    pending_signals: list[Signal] = field(default_factory=list)  # decision pending, this session
    decisions: list[Signal] = field(default_factory=list)  # decided this session, newest first
    fills: list[Fill] = field(default_factory=list)  # this session's, oldest first
    account: Optional[Account] = None  # last snapshot
    journal: list[JournalEntry] = field(default_factory=list)  # tail of this session, oldest first

    @property
    def pending(self) -> list[Signal]:
        """Alias of ``pending_signals``."""
        return self.pending_signals


@dataclass(frozen=True)
class SimSessionRecord:
    """One start of a simulated session (tables.SimSessionRow)."""

    seq: int
    key: str
    run_id: str
    session_date: str
    start: str
    data_ns: int
    detail: Any = None


@dataclass(frozen=True)
class RunRecord:
    """One stored backtest / sweep / walk-forward result."""

    id: str
    created_ns: int
    kind: str
    params: dict
    fingerprint: str
    metrics: dict
    detail: Any = None


def _strict_json(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None


class Store:
    """Async persistence for the engine. Create with ``await Store.open(...)``."""

    def __init__(self, engine: AsyncEngine, url: str, writer: BatchWriter, clock: Optional[Clock],
                 shared_connection: bool = False) -> None:
        self._engine = engine
        # An in-memory SQLite is one connection shared by everyone (StaticPool):
        # reads and direct writes must then not interleave with a batch write.
        self._shared_connection = shared_connection
        self.url = safe_url(url)  # for display: never the password
        self._writer = writer
        self._clock = clock
        self._closed = False
        self._lock: Any = None  # the trading process's lock on the file, released at close
        self._sync_engine: Optional[SyncEngine] = None  # the writer's thread-side engine (SQLite files)
        self.schema_note: Optional[str] = None  # "upgraded from 0001 to 0002 (backup ...)" when open upgraded it

    # ------------------------------------------------------------------ open / close

    @classmethod
    async def open(
        cls,
        url_or_path: Optional[str] = None,
        *,
        clock: Optional[Clock] = None,
        batch_size: int = 2000,
        interval_s: float = 0.5,
        on_error: Optional[Callable[[str], None]] = None,
        on_state: Optional[Callable[[StoreStatus, StoreStatus], None]] = None,
        lock: Any = None,
        exclusive: bool = False,
    ) -> "Store":
        """Open (and create) the store. ``clock`` stamps config/run rows when the
        caller gives no time; ``on_error`` receives each write failure message;
        ``on_state(new, old)`` each change of the store's state (OK / BEHIND /
        FAILING), which the engine journals. ``lock`` (store.lock.lock_store) is
        released at close. A SQLite file is checked first (``PRAGMA quick_check``):
        a damaged one is refused with StoreError, never written into.

        The schema is then brought to the newest version (engine/store/schema.py):
        an older store is backed up (a SQLite file: beside it, named with its
        version) and upgraded; a newer or unknown one is refused with StoreError.
        Last, a write check: a store that cannot be written is refused here, before
        anything trades on it. ``exclusive``: the trading process's lock on a server
        database (PostgreSQL advisory lock; a SQLite file is locked by ``lock``)."""
        url = resolve_url(url_or_path)
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if is_sqlite and make_url(url).database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
        sync_engine = None
        if is_sqlite and "poolclass" not in kwargs:
            sync_engine = _sqlite_sync_engine(url)
            await asyncio.to_thread(_check_sqlite_integrity, sync_engine, make_url(url).database)
        try:
            engine = create_async_engine(url, **kwargs, **engine_options(url))
        except Exception as exc:
            if sync_engine is not None:
                sync_engine.dispose()
            raise StoreError(f"cannot open store {safe_url(url)}: {describe_error(exc)}") from None
        if is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        server_lock = None
        try:
            # the trading lock first: a second cockpit is refused before it changes anything
            server_lock = await lock_server_store(engine, url) if exclusive else None
            upgraded = await bring_to_head(engine, where(url), make_url(url).database if sync_engine else None,
                                           sync_engine)
        except BaseException:
            if server_lock is not None:
                await server_lock.release()
            await engine.dispose()
            if sync_engine is not None:
                sync_engine.dispose()
            raise
        writer = BatchWriter(engine, batch_size=batch_size, interval_s=interval_s, on_error=on_error,
                             sync_engine=sync_engine, on_state=on_state)
        writer.start()
        store = cls(engine, url, writer, clock, shared_connection="poolclass" in kwargs)
        store._lock = lock if lock is not None else server_lock
        store._sync_engine = sync_engine
        store.schema_note = upgraded
        return store

    async def flush(self) -> None:
        """Write everything recorded so far (raises StoreError if that failed)."""
        await self._writer.flush()

    async def close(self) -> None:
        """Flush everything and release the database. Raises StoreError if some
        records could not be written (after releasing the connection)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._writer.close()
        finally:
            await self._engine.dispose()
            if self._sync_engine is not None:
                self._sync_engine.dispose()
            if self._lock is not None:
                released = self._lock.release()
                if asyncio.iscoroutine(released):  # a server store's lock lives on its own connection
                    await released

    async def __aenter__(self) -> "Store":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ------------------------------------------------------------------ health

    @property
    def last_error(self) -> Optional[str]:
        """The latest write failure message (None if every write succeeded)."""
        return self._writer.last_error

    @property
    def write_errors(self) -> int:
        return self._writer.write_errors

    @property
    def backlog(self) -> int:
        """Records recorded but not yet written."""
        return self._writer.backlog

    @property
    def unwritable(self) -> list[tuple[str, tuple, str]]:
        """Records that could not be turned into rows: (table, arguments, error)."""
        return self._writer.unwritable

    @property
    def not_written(self) -> int:
        """Records whose write failed and has not succeeded since (or that could not be converted)."""
        return self._writer.not_written

    def status(self) -> StoreStatus:
        """OK / BEHIND n records / FAILING: reason, as of now."""
        return self._writer.status()

    def set_state_listener(self, on_state: Optional[Callable[[StoreStatus, StoreStatus], None]]) -> None:
        """``on_state(new, old)`` is called once per change of the store's health."""
        self._writer.on_state = on_state

    @property
    def rows_written(self) -> int:
        return self._writer.rows_written

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    # ------------------------------------------------------------------ record_* (hot path, O(1))

    def record_bar(self, bar: Bar) -> None:
        self._writer.put("candles", (bar,))

    def record_state(self, symbol: str, ts_ns: int, state: Any, poc: float, vah: float, val: float,
                     distance_pct: float, momentum: float) -> None:
        self._writer.put("market_state", (symbol, ts_ns, state, poc, vah, val, distance_pct, momentum))

    def record_flow(self, symbol: str, ts_ns: int, buy: float, sell: float, delta: float, cvd: float,
                    pressure: float = float("nan"), aggression: float = float("nan"),
                    direction: Any = None) -> None:
        """One closed bar's order flow. ``pressure`` is the buy pressure 0..100."""
        self._writer.put("order_flow", (symbol, ts_ns, buy, sell, delta, cvd, pressure, aggression, direction))

    def record_signal(self, signal: Signal) -> None:
        """Every version of a signal (created, then decided) upserts one row."""
        self._writer.put("signals", (signal,))

    def record_order(self, order: Order) -> None:
        self._writer.put("orders", (order,))

    def record_fill(self, fill: Fill) -> None:
        self._writer.put("fills", (fill,))

    def record_position(self, position: Position, ts_ns: int) -> None:
        self._writer.put("positions", (position, ts_ns))

    def record_account(self, account: Account, ts_ns: int) -> None:
        self._writer.put("account_snapshots", (account, ts_ns))

    def record_journal(self, entry: JournalEntry) -> None:
        """Stored exactly as given: redacting secrets is the caller's job."""
        self._writer.put("journal", (entry,))

    # ------------------------------------------------------------------ reads

    def _exclusive(self):
        return self._writer.lock if self._shared_connection else contextlib.nullcontext()

    async def _rows(self, stmt) -> list:
        await self._writer.flush(raise_errors=False)  # read what was recorded
        async with self._exclusive():
            async with self._engine.connect() as conn:
                return (await conn.execute(stmt)).all()

    async def load_bars(self, symbol: str, start_ns: int, end_ns: int) -> list[Bar]:
        """Candles of ``symbol`` with start_ns <= ts_ns < end_ns, oldest first."""
        c = CandleRow.__table__.c
        stmt = (
            select(CandleRow.__table__)
            .where(c.symbol == symbol, c.ts_ns >= start_ns, c.ts_ns < end_ns)
            .order_by(c.ts_ns)
        )
        return [convert.bar_from_row(r) for r in await self._rows(stmt)]

    async def _bars_by_symbol(self, start_ns: int, end_ns: Optional[int]) -> dict[str, list[Bar]]:
        c = CandleRow.__table__.c
        stmt = select(CandleRow.__table__).where(c.ts_ns >= start_ns)
        if end_ns is not None:
            stmt = stmt.where(c.ts_ns < end_ns)
        out: dict[str, list[Bar]] = {}
        for r in await self._rows(stmt.order_by(c.symbol, c.ts_ns)):
            out.setdefault(r.symbol, []).append(convert.bar_from_row(r))
        return out

    async def load_today(
        self,
        session_start_ns: int,
        *,
        previous_session_start_ns: Optional[int] = None,
        journal_tail: int = 200,
    ) -> RestoredState:
        """Everything a restart inside the session needs: today's bars (to rebuild
        profiles and flow exactly), the previous session's bars if its start is
        given, latest CVD, open positions and orders, pending signals, today's
        decisions, the last account snapshot and the journal tail."""
        await self._writer.flush(raise_errors=False)
        st = RestoredState()
        st.bars = await self._bars_by_symbol(session_start_ns, None)
        if previous_session_start_ns is not None:
            st.previous_bars = await self._bars_by_symbol(previous_session_start_ns, session_start_ns)

        f = OrderFlowRow.__table__.c
        latest = (
            select(f.symbol, func.max(f.ts_ns).label("ts"))
            .where(f.ts_ns >= session_start_ns)
            .group_by(f.symbol)
            .subquery()
        )
        stmt = select(f.symbol, f.cvd).join(latest, (f.symbol == latest.c.symbol) & (f.ts_ns == latest.c.ts))
        st.cvd = {r.symbol: convert.f_in(r.cvd) for r in await self._rows(stmt)}

        p = PositionRow.__table__.c
        last_ids = select(func.max(p.id)).group_by(p.symbol).scalar_subquery()
        stmt = select(PositionRow.__table__).where(p.id.in_(last_ids), p.qty != 0).order_by(p.symbol)
        st.positions = {r.symbol: convert.position_from_row(r) for r in await self._rows(stmt)}

        # orders are DAY orders: one still open in an earlier session expired at its close
        st.open_orders = [o for o in await self.orders(open_only=True) if o.created_ns >= session_start_ns]
        st.fills = await self.fills(since_ns=session_start_ns)

        s = SignalRow.__table__.c
        stmt = (
            select(SignalRow.__table__)
            .where(s.decision == Decision.PENDING.value, s.created_ns >= session_start_ns)
            .order_by(s.created_ns, s.id)
        )
        st.pending_signals = [convert.signal_from_row(r) for r in await self._rows(stmt)]
        stmt = (
            select(SignalRow.__table__)
            .where(s.decision != Decision.PENDING.value, s.created_ns >= session_start_ns)
            .order_by(s.decided_ns.desc(), s.created_ns.desc())
        )
        st.decisions = [convert.signal_from_row(r) for r in await self._rows(stmt)]

        a = AccountSnapshotRow.__table__.c
        rows = await self._rows(select(AccountSnapshotRow.__table__).order_by(a.id.desc()).limit(1))
        st.account = convert.account_from_row(rows[0]) if rows else None

        j = JournalRow.__table__.c
        stmt = (
            select(JournalRow.__table__)
            .where(j.ts_ns >= session_start_ns)
            .order_by(j.id.desc())
            .limit(journal_tail)
        )
        st.journal = [convert.journal_from_row(r) for r in reversed(await self._rows(stmt))]
        return st

    async def signals(self, decision: Optional[Decision | str] = None, *, symbol: Optional[str] = None,
                      since_ns: Optional[int] = None, limit: Optional[int] = None) -> list[Signal]:
        """Stored signals (oldest first), optionally of one decision/symbol; with
        ``limit``, only the newest ``limit`` of them (still oldest first)."""
        s = SignalRow.__table__.c
        stmt = select(SignalRow.__table__)
        if decision is not None:
            stmt = stmt.where(s.decision == Decision(decision).value)
        if symbol is not None:
            stmt = stmt.where(s.symbol == symbol)
        if since_ns is not None:
            stmt = stmt.where(s.created_ns >= since_ns)
        if limit is not None:
            newest = await self._rows(stmt.order_by(s.created_ns.desc(), s.id.desc()).limit(limit))
            return [convert.signal_from_row(r) for r in reversed(newest)]
        return [convert.signal_from_row(r) for r in await self._rows(stmt.order_by(s.created_ns, s.id))]

    async def orders(self, *, open_only: bool = False, symbol: Optional[str] = None) -> list[Order]:
        o = OrderRow.__table__.c
        stmt = select(OrderRow.__table__)
        if open_only:
            stmt = stmt.where(o.status.in_(OPEN_STATUSES))
        if symbol is not None:
            stmt = stmt.where(o.symbol == symbol)
        return [convert.order_from_row(r) for r in await self._rows(stmt.order_by(o.created_ns, o.id))]

    async def fills(self, *, symbol: Optional[str] = None, order_id: Optional[str] = None,
                    since_ns: Optional[int] = None) -> list[Fill]:
        """Stored fills, oldest first (of one symbol/order, at or after ``since_ns``)."""
        fc = FillRow.__table__.c
        stmt = select(FillRow.__table__)
        if since_ns is not None:
            stmt = stmt.where(fc.ts_ns >= since_ns)
        if symbol is not None:
            stmt = stmt.where(fc.symbol == symbol)
        if order_id is not None:
            stmt = stmt.where(fc.order_id == order_id)
        return [convert.fill_from_row(r) for r in await self._rows(stmt.order_by(fc.ts_ns, fc.id))]

    async def journal(self, kind: Optional[str] = None, limit: int = 1000, *,
                      symbol: Optional[str] = None) -> list[JournalEntry]:
        """The latest ``limit`` journal entries (of one kind/symbol), oldest first."""
        j = JournalRow.__table__.c
        stmt = select(JournalRow.__table__)
        if kind is not None:
            stmt = stmt.where(j.kind == kind)
        if symbol is not None:
            stmt = stmt.where(j.symbol == symbol)
        rows = await self._rows(stmt.order_by(j.id.desc()).limit(limit))
        return [convert.journal_from_row(r) for r in reversed(rows)]

    async def count(self, table_name: str) -> int:
        """Rows in one store table (after writing what is queued)."""
        model = TABLES.get(table_name)
        if model is None:
            raise ValueError(f"unknown table {table_name!r}; tables are: {', '.join(sorted(TABLES))}")
        rows = await self._rows(select(func.count()).select_from(model.__table__))
        return int(rows[0][0])

    # ------------------------------------------------------------------ strategy configs (direct writes)

    def _now(self) -> int:
        return self._clock.now_ns() if self._clock is not None else 0

    async def set_strategy_config(self, symbol: str, enabled: bool, params: dict, *,
                                  updated_ns: Optional[int] = None) -> None:
        """Upsert one symbol's setup switch and parameters (read at run time)."""
        if not isinstance(params, dict):
            raise ValueError(f"strategy parameters for {symbol} must be a dict, got {type(params).__name__}")
        row = {
            "symbol": symbol,
            "enabled": bool(enabled),
            "parameters": _strict_json(params, f"strategy parameters for {symbol}"),
            "updated_ns": int(self._now() if updated_ns is None else updated_ns),
        }
        t = StrategyConfigRow.__table__
        try:
            async with self._exclusive(), self._engine.begin() as conn:
                existing = (await conn.execute(select(t.c.symbol).where(t.c.symbol == symbol))).first()
                if existing is None:
                    await conn.execute(t.insert(), row)
                else:
                    await conn.execute(t.update().where(t.c.symbol == symbol), row)
        except Exception as exc:
            raise StoreError(f"cannot save strategy config for {symbol}: {describe_error(exc)}") from None

    async def get_strategy_config(self, symbol: str) -> Optional[tuple[bool, dict]]:
        t = StrategyConfigRow.__table__
        rows = await self._rows(select(t).where(t.c.symbol == symbol))
        if not rows:
            return None
        return bool(rows[0].enabled), json.loads(rows[0].parameters or "{}")

    async def all_strategy_configs(self) -> dict[str, tuple[bool, dict]]:
        t = StrategyConfigRow.__table__
        rows = await self._rows(select(t).order_by(t.c.symbol))
        return {r.symbol: (bool(r.enabled), json.loads(r.parameters or "{}")) for r in rows}

    # ------------------------------------------------------------------ backtest runs (direct writes)

    async def save_run(self, kind: str, params: dict, metrics: dict, *, fingerprint: str = "",
                       created_ns: Optional[int] = None, detail: Any = None,
                       run_id: Optional[str] = None) -> str:
        """Store one backtest/sweep/walk-forward result; returns its id."""
        rid = run_id or uuid.uuid4().hex
        row = {
            "id": rid,
            "created_ns": int(self._now() if created_ns is None else created_ns),
            "kind": kind,
            "params": _strict_json(params, "run params"),
            "fingerprint": fingerprint,
            "metrics": _strict_json(metrics, "run metrics"),
            "detail": None if detail is None else _strict_json(detail, "run detail"),
        }
        try:
            async with self._exclusive(), self._engine.begin() as conn:
                await conn.execute(RunRow.__table__.insert(), row)
        except Exception as exc:
            raise StoreError(f"cannot save run {rid}: {describe_error(exc)}") from None
        return rid

    async def list_runs(self, kind: Optional[str] = None, limit: Optional[int] = None) -> list[RunRecord]:
        """Stored runs, newest first."""
        t = RunRow.__table__
        stmt = select(t)
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind)
        stmt = stmt.order_by(t.c.created_ns.desc(), t.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [
            RunRecord(
                id=r.id,
                created_ns=int(r.created_ns),
                kind=r.kind,
                params=json.loads(r.params),
                fingerprint=r.fingerprint,
                metrics=json.loads(r.metrics),
                detail=convert.loads(r.detail),
            )
            for r in await self._rows(stmt)
        ]


    # ------------------------------------------------------------------ simulated sessions (direct writes)

    async def add_sim_session(self, key: str, run_id: str, session_date: str, start: str, data_ns: int,
                              detail: Any = None) -> None:
        """Note that a simulated session starts (engine/sim_resume.py)."""
        row = {"key": key, "run_id": run_id, "session_date": session_date, "start": start, "data_ns": int(data_ns),
               "detail": None if detail is None else _strict_json(detail, "sim session detail")}
        try:
            async with self._exclusive(), self._engine.begin() as conn:
                await conn.execute(SimSessionRow.__table__.insert(), row)
        except Exception as exc:
            raise StoreError(f"cannot record the simulated session start: {describe_error(exc)}") from None

    async def sim_sessions(self, limit: int = 1000) -> list[SimSessionRecord]:
        """Starts of simulated sessions, newest first."""
        t = SimSessionRow.__table__
        rows = await self._rows(select(t).order_by(t.c.seq.desc()).limit(limit))
        return [SimSessionRecord(seq=int(r.seq), key=r.key, run_id=r.run_id, session_date=r.session_date,
                                 start=r.start, data_ns=int(r.data_ns or 0), detail=convert.loads(r.detail))
                for r in rows]

    async def last_data_ns(self, start_ns: int, end_ns: int) -> int:
        """The latest data time anything was recorded at in [start_ns, end_ns): a closed
        candle's end, a fill, an order update, an account snapshot, a journal line
        (0 when nothing was). A run records as data time moves, so this is where a
        stopped or killed simulated run had got to."""
        latest = 0
        for col, extra in ((CandleRow.__table__.c.ts_ns, 60 * 1_000_000_000), (FillRow.__table__.c.ts_ns, 0),
                           (OrderRow.__table__.c.updated_ns, 0), (AccountSnapshotRow.__table__.c.ts_ns, 0),
                           (JournalRow.__table__.c.ts_ns, 0)):
            rows = await self._rows(select(func.max(col)).where(col >= start_ns, col < end_ns))
            if rows and rows[0][0] is not None:
                latest = max(latest, min(int(rows[0][0]) + extra, end_ns - 1))
        return latest


def where(url: str) -> str:
    """How messages name a store: the file of a SQLite store, else its URL without the password."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return u.database if u.database not in (None, "") else ":memory:"
    return safe_url(url)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers (the UI, a CLI query) run while the writer writes;
    synchronous=NORMAL is durable across application crashes in WAL mode and
    much faster than FULL; busy_timeout rides out a concurrent writer."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
    finally:
        cur.close()


def _sqlite_sync_engine(url: str) -> SyncEngine:
    """A plain engine on the same SQLite file: the writer's worker thread writes
    batches through it, and the integrity check at open reads through it."""
    sync_url = make_url(url).set(drivername="sqlite")
    engine = create_engine(sync_url, connect_args={"check_same_thread": False}, pool_size=1, max_overflow=1)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _check_sqlite_integrity(engine: SyncEngine, path: Optional[str]) -> None:
    """``PRAGMA quick_check`` on an existing file: a damaged store is refused with one
    line naming the file and what to do, before anything reads or writes it."""
    if not path or not Path(path).exists() or Path(path).stat().st_size == 0:
        return
    advice = "move it aside (or restore a backup) and start again, or pass --db with another file"
    try:
        with engine.connect() as conn:
            problems = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check").all()]
    except Exception as exc:
        engine.dispose()
        text = describe_error(exc)
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            raise StoreError(f"store {path} is damaged ({text}): {advice}") from None
        raise StoreError(f"cannot open store {path}: {text}") from None
    if problems != ["ok"]:
        engine.dispose()
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StoreError(f"store {path} is damaged (SQLite quick_check: {problems[0][:200]}{more}): {advice}")
