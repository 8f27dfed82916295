"""The real market data files tests read from ``../shared/data`` beside the
checkout (CI puts shared/ there; see shared/data/README.md), and the one lookup
every test uses for them.

A missing file fails the test that needs it, naming the file, instead of a silent
skip that would let CI pass without ever reading real data. To run without the
files on purpose, set ``COCKPIT_NO_SHARED_DATA=1``: those tests then skip, still
naming the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OPT_OUT_ENV = "COCKPIT_NO_SHARED_DATA"
FILES = (
    "6eh4_202401_bars_1m.csv.gz",
    "btcusdt_perp_202201_bars_1m.csv",
    "btcusdt_perp_20240808_trades.csv",
    "esh4_20231225_trades.csv",
)


def opted_out() -> bool:
    return os.environ.get(OPT_OUT_ENV, "") == "1"


def shared_file(name: str) -> Path:
    """The path of shared data file ``name``; fails (or, opted out, skips) the
    calling test when the file is absent."""
    if name not in FILES:
        raise ValueError(f"{name!r} is not one of the shared data files {FILES}: add it to FILES")
    path = SHARED_DATA / name
    if path.exists():
        return path
    if opted_out():
        pytest.skip(f"{path} is absent and {OPT_OUT_ENV}=1")
    pytest.fail(f"shared data file {path} is missing: the tests read real data from ../shared/data beside "
                f"the checkout (set {OPT_OUT_ENV}=1 to skip the tests that need it)", pytrace=False)
