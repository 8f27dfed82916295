"""Fixtures shared by the test files: the real data lookup, a temporary store,
the synthetic-data cache, the network guard, and the stand-in servers for the
Alpaca and Polygon adapters (all on 127.0.0.1).

Plain builders tests call directly live in modules beside this one
(tests/factories.py, tests/waiting.py, tests/shared_data.py, tests/ui_fixtures.py):
conftest.py is loaded by pytest, not imported by tests.

Timed tests carry the ``bench`` marker and are deselected by default
(pyproject.toml addopts); ``pytest -m bench`` runs them.
"""
from __future__ import annotations

import os

# records are frozen under test, so code that assigns to one fails here (engine/model.py)
os.environ["COCKPIT_FROZEN_RECORDS"] = "1"

import contextlib
import socket

import pytest

from engine.store import Store
from tests.shared_data import shared_file
from tests.standins.alpaca_rest import AlpacaRestStandIn
from tests.standins.alpaca_streams import MarketDataStreamStandIn, TradingStreamStandIn
from tests.standins.polygon_rest import PolygonRestStandIn
from tests.standins.polygon_ws import PolygonWsStandIn
from tests.standins.testkit import KEY_ID, POLYGON_KEY, SECRET, T0

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", None)


@pytest.fixture
def shared_data():
    """``shared_data(name)``: the path of a real data file in ../shared/data; the
    test fails naming the file when it is missing (skips if COCKPIT_NO_SHARED_DATA=1)."""
    return shared_file


@pytest.fixture
async def store(tmp_path):
    """An open SQLite store in the test's temporary directory, closed afterwards."""
    st = await Store.open(str(tmp_path / "cockpit.db"))
    yield st
    await st.close()  # a no-op when the test closed it


@pytest.fixture
def synthetic_cache(tmp_path_factory, monkeypatch):
    """One cache of generated synthetic sessions for the whole run (they are costly
    to generate and the same for every test), outside the user's cache dir."""
    monkeypatch.setenv("COCKPIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "synthetic-cache"))


@pytest.fixture
def local_network_only(monkeypatch):
    """Any name lookup other than 127.0.0.1/localhost fails the test: nothing it
    runs can reach the internet, even by mistake."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in LOCAL_HOSTS:
            raise AssertionError(f"test tried to reach {host!r}: only 127.0.0.1 is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


# --------------------------------------------------------------------------- stand-in servers


@pytest.fixture
def alpaca_rest():
    """Alpaca's REST API (trading and market data) for KEY_ID/SECRET, its clock at T0,
    AAPL priced at 190."""
    standin = AlpacaRestStandIn(KEY_ID, SECRET, start_ns=T0)
    standin.prices["AAPL"] = 190.0
    standin.start()
    yield standin
    standin.stop()


@contextlib.asynccontextmanager
async def serving(standin):
    """A websocket stand-in listening for the length of the block."""
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@pytest.fixture
async def alpaca_trading_stream():
    """Alpaca's trade_updates websocket; ``.url`` is its base address."""
    async with serving(TradingStreamStandIn(KEY_ID, SECRET)) as standin:
        yield standin


@pytest.fixture
async def alpaca_data_stream():
    """Alpaca's stock market data websocket; ``.url`` is its base address."""
    async with serving(MarketDataStreamStandIn(KEY_ID, SECRET)) as standin:
        yield standin


@pytest.fixture
def polygon_rest():
    """Polygon's REST API for POLYGON_KEY; XYZ is a symbol the key is not entitled to."""
    standin = PolygonRestStandIn(POLYGON_KEY, not_entitled=("XYZ",))
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
async def polygon_ws():
    """Polygon's stocks websocket for POLYGON_KEY; XYZ is not entitled."""
    async with serving(PolygonWsStandIn(POLYGON_KEY, not_entitled=("XYZ",))) as standin:
        yield standin
