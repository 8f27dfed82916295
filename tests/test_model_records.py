"""Records (engine/model.py) are slotted dataclasses, immutable by contract: in a
run they are built without the frozen dataclass's per-field object.__setattr__;
under test they are frozen, so code that assigns to one fails here. Both builds
compare, hash, copy and pickle alike."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.model import FROZEN_RECORDS, Bar, Order, OrderStatus, OrderType, Side, evolve

ROOT = Path(__file__).resolve().parents[1]


def test_records_are_frozen_under_test():
    assert FROZEN_RECORDS
    bar = Bar("SPY", 1, 1.0, 2.0, 0.5, 1.5, 10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        bar.close = 3.0  # type: ignore[misc]


CHECK = r"""
import json, pickle, dataclasses
from engine.model import FROZEN_RECORDS, Bar, Order, OrderStatus, OrderType, Side, evolve
bar = Bar("SPY", 1, 1.0, 2.0, 0.5, 1.5, 10.0, 6.0, 4.0, 3, 1.25)
same = Bar("SPY", 1, 1.0, 2.0, 0.5, 1.5, 10.0, 6.0, 4.0, 3, 1.25)
o = Order("paper-1", "ck-1", "SPY", Side.BUY, OrderType.MARKET, 5, OrderStatus.NEW)
print(json.dumps({
    "frozen": FROZEN_RECORDS,
    "params_frozen": Bar.__dataclass_params__.frozen,
    "slots": hasattr(Bar, "__slots__") and not hasattr(bar, "__dict__"),
    "equal": bar == same, "hash_equal": hash(bar) == hash(same), "in_set": len({bar, same}) == 1,
    "hash": hash(o), "evolved": evolve(o, status=OrderStatus.FILLED).status.value, "kept": o.status.value,
    "pickled": pickle.loads(pickle.dumps(bar)) == bar,
    "replace": dataclasses.replace(bar, close=1.75).close,
}))
"""


@pytest.mark.parametrize("frozen", ["", "1"])
def test_a_run_builds_records_unfrozen_and_they_behave_as_frozen_ones(frozen):
    env = {k: v for k, v in os.environ.items() if k != "COCKPIT_FROZEN_RECORDS"}
    if frozen:
        env["COCKPIT_FROZEN_RECORDS"] = frozen
    out = json.loads(subprocess.run([sys.executable, "-c", CHECK], check=True, capture_output=True, text=True,
                                    cwd=ROOT, env=env).stdout)
    assert out.pop("frozen") is bool(frozen) and out.pop("params_frozen") is bool(frozen)
    out.pop("hash")
    assert out == {"slots": True, "equal": True, "hash_equal": True, "in_set": True, "evolved": "filled",
                   "kept": "new", "pickled": True, "replace": 1.75}


def test_evolve_leaves_the_original_alone():
    o = Order("paper-1", "ck-1", "SPY", Side.BUY, OrderType.MARKET, 5, OrderStatus.NEW)
    assert evolve(o, qty=7).qty == 7 and o.qty == 5
