"""model.evolve: the fast dataclasses.replace used on the signal and order paths."""
from dataclasses import fields, replace

import pytest

from engine.model import Decision, Order, OrderLeg, OrderStatus, OrderType, Side, Signal, evolve


def _signal() -> Signal:
    return Signal("SPY-auction-1", "SPY", "auction", Side.BUY, 500.0, 499.0, 503.0, 71.5, "why", 1, qty=3)


def test_evolve_equals_replace_for_every_field():
    s = _signal()
    for f in fields(Signal):
        value = getattr(s, f.name)
        other = Decision.AUTO if f.name == "decision" else (value + 1 if isinstance(value, (int, float)) else f"{value}x")
        got = evolve(s, **{f.name: other})
        assert got == replace(s, **{f.name: other})
        assert getattr(got, f.name) == other
    assert evolve(s) == s and evolve(s) is not s


def test_evolve_keeps_the_original_and_is_frozen():
    s = _signal()
    t = evolve(s, qty=7, risk_usd=7.0)
    assert (s.qty, s.risk_usd) == (3, 0.0) and (t.qty, t.risk_usd) == (7, 7.0)
    with pytest.raises(AttributeError):
        t.qty = 1  # type: ignore[misc]


def test_evolve_rejects_unknown_fields_like_replace():
    o = Order("o1", "c1", "SPY", Side.SELL, OrderType.STOP, 10, OrderStatus.NEW, leg=OrderLeg.STOP_LOSS)
    with pytest.raises(TypeError, match="nope"):
        evolve(o, nope=1)
    with pytest.raises(TypeError):
        replace(o, nope=1)
