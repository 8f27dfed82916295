"""engine.store: batched writes, upserts, WAL, restart reload, configs, runs, failures."""
from __future__ import annotations

import math
import sqlite3
import time

import pytest

from engine.clock import FixedClock
from engine.model import (
    NS_PER_MIN,
    Account,
    Bar,
    Decision,
    Fill,
    JournalEntry,
    Order,
    OrderLeg,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
)
from engine.store import Store, StoreError, open_sync, resolve_url, safe_url
from engine.store.writer import KINDS, UpsertBuilder
from tests.factories import T0
from tests.waiting import wait_for

DAY = 24 * 60 * NS_PER_MIN


def bar(sym: str, i: int, *, base: int = T0, close: float = 100.0, vap=True, flow=True) -> Bar:
    c = close + i * 0.01
    return Bar(
        symbol=sym,
        ts_ns=base + i * NS_PER_MIN,
        open=c - 0.02,
        high=c + 0.05,
        low=c - 0.07,
        close=c,
        volume=1000.0 + i,
        buy_volume=600.0 + i if flow else math.nan,
        sell_volume=400.0 if flow else math.nan,
        trades=10 + i,
        vwap=c - 0.001,
        vap=((c - 0.05, 300.0 + i), (c, 400.0), (c + 0.05, 300.0)) if vap else None,
    )


def signal(sid: str, sym: str = "SPY", created: int = T0, decision=Decision.PENDING, reason="") -> Signal:
    return Signal(
        id=sid, symbol=sym, setup="auction", side=Side.BUY, entry=100.0, stop=99.5, target=101.5,
        confidence=0.7, reason="LVN reclaim", created_ns=created, qty=10, risk_usd=5.0, r_multiple=3.0,
        expires_ns=created + 60 * 10**9, decision=decision, decision_reason=reason,
        decided_ns=0 if decision is Decision.PENDING else created + 5 * 10**9,
    )


def order(oid: str, status=OrderStatus.ACCEPTED, filled=0, sym="SPY", leg=OrderLeg.ENTRY, parent=None) -> Order:
    return Order(
        id=oid, client_order_id="c-" + oid, symbol=sym, side=Side.BUY, type=OrderType.LIMIT, qty=10,
        status=status, filled_qty=filled, avg_fill_price=100.01 if filled else 0.0, limit_price=100.0,
        stop_price=None, leg=leg, parent_id=parent, signal_id="s1", created_ns=T0, updated_ns=T0 + filled,
    )


def raw_count(path, table: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


# --------------------------------------------------------------------------- batching


async def test_batched_writes_land_only_after_flush(tmp_path):
    path = tmp_path / "c.db"
    st = await Store.open(str(path), batch_size=10_000, interval_s=60)
    try:
        for i in range(50):
            st.record_bar(bar("SPY", i))
            st.record_state("SPY", T0 + i * NS_PER_MIN, "BALANCE", 100.0, 100.5, 99.5, 0.1, 0.2)
            st.record_flow("SPY", T0 + i * NS_PER_MIN, 600.0, 400.0, 200.0, 200.0 * (i + 1), 60.0, 40.0, "buy")
        st.record_journal(JournalEntry(T0, "info", "feed", "connected"))
        assert st.backlog == 151
        assert raw_count(path, "candles") == 0  # queued, not written yet
        await st.flush()
        assert st.backlog == 0
        assert raw_count(path, "candles") == 50
        assert raw_count(path, "market_state") == 50
        assert raw_count(path, "order_flow") == 50
        assert raw_count(path, "journal") == 1
        assert st.rows_written == 151
        assert st.last_error is None
    finally:
        await st.close()


async def test_background_writer_flushes_on_its_own(tmp_path):
    path = tmp_path / "bg.db"
    st = await Store.open(str(path), batch_size=10_000, interval_s=0.05)
    try:
        for i in range(5):
            st.record_bar(bar("QQQ", i))
        await wait_for(lambda: st.backlog == 0 and raw_count(path, "candles") == 5, what="the background flush")
    finally:
        await st.close()


async def test_a_full_batch_is_written_without_waiting_for_the_interval(tmp_path):
    path = tmp_path / "full.db"
    st = await Store.open(str(path), batch_size=20, interval_s=600)
    try:
        for i in range(45):
            st.record_bar(bar("SPY", i))
        # the interval is 10 minutes: only the batch size can trigger this write
        await wait_for(lambda: raw_count(path, "candles") >= 20, what="the full batch written")
    finally:
        await st.close()
    assert raw_count(path, "candles") == 45  # close wrote the rest


async def test_sqlite_is_in_wal_mode(tmp_path):
    path = tmp_path / "wal.db"
    st = await Store.open(str(path))
    st.record_bar(bar("SPY", 0))
    await st.flush()
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()
    assert (tmp_path / "wal.db-wal").exists()
    await st.close()


# --------------------------------------------------------------------------- upserts keep one row


async def test_signal_decision_updates_the_same_row(store):
    store.record_signal(signal("s1"))
    await store.flush()
    store.record_signal(signal("s1", decision=Decision.APPROVED, reason="key a"))
    store.record_signal(signal("s2", decision=Decision.BLOCKED, reason="max_positions 3 reached"))
    await store.flush()
    assert await store.count("signals") == 2
    (s1,) = await store.signals(Decision.APPROVED)
    assert s1.id == "s1" and s1.decision_reason == "key a" and s1.decided_ns == T0 + 5 * 10**9
    assert s1 == signal("s1", decision=Decision.APPROVED, reason="key a")  # every field round-trips
    (s2,) = await store.signals("blocked")
    assert s2.decision_reason == "max_positions 3 reached"
    assert await store.signals(Decision.PENDING) == []


async def test_several_versions_in_one_batch_write_the_last(store):
    store.record_order(order("o1", OrderStatus.NEW))
    store.record_order(order("o1", OrderStatus.PARTIALLY_FILLED, filled=4))
    store.record_order(order("o1", OrderStatus.FILLED, filled=10))
    await store.flush()
    assert await store.count("orders") == 1
    (o,) = await store.orders()
    assert o.status is OrderStatus.FILLED and o.filled_qty == 10 and o.limit_price == 100.0
    assert o.stop_price is None
    assert await store.orders(open_only=True) == []


async def test_order_status_update_across_flushes_keeps_one_row(store):
    store.record_order(order("o1", OrderStatus.ACCEPTED))
    await store.flush()
    assert [o.status for o in await store.orders(open_only=True)] == [OrderStatus.ACCEPTED]
    store.record_order(order("o1", OrderStatus.CANCELED))
    await store.flush()
    assert await store.count("orders") == 1
    assert (await store.orders())[0].status is OrderStatus.CANCELED


async def test_rewriting_a_candle_does_not_duplicate_it(store):
    store.record_bar(bar("SPY", 0, close=100.0))
    await store.flush()
    store.record_bar(bar("SPY", 0, close=101.0))
    store.record_bar(bar("SPY", 0, close=102.0))
    await store.flush()
    assert await store.count("candles") == 1
    (b,) = await store.load_bars("SPY", T0, T0 + NS_PER_MIN)
    assert b.close == 102.0


async def test_a_fill_is_stored_once(store):
    f = Fill("f1", "o1", "c-o1", "SPY", Side.BUY, 10, 100.01, 0.05, T0 + 7)
    store.record_fill(f)
    store.record_fill(Fill("f1", "o1", "c-o1", "SPY", Side.BUY, 10, 555.0, 0.05, T0 + 7))  # same batch
    await store.flush()
    store.record_fill(f)
    await store.flush()
    assert await store.count("fills") == 1
    assert await store.fills(symbol="SPY") == [f]


# --------------------------------------------------------------------------- restart


async def test_restart_reloads_todays_state(store_url):
    path = store_url
    session = T0
    prev_session = T0 - DAY
    st = await Store.open(path)
    prev_bars = [bar("SPY", i, base=prev_session, close=95.0) for i in range(3)]
    today_spy = [bar("SPY", i) for i in range(30)]
    today_qqq = [bar("QQQ", i, close=400.0, vap=False, flow=False) for i in range(5)]
    for b in prev_bars + today_spy + today_qqq:
        st.record_bar(b)
    for i in range(30):
        st.record_flow("SPY", T0 + i * NS_PER_MIN, 600.0, 400.0, 200.0, 200.0 * (i + 1), 60.0, 30.0, "buy")
    st.record_flow("SPY", prev_session, 1, 2, -1, -999.0, 33.0, 0.0, "sell")
    # positions: SPY opened then added to; QQQ opened then flattened -> not restored
    st.record_position(Position("SPY", 10, 100.0, 100.2, 2.0, opened_ns=T0), T0 + 1)
    st.record_position(Position("SPY", 20, 100.1, 100.3, 4.0, 0.5, stop=99.5, target=101.5, opened_ns=T0), T0 + 2)
    st.record_position(Position("QQQ", -5, 400.0, 399.0, 5.0), T0 + 1)
    st.record_position(Position("QQQ", 0, 0.0, 399.0, 0.0, 5.0), T0 + 3)
    st.record_order(order("o1", OrderStatus.FILLED, filled=10))
    st.record_order(order("tp1", OrderStatus.HELD, leg=OrderLeg.TAKE_PROFIT, parent="o1"))
    st.record_order(order("sl1", OrderStatus.ACCEPTED, leg=OrderLeg.STOP_LOSS, parent="o1"))
    st.record_signal(signal("old", created=prev_session))  # yesterday's never-decided signal
    st.record_signal(signal("p1", created=T0 + 10))
    st.record_signal(signal("p2", sym="QQQ", created=T0 + 20))
    st.record_signal(signal("d1", created=T0 + 5, decision=Decision.REJECTED, reason="key r"))
    st.record_account(Account(100_000.0, 90_000.0, 180_000.0, 100_000.0), T0 + 1)
    st.record_account(Account(100_012.5, 89_000.0, 178_000.0, 100_000.0, 10.0, 2.5, 0.1), T0 + 2)
    for k in range(5):
        st.record_journal(JournalEntry(T0 + k, "info", "order", f"entry {k}", "SPY", {"k": k}))
    st.record_journal(JournalEntry(prev_session, "info", "feed", "yesterday"))
    await st.close()

    st = await Store.open(path)
    try:
        state = await st.load_today(session, previous_session_start_ns=prev_session, journal_tail=3)
        assert state.bars["SPY"] == today_spy  # vap included, exactly
        assert state.bars["SPY"][7].vap == today_spy[7].vap
        assert isinstance(state.bars["SPY"][7].vap, tuple) and isinstance(state.bars["SPY"][7].vap[0], tuple)
        qqq = state.bars["QQQ"]
        assert [b.ts_ns for b in qqq] == [b.ts_ns for b in today_qqq]
        assert qqq[0].vap is None and math.isnan(qqq[0].buy_volume) and math.isnan(qqq[0].sell_volume)
        assert state.previous_bars == {"SPY": prev_bars}
        assert state.cvd == {"SPY": 6000.0}
        assert set(state.positions) == {"SPY"}
        assert state.positions["SPY"] == Position("SPY", 20, 100.1, 100.3, 4.0, 0.5, stop=99.5, target=101.5,
                                                  opened_ns=T0)
        assert sorted(o.id for o in state.open_orders) == ["sl1", "tp1"]
        assert [s.id for s in state.pending_signals] == ["p1", "p2"]
        assert state.pending == state.pending_signals
        assert state.pending_signals[0] == signal("p1", created=T0 + 10)
        assert [s.id for s in state.decisions] == ["d1"]
        assert state.account == Account(100_012.5, 89_000.0, 178_000.0, 100_000.0, 10.0, 2.5, 0.1)
        assert [e.message for e in state.journal] == ["entry 2", "entry 3", "entry 4"]
        assert state.journal[-1].data == {"k": 4} and state.journal[-1].symbol == "SPY"
    finally:
        await st.close()


async def test_load_today_on_an_empty_store(store):
    state = await store.load_today(T0)
    assert state.bars == {} and state.positions == {} and state.open_orders == []
    assert state.pending_signals == [] and state.account is None and state.journal == []


async def test_load_bars_is_half_open(store):
    for i in range(10):
        store.record_bar(bar("SPY", i))
    store.record_bar(bar("QQQ", 3))
    got = await store.load_bars("SPY", T0 + 2 * NS_PER_MIN, T0 + 5 * NS_PER_MIN)
    assert [b.ts_ns for b in got] == [T0 + k * NS_PER_MIN for k in (2, 3, 4)]


# --------------------------------------------------------------------------- configs, runs, journal


async def test_strategy_configs_round_trip(store_url):
    path = store_url
    clock = FixedClock(T0)
    st = await Store.open(path, clock=clock)
    assert await st.get_strategy_config("SPY") is None
    await st.set_strategy_config("SPY", True, {"min_aggression": 70, "setups": ["auction"], "atr_stop": 1.5})
    await st.set_strategy_config("TSLA", False, {})
    clock.advance_s(3)
    await st.set_strategy_config("SPY", False, {"min_aggression": 80})
    await st.close()

    st = await Store.open(path)
    try:
        assert await st.get_strategy_config("SPY") == (False, {"min_aggression": 80})
        assert await st.all_strategy_configs() == {"SPY": (False, {"min_aggression": 80}), "TSLA": (False, {})}
        assert await st.count("strategy_configs") == 2
        if "://" not in path:  # the time is stored as given (a SQLite file is read directly)
            con = sqlite3.connect(path)
            assert con.execute("SELECT updated_ns FROM strategy_configs WHERE symbol='SPY'").fetchone()[0] == \
                T0 + 3 * 10**9
            con.close()
        with pytest.raises(ValueError, match="strategy parameters for SPY"):
            await st.set_strategy_config("SPY", True, {"bad": object()})
        with pytest.raises(ValueError, match="must be a dict"):
            await st.set_strategy_config("SPY", True, [1, 2])  # type: ignore[arg-type]
    finally:
        await st.close()


async def test_runs_round_trip_newest_first(store):
    a = await store.save_run("backtest", {"symbol": "SPY", "lookback": 60}, {"sharpe": 1.2, "trades": 14},
                          fingerprint="sha256:abc", created_ns=T0)
    b = await store.save_run("sweep", {"grid": [1, 2]}, {"best": 2}, created_ns=T0 + 1,
                          detail={"equity": [1.0, 1.1]}, run_id="sweep-1")
    assert b == "sweep-1" and len(a) == 32
    runs = await store.list_runs()
    assert [r.id for r in runs] == ["sweep-1", a]
    assert runs[0].detail == {"equity": [1.0, 1.1]}
    assert runs[1].params == {"lookback": 60, "symbol": "SPY"} and runs[1].metrics["sharpe"] == 1.2
    assert runs[1].fingerprint == "sha256:abc" and runs[1].detail is None
    assert [r.id for r in await store.list_runs(kind="backtest")] == [a]
    with pytest.raises(StoreError, match="sweep-1"):
        await store.save_run("sweep", {}, {}, run_id="sweep-1", created_ns=T0)


async def test_journal_is_stored_as_given_and_filtered(store):
    text = "order rejected: insufficient buying power (key=***)"
    store.record_journal(JournalEntry(T0, "warn", "broker", text, "SPY", {"side": Side.BUY, "qty": 3}))
    for k in range(10):
        store.record_journal(JournalEntry(T0 + k + 1, "info", "block", f"block {k}", None, None))
    got = await store.journal(kind="broker")
    assert len(got) == 1 and got[0].message == text and got[0].level == "warn"
    assert got[0].data == {"side": "buy", "qty": 3}  # enums stored by value
    assert [e.message for e in await store.journal(kind="block", limit=2)] == ["block 8", "block 9"]
    assert len(await store.journal()) == 11
    assert await store.journal(symbol="SPY") == got


async def test_count_rejects_unknown_table(store):
    with pytest.raises(ValueError, match="unknown table 'trades'.*candles"):
        await store.count("trades")


# --------------------------------------------------------------------------- URLs and helpers


async def test_sqlalchemy_url_forms(tmp_path):
    path = tmp_path / "sub" / "url.db"
    st = await Store.open(f"sqlite+aiosqlite:///{path}")
    st.record_signal(signal("u1"))
    await st.close()
    assert raw_count(path, "signals") == 1
    st = await Store.open(f"sqlite:///{path}")  # a sync driver name is upgraded to aiosqlite
    try:
        assert [s.id for s in await st.signals()] == ["u1"]
        assert st.dialect == "sqlite"
    finally:
        await st.close()


async def test_in_memory_store(tmp_path):
    st = await Store.open(":memory:")
    try:
        st.record_bar(bar("SPY", 0))
        assert await st.count("candles") == 1
    finally:
        await st.close()


def test_resolve_url(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_url(None) == f"sqlite+aiosqlite:///{tmp_path / 'xdg' / 'cockpit' / 'cockpit.db'}"
    assert resolve_url("") == resolve_url(None)
    assert (tmp_path / "xdg" / "cockpit").is_dir()
    assert resolve_url(str(tmp_path / "a" / "b.db")) == f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b.db'}"
    assert resolve_url("postgresql://u:pw@h/db").startswith("postgresql+asyncpg://u:pw@h/db")
    assert "pw" not in safe_url("postgresql+asyncpg://u:pw@h/db")
    with pytest.raises(StoreError, match="not a valid SQLAlchemy URL"):
        resolve_url("no such scheme://x")


def test_open_sync_helper(store_url):
    path = store_url
    with open_sync(path) as st:
        st.record_bar(bar("SPY", 0))
        rid = st.save_run("backtest", {"a": 1}, {"pnl": 3.5}, created_ns=T0)
        assert [r.id for r in st.list_runs()] == [rid]
        assert st.count("candles") == 1
    with open_sync(path) as st:
        assert st.load_bars("SPY", T0, T0 + NS_PER_MIN) == [bar("SPY", 0)]


# --------------------------------------------------------------------------- failures are loud, nothing lost


async def test_failed_write_is_surfaced_and_retried_without_loss(tmp_path):
    path = tmp_path / "fail.db"
    errors: list[str] = []
    st = await Store.open(str(path), interval_s=60, on_error=errors.append)
    try:
        con = sqlite3.connect(path)
        ddl = con.execute("SELECT sql FROM sqlite_master WHERE name='journal'").fetchone()[0]
        con.execute("DROP TABLE journal")
        con.commit()
        st.record_journal(JournalEntry(T0, "info", "fill", "filled 10 SPY"))
        st.record_bar(bar("SPY", 0))
        with pytest.raises(StoreError, match="not written"):
            await st.flush()
        assert st.last_error and "journal" in st.last_error
        assert errors and errors[-1] == st.last_error
        assert st.backlog == 1  # the journal row is kept, not dropped
        assert raw_count(path, "candles") == 1  # the other table was not held back
        con.execute(ddl)  # the problem goes away
        con.commit()
        con.close()
        await st.flush()
        assert st.backlog == 0
        assert [e.message for e in await st.journal()] == ["filled 10 SPY"]
    finally:
        await st.close()


async def test_unconvertible_record_is_reported_not_dropped_silently(tmp_path):
    st = await Store.open(str(tmp_path / "bad.db"))
    try:
        st.record_bar("not a bar")  # type: ignore[arg-type]
        st.record_bar(bar("SPY", 0))
        with pytest.raises(StoreError, match="could not be converted"):
            await st.flush()
        assert "candles" in st.last_error and len(st.unwritable) == 1 and st.unwritable[0][1] == ("not a bar",)
        assert await st.count("candles") == 1
    finally:
        with pytest.raises(StoreError):
            await st.close()


async def test_recording_after_close_raises(tmp_path):
    st = await Store.open(str(tmp_path / "closed.db"))
    await st.close()
    with pytest.raises(StoreError, match="closed"):
        st.record_bar(bar("SPY", 0))


# --------------------------------------------------------------------------- 10k rows


async def test_10k_rows_in_one_batch_round_trip(store_url):
    st = await Store.open(store_url, batch_size=100_000, interval_s=60)
    try:
        bars = [bar("SPY", i) for i in range(10_000)]
        for b in bars:
            st.record_bar(b)
        await st.flush()
        assert await st.count("candles") == 10_000
        assert await st.load_bars("SPY", T0, T0 + 10_000 * NS_PER_MIN) == bars
    finally:
        await st.close()


@pytest.mark.bench
async def test_throughput_10k_rows(tmp_path):
    """Timed (printed, never asserted): enqueue, flush and load of 10k bars."""
    st = await Store.open(str(tmp_path / "bench.db"), batch_size=100_000, interval_s=60)
    try:
        bars = [bar("SPY", i) for i in range(10_000)]
        t0 = time.perf_counter()
        for b in bars:
            st.record_bar(b)
        t1 = time.perf_counter()
        await st.flush()
        t2 = time.perf_counter()
        loaded = await st.load_bars("SPY", T0, T0 + 10_000 * NS_PER_MIN)
        t3 = time.perf_counter()
        assert loaded == bars
        print(f"\nstore: enqueue 10k bars {1e6 * (t1 - t0) / 1e4:.2f} us/row, "
              f"flush {t2 - t1:.3f} s ({1e4 / (t2 - t1):,.0f} rows/s), load {t3 - t2:.3f} s")
    finally:
        await st.close()


# --------------------------------------------------------------------------- other backends


async def test_portable_upsert_path_for_backends_without_on_conflict(store):
    """A backend with no native upsert gets delete+insert / filter+insert: same results."""
    store._writer._builder = UpsertBuilder("somedb")  # force the portable statements
    store.record_signal(signal("s1"))
    store.record_fill(Fill("f1", "o1", "c-o1", "SPY", Side.BUY, 10, 100.0, 0.0, T0))
    store.record_bar(bar("SPY", 0, close=100.0))
    await store.flush()
    store.record_signal(signal("s1", decision=Decision.EXPIRED, reason="ttl"))
    store.record_fill(Fill("f1", "o1", "c-o1", "SPY", Side.BUY, 10, 999.0, 0.0, T0))  # duplicate id
    store.record_fill(Fill("f2", "o1", "c-o1", "SPY", Side.BUY, 5, 100.5, 0.0, T0 + 1))
    store.record_bar(bar("SPY", 0, close=105.0))
    await store.flush()
    assert [(s.id, s.decision) for s in await store.signals()] == [("s1", Decision.EXPIRED)]
    assert [(f.id, f.price) for f in await store.fills()] == [("f1", 100.0), ("f2", 100.5)]
    assert [b.close for b in await store.load_bars("SPY", T0, T0 + NS_PER_MIN)] == [105.0]


@pytest.mark.parametrize(
    "dialect_name, upsert_sql, ignore_sql",
    [
        ("postgresql", "ON CONFLICT (id) DO UPDATE SET", "ON CONFLICT (id) DO NOTHING"),
        ("mysql", "ON DUPLICATE KEY UPDATE", "INSERT IGNORE"),
    ],
)
def test_native_upserts_compile_for_other_backends(dialect_name, upsert_sql, ignore_sql):
    import importlib

    dialect = importlib.import_module(f"sqlalchemy.dialects.{dialect_name}").dialect()
    b = UpsertBuilder(dialect_name)
    up = str(b.statement("signals", KINDS["signals"]).compile(dialect=dialect))
    ig = str(b.statement("fills", KINDS["fills"]).compile(dialect=dialect))
    assert upsert_sql in up and "decision" in up
    assert ignore_sql in ig
