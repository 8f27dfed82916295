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
import uuid

import pytest

from engine.store import Store
from tests.postgres_server import start_server
from tests.shared_data import shared_file
from tests.standins.alpaca_rest import AlpacaRestStandIn
from tests.standins.alpaca_streams import MarketDataStreamStandIn, TradingStreamStandIn
from tests.standins.polygon_rest import PolygonRestStandIn
from tests.standins.polygon_ws import PolygonWsStandIn
from tests.standins.testkit import KEY_ID, POLYGON_KEY, SECRET, T0

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", None)


@pytest.fixture(autouse=True)
def provider_lookups_fresh():
    """Each test starts with empty provider look-up caches and rate-limit windows
    (both are process-wide, engine/ops): one test's requests never hold another's."""
    from engine.ops.cache import DEFAULT_TTLS_S, LOOKUPS
    from engine.ops.rate_limit import RATE_LIMITS

    LOOKUPS.configure(DEFAULT_TTLS_S)
    LOOKUPS.clear()
    RATE_LIMITS.reset()
    yield


@pytest.fixture
def shared_data():
    """``shared_data(name)``: the path of a real data file in ../shared/data; the
    test fails naming the file when it is missing (skips if COCKPIT_NO_SHARED_DATA=1)."""
    return shared_file


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for this test process, started in a temporary directory
    (on a unix socket there, no TCP port) and stopped at the end; under pytest-xdist
    each worker starts its own. tests/postgres_server.py says where the binaries come
    from (the ``pgserver`` wheel of the test extra, else the machine's own)."""
    server = start_server()
    yield server
    server.cleanup()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_server.psql(f"CREATE DATABASE {name};")
    yield pg_server.get_uri(name)
    pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    """Where a store test keeps its store, once per backend: a SQLite file in the test's
    temporary directory, then a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "cockpit.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def store(store_url):
    """An open store (SQLite, then PostgreSQL), closed afterwards."""
    st = await Store.open(store_url)
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
async def alpaca_feed_env(monkeypatch):
    """An Alpaca stand-in environment (tests/alpaca_env.py: REST and trade updates, its
    background look-ups slowed out of the test) plus a market-data stream, the keys in the
    environment and ``.endpoints`` pointing an engine at all three: for engine runs that
    take the Alpaca broker and feed together (pegged entries follow its quotes)."""
    from tests.alpaca_env import close_alpaca_feed_env, open_alpaca_feed_env
    from tests.faults.test_alpaca_faults import SLOW

    e = await open_alpaca_feed_env(monkeypatch, unknown_lookup_backoff=SLOW)
    try:
        yield e
    finally:
        await close_alpaca_feed_env(e)


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
