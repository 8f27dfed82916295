"""The Engine's seams: roles reached only through public methods, the broker and
feed called through their base classes, one notification per trader command,
data time moved by the engine alone, blocks counted by a typed rule."""
import ast
import pathlib

from engine.brokers.alpaca import AlpacaBroker
from engine.brokers.base import BacktestBroker, Broker
from engine.brokers.paper import PaperBroker
from engine.clock import DataClock
from engine.feeds.alpaca import AlpacaFeed
from engine.feeds.base import ControllableFeed, Feed
from engine.feeds.polygon import PolygonFeed
from engine.feeds.replay import ReplayFeed
from engine.feeds.synthetic import SyntheticFeed
from engine.backtest.feed import ArrayFeed
from engine.model import NS_PER_MIN, Bar, Decision, Mode
from engine.risk import RiskRule
from tests.factories import engine_config, paper_engine

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENGINE_NAMES = {"engine", "eng", "live", "bt"}


def _private_engine_uses(path: pathlib.Path) -> list[str]:
    """``engine._x`` / ``self.engine._x`` style reads of an Engine's privates."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            continue
        base = node.value
        name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
        if name in ENGINE_NAMES:
            out.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}.{node.attr}")
    return out


def test_nothing_outside_the_engine_module_reads_engine_privates():
    files = [p for d in ("cockpit", "widgets", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py")]
    files += [p for p in (ROOT / "engine").rglob("*.py") if p.name != "engine.py"]
    offenders = [hit for p in files for hit in _private_engine_uses(p)]
    assert not offenders, "\n".join(offenders)


def test_the_engine_never_probes_its_broker_or_feed():
    roles = ["engine.py", "data_engine.py", "desk.py", "router.py", "recorder.py", "startup.py", "views.py"]
    for name in roles:
        text = (ROOT / "engine" / name).read_text()
        for probe in ("getattr(self.broker", "getattr(self.feed", "getattr(broker", "getattr(feed",
                      "hasattr(self.broker", "hasattr(self.feed"):
            assert probe not in text, f"engine/{name} probes with {probe}"


def test_brokers_and_feeds_implement_their_base_classes():
    assert issubclass(PaperBroker, BacktestBroker) and issubclass(AlpacaBroker, Broker)
    for cls in (PaperBroker, AlpacaBroker):
        assert not cls.__abstractmethods__, (cls.__name__, cls.__abstractmethods__)
    for cls in (ReplayFeed, SyntheticFeed):
        assert issubclass(cls, ControllableFeed) and not cls.__abstractmethods__
    for cls in (AlpacaFeed, PolygonFeed, ArrayFeed):
        assert issubclass(cls, Feed) and not issubclass(cls, ControllableFeed) and not cls.__abstractmethods__
    assert AlpacaFeed.can_backfill and PolygonFeed.can_backfill and not SyntheticFeed.can_backfill


async def test_an_approval_notifies_the_ui_once():
    eng = paper_engine(engine_config("SEMI", engine={"signal_ttl_s": 3600, "signal_run_fraction": 100}))
    await eng.prepare()
    await eng.feed.start()
    async for item in eng.feed.stream():
        closed = eng.on_data(item)
        if closed:
            await eng.on_bars_closed(closed)
        if eng.pending:
            break
    assert eng.pending, "the seeded session produced no pending signal"
    calls = []
    eng.add_listener(lambda: calls.append(eng.version))
    before = eng.version
    sig = await eng.approve(next(iter(eng.pending)))
    assert sig is not None and sig.decision is Decision.APPROVED
    assert len([o for o in eng.broker.open_orders() if o.signal_id == sig.id]) >= 1  # the entry and its legs
    assert len(calls) == 1 and calls[0] > before

    calls.clear()
    await eng.flatten_all()
    assert len(calls) == 1
    await eng.feed.stop()


async def test_the_engine_alone_moves_data_time():
    clock = DataClock()
    eng = paper_engine(engine_config("WATCH"), clock=clock)
    await eng.feed.start()
    first = None
    async for item in eng.feed.stream():  # the feed hands items out; the clock stays where it is
        first = item
        break
    assert first is not None and clock.now_ns() == 0
    eng.on_data(first)
    assert clock.now_ns() == first.ts_ns
    t = first.ts_ns // NS_PER_MIN * NS_PER_MIN + 10 * NS_PER_MIN
    eng.on_data(Bar(first.symbol, t, 100.0, 101.0, 99.0, 100.5, 1000.0))
    assert clock.now_ns() == t + NS_PER_MIN  # a bar is known at its end
    eng.warm_up([Bar(first.symbol, t + 60 * NS_PER_MIN, 100.0, 101.0, 99.0, 100.5, 1000.0)])
    assert clock.now_ns() == t + NS_PER_MIN  # history does not move time
    await eng.feed.stop()


async def test_blocks_are_counted_by_their_rule():
    eng = paper_engine(engine_config("AUTO", risk={"max_positions": 1}))
    await eng.start()
    await eng.wait_done()
    await eng.stop()
    reasons = eng.summary()["blocked_reasons"]
    assert reasons, "the seeded session blocked nothing"
    rules = {r.value for r in RiskRule}
    assert set(reasons) <= rules, set(reasons) - rules
    assert reasons.get(RiskRule.MAX_POSITIONS.value, 0) >= 1
    blocked = [d for d in eng.decisions if d.decision is Decision.BLOCKED]
    assert any(d.decision_reason.startswith("max_positions 1 reached") for d in blocked)


def test_mode_lives_on_the_desk():
    eng = paper_engine(engine_config("SEMI"))
    eng.set_mode(Mode.WATCH)
    assert eng.mode is Mode.WATCH and eng.desk.mode is Mode.WATCH and eng.snapshot().mode is Mode.WATCH
