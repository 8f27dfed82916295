"""Journal lines formatted when read (model.LazyJournalEntry, Recorder.logf) and the
cheap dropped signal (SignalDesk.on_signal): the trader, the store and the tests see
the same lines and rows as when every line was formatted at once."""
import copy
import dataclasses
import pickle

import pytest

from engine.clock import FixedClock
from engine.model import (Decision, JournalEntry, LazyJournalEntry, Side, Signal, evolve)
from engine.notify import Notifier
from engine.recorder import Recorder
from engine.store.convert import journal_to_row
from tests.factories import engine_config, paper_engine


class CountsFormats:
    """A value that counts how often it is formatted."""

    def __init__(self) -> None:
        self.formatted = 0

    def __format__(self, spec: str) -> str:
        self.formatted += 1
        return format(12.345, spec)


def test_a_line_is_formatted_when_first_read_and_only_once():
    price = CountsFormats()
    rec = Recorder(FixedClock(5), Notifier(), 10, redact=lambda s: s.replace("SECRET", "***"))
    rec.logf("info", "fill", "filled {} {} @ {:.2f} key SECRET", ("buy", 100, price), "SPY")
    assert price.formatted == 0  # recorded, not formatted
    entry = rec.journal[-1]
    assert entry.message == "filled buy 100 @ 12.35 key ***"  # formatted and redacted when read
    assert entry.message == "filled buy 100 @ 12.35 key ***"
    assert price.formatted == 1


def test_a_lazy_line_is_the_line_built_whole():
    args = ("sell", 7, "AAPL", 187.8387819, "entry")
    text = f"filled {args[0]} {args[1]} {args[2]} @ {args[3]:.2f} ({args[4]})"
    eager = JournalEntry(9, "info", "fill", text, "AAPL", {"signal_id": "x"})
    lazy = LazyJournalEntry(9, "info", "fill", "filled {} {} {} @ {:.2f} ({})", args, "AAPL", {"signal_id": "x"})
    assert lazy == eager and eager == lazy
    assert repr(lazy) == repr(eager).replace("JournalEntry(", "LazyJournalEntry(", 1)
    assert dataclasses.asdict(lazy) == dataclasses.asdict(eager)
    assert journal_to_row(LazyJournalEntry(9, "info", "fill", "filled {} {} {} @ {:.2f} ({})", args, "AAPL",
                                           {"signal_id": "x"})) == journal_to_row(eager)
    for copied in (pickle.loads(pickle.dumps(lazy)), copy.copy(lazy), copy.deepcopy(lazy), evolve(lazy)):
        assert type(copied) is JournalEntry and copied == eager
    assert evolve(lazy, level="warn") == evolve(eager, level="warn")
    no_data = LazyJournalEntry(9, "info", "fill", "{}", ("x",))
    assert hash(no_data) == hash(JournalEntry(9, "info", "fill", "x"))


def test_a_lazy_line_cannot_be_changed():
    lazy = LazyJournalEntry(1, "info", "order", "{}", ("a",))
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError)):
        lazy.message = "b"


def test_a_dropped_signal_keeps_its_lines_and_its_row():
    engine = paper_engine(engine_config("AUTO"))
    desk = engine.desk
    engine.broker.has_exposure = lambda symbol: True  # an open position in the symbol
    recorded = []
    engine.recorder.signal = recorded.append
    sig = Signal("SPY-auction-1", "SPY", "auction", Side.BUY, 501.256, 500.0, 504.0, 0.8, "why: {not a field}", 1)
    assert desk.on_signal(sig, 0) is None
    lines = [(e.level, e.kind, e.message, e.symbol, e.data) for e in list(engine.journal)[-2:]]
    run_id = f"{engine.run_id}:SPY-auction-1" if engine.run_id else "SPY-auction-1"
    reason = "SPY already has a pending signal or an open position"
    assert lines == [
        ("info", "signal", "auction buy @ 501.26: why: {not a field}", "SPY", None),
        ("info", "decision", f"dropped: auction buy SPY — {reason}", "SPY", {"signal_id": run_id}),
    ]
    assert recorded == [evolve(sig, id=run_id, decision=Decision.DROPPED, decision_reason=reason,
                               decided_ns=engine.clock.now_ns())]
    assert desk.decisions[0] == recorded[0]
    assert desk.signal_counts[("auction", "dropped")] == 1


def test_enum_flags_read_as_attributes_keep_their_values():
    from engine.model import OrderStatus
    assert {s for s in OrderStatus if s.is_open} == {OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
                                                     OrderStatus.HELD, OrderStatus.UNKNOWN}
    assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)
    assert all(s.is_open is s.is_open for s in OrderStatus)  # worked out once per member
