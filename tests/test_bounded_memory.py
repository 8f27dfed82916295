"""Bounded memory (issue 20 item 4): over many simulated days no list, dict, set or
deque the engine holds grows with the days, and the panes get capped lists. The
fills, the finished orders and their client ids live in the store, not in memory."""
import asyncio
from collections import deque

from tests.factories import engine_config, paper_engine

DAYS = 7
SLACK = 6  # a container may differ by a few items from day to day (open orders, pending, ...)
# bounded by design, growing by one entry per calendar day until their cap
CAPPED_PER_DAY = {"calendar._plans": "SessionCalendar keeps at most _MAX_CACHED_DAYS day plans",
                  # fills heard and made into trades when read: emptied each new day (or at a count)
                  "router.day_trades._unread": "DayTrades catches up at _CATCH_UP_AT fills and each new day"}
# bounded by the prices visited, not by time: a dense histogram list over the range traded,
# and the open bar's volume at price (one bar's range: it starts empty each minute)
BY_PRICE_RANGE = ("._profile._h", "._builder.vap")


def _is_engine_object(obj) -> bool:
    return type(obj).__module__.startswith("engine.") and not isinstance(obj, type)


def _attrs(obj) -> dict:
    out = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in out and hasattr(obj, name):
                out[name] = getattr(obj, name)
    return out


def container_sizes(root) -> dict[str, int]:
    """len() of every list, dict, set and deque reachable from ``root`` through engine
    objects (and the engine objects inside such containers), by attribute path."""
    sizes: dict[str, int] = {}
    seen: set[int] = set()

    def walk(obj, path: str, depth: int) -> None:
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        for name, value in _attrs(obj).items():
            where = f"{path}.{name}" if path else name
            if isinstance(value, (list, dict, set, frozenset, deque)):
                if not (isinstance(value, deque) and value.maxlen is not None):  # capped by construction
                    sizes[where] = max(sizes.get(where, 0), len(value))
                items = value.values() if isinstance(value, dict) else value
                for item in list(items)[:64]:
                    if _is_engine_object(item):
                        walk(item, where + "[]", depth + 1)
            elif _is_engine_object(value):
                walk(value, where, depth + 1)

    walk(root, "", 0)
    return sizes


def test_nothing_the_engine_holds_grows_with_the_days(monkeypatch):
    monkeypatch.setattr("engine.router.RECENT_FILLS", 15)
    monkeypatch.setattr("engine.brokers.paper.KEEP_DONE_ORDERS", 20)
    monkeypatch.setattr("engine.router.RECENT_ATTEMPTS", 20)
    monkeypatch.setattr("engine.order_events.KEEP_ORDERS", 20)
    cfg = engine_config("AUTO", app={"symbols": ["SPY", "TSLA"]}, feed={"days": DAYS})
    eng = paper_engine(cfg)
    eng.feed.trades_per_session = 6000  # small days: the test is about days, not trades
    nights: list[dict[str, int]] = []
    panes: list[dict[str, int]] = []
    engine_beat = eng.data.on_heartbeat
    last_day = [None]

    def on_heartbeat(ts_ns):
        engine_beat(ts_ns)
        day = eng.feed.session_date
        if day != last_day[0]:  # the first heartbeat after a day's close
            last_day[0] = day
            nights.append(container_sizes(eng))
            snap = eng.snapshot()
            panes.append({"alerts": len(snap.alerts), "decisions": len(snap.decisions), "orders": len(snap.orders),
                          "journal": len(snap.journal), "fills": len(eng.fills)})

    eng.data.on_heartbeat = on_heartbeat

    async def run():
        await eng.start()
        await eng.wait_done()
        await eng.stop()

    asyncio.run(run())
    assert len(nights) == DAYS - 1
    assert eng.summary()["fills"] > 3 * 15 and eng.broker.order_count() > 3 * 20  # the caps were reached
    # growth, not one busy day: the smaller of the last two nights above the larger of days 2-3
    # (a night holds that day's finished orders until the next day's start; since the
    # simulator's calibration, issue 16, days differ in how much they trade)
    early = {path: max(n.get(path, 0) for n in nights[1:3]) for path in nights[-1]}
    late = {path: min(n.get(path, 0) for n in nights[-2:]) for path in nights[-1]}
    grown = {path: (early[path], n) for path, n in late.items()
             if n > early[path] + SLACK and path not in CAPPED_PER_DAY and not path.endswith(BY_PRICE_RANGE)}
    assert not grown, f"containers growing with the days (days 2-3 -> days {DAYS - 2}-{DAYS - 1}): {grown}"
    assert max(p["fills"] for p in panes) <= 15
    cap = {"alerts": 100, "decisions": 200, "journal": cfg.engine.journal_size}
    for p in panes:
        assert all(p[k] <= v for k, v in cap.items()), p
        assert p["orders"] <= 30 + 2 * 3  # the orders pane: open ones plus the 30 latest finished
