"""Each record's fields are declared once, in engine/model.py; the store's row
conversions and the paper broker's order snapshot are derived from them, and the
Alpaca translation is checked against them. These tests fail when a model field
has no column, no codec, or is not carried by one of those places.

Sample records are built from the field types, so a field added to a record is
covered without touching this file."""
from __future__ import annotations

import ast
import dataclasses
import math
import typing
from enum import Enum
from pathlib import Path

import pytest
from sqlalchemy import Column, Float, MetaData, String, Table, create_engine, insert, select

from engine.brokers.paper import PaperBroker, _Working
from engine.clock import FixedClock
from engine.config import BrokerConfig
from engine.model import Account, Fill, Order, OrderStatus, Position, field_names, record_builder
from engine.store import convert
from engine.store.codec import RecordTable, codec_for
from engine.store.tables import OrderRow, PositionRow, StoreModel
from engine.store.writer import KINDS

ALPACA_SOURCE = Path(__file__).resolve().parents[1] / "engine" / "brokers" / "alpaca.py"


def sample_value(tp, i: int):
    """A value of type ``tp`` that differs from every field default (distinct per ``i``)."""
    args = typing.get_args(tp)
    if type(None) in args:
        return sample_value(next(a for a in args if a is not type(None)), i)
    if tp is str:
        return f"v{i}"
    if tp is int:
        return 1_000 + i
    if tp is float:
        return 0.25 + i
    if isinstance(tp, type) and issubclass(tp, Enum):
        return list(tp)[-1 - i % (len(tp) - 1)]  # never the first member, the usual default
    if tp is dict or typing.get_origin(tp) is dict:
        return {"k": i, "nested": [1.5, "x"]}
    if typing.get_origin(tp) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (sample_value(args[0], i), sample_value(args[0], i + 1))
        return tuple(sample_value(a, i + k) for k, a in enumerate(args))
    raise TypeError(f"no sample for {tp!r}")


def sample(cls, **overrides):
    hints = typing.get_type_hints(cls)
    values = {f.name: sample_value(hints[f.name], i) for i, f in enumerate(dataclasses.fields(cls))}
    return cls(**(values | overrides))


def field_types(cls) -> dict:
    return typing.get_type_hints(cls)


# --------------------------------------------------------------------------- store


def test_every_stored_record_field_has_a_column_and_a_codec():
    for rt in convert.RECORD_TABLES:
        columns = {c.name for c in rt.table.columns}
        hints = field_types(rt.record)
        for name in field_names(rt.record):
            assert name in columns, f"{rt.record.__name__}.{name} has no column in {rt.table.name}"
            codec_for(hints[name])  # raises when the type has no codec


def test_the_writer_converts_each_record_for_its_own_table():
    by_table = {rt.table.name: rt for rt in convert.RECORD_TABLES}
    for name, kind in KINDS.items():
        if name in by_table:
            assert kind.to_row == by_table[name].to_row
            assert kind.table is by_table[name].table
    assert set(by_table) <= set(KINDS)


@pytest.fixture(scope="module")
def db():
    engine = create_engine("sqlite://")
    StoreModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _through_the_table(db, rt: RecordTable, record, *extra):
    with db.begin() as conn:
        conn.execute(rt.table.delete())
        conn.execute(insert(rt.table), [rt.to_row(record, *extra)])
        return rt.from_row(conn.execute(select(rt.table)).one())


@pytest.mark.parametrize("rt", convert.RECORD_TABLES, ids=lambda rt: rt.table.name)
def test_every_field_survives_a_round_trip_through_its_table(db, rt):
    record = sample(rt.record)
    extra = tuple(1_000_000 + k for k in range(len(rt.extra)))
    back = _through_the_table(db, rt, record, *extra)
    assert back == record
    for name in field_names(rt.record):
        assert type(getattr(back, name)) is type(getattr(record, name)), name


@pytest.mark.parametrize("rt", convert.RECORD_TABLES, ids=lambda rt: rt.table.name)
def test_nan_floats_and_none_optionals_come_back_as_they_went(db, rt):
    hints = field_types(rt.record)
    blanks = {}
    for name in field_names(rt.record):
        args = typing.get_args(hints[name])
        if hints[name] is float:
            blanks[name] = math.nan
        elif type(None) in args:
            blanks[name] = None
    if not blanks:
        pytest.skip(f"{rt.record.__name__} has no float or optional field")
    record = sample(rt.record, **blanks)
    row = rt.to_row(record, *range(len(rt.extra)))
    assert all(row[name] is None for name in blanks)
    back = _through_the_table(db, rt, record, *range(len(rt.extra)))
    for name, blank in blanks.items():
        got = getattr(back, name)
        assert (math.isnan(got) if blank is not None else got is None), name


def test_a_field_without_a_column_fails_at_build_time():
    hints = field_types(Order)
    spec = [(f.name, hints[f.name], dataclasses.field(default=f.default)) for f in dataclasses.fields(Order)]
    extended = dataclasses.make_dataclass("Order", spec + [("time_in_force", str, dataclasses.field(default="day"))])
    with pytest.raises(TypeError, match="no column for time_in_force"):
        RecordTable(extended, OrderRow.__table__)


def test_a_column_that_no_field_fills_fails_at_build_time():
    with pytest.raises(TypeError, match="column\\(s\\) id, ts_ns are no field of Position"):
        RecordTable(Position, PositionRow.__table__)


def _table(*columns) -> Table:
    return Table("t", MetaData(), Column("id", String, primary_key=True), *columns)


def test_a_field_of_a_type_without_codec_fails_at_build_time():
    @dataclasses.dataclass
    class Tagged:
        id: str
        tags: set

    with pytest.raises(TypeError, match="field tags: no codec"):
        RecordTable(Tagged, _table(Column("tags", String, nullable=True)))


def test_a_column_whose_nullness_disagrees_with_its_field_fails_at_build_time():
    @dataclasses.dataclass
    class Priced:
        id: str
        price: float  # NaN is written as NULL

    with pytest.raises(TypeError, match="field price can be written as NULL but its column is NOT NULL"):
        RecordTable(Priced, _table(Column("price", Float, nullable=False)))

    @dataclasses.dataclass
    class Named:
        id: str
        name: str

    with pytest.raises(TypeError, match="field name is never None but its column allows NULL"):
        RecordTable(Named, _table(Column("name", String, nullable=True)))


# --------------------------------------------------------------------------- paper broker


def test_the_paper_snapshot_carries_every_order_field():
    hints = field_types(Order)
    values = {n: sample_value(hints[n], i) for i, n in enumerate(field_names(Order))}
    w = _Working(**values)
    assert dataclasses.asdict(w.snapshot()) == values


def test_a_working_copy_missing_an_order_field_fails_at_build_time():
    Partial = dataclasses.make_dataclass("Partial", [(n, object) for n in field_names(Order) if n != "reason"])
    with pytest.raises(TypeError, match="Partial lacks Order field\\(s\\) reason"):
        record_builder(Order, Partial)


def test_a_restored_order_comes_back_with_every_field():
    order = sample(Order, symbol="SPY", status=OrderStatus.ACCEPTED)
    broker = PaperBroker(BrokerConfig(), FixedClock(order.created_ns), ["SPY"])
    broker.restore([], [order])
    assert broker.order(order.id) == order


# --------------------------------------------------------------------------- Alpaca

# Where the Alpaca broker translates Alpaca's objects into ours: every field of
# the record must be set there by name, except the ones listed, which Alpaca has
# no counterpart for and which keep the record's default on purpose.
ALPACA_TRANSLATIONS = {
    # the execution map's index price and ratio: the router adds them to what it records and shows
    ("_merge", "Order"): {"index_symbol", "index_price", "map_ratio"},
    ("_merge", "Fill"): set(),
    ("positions", "Position"): set(),
    ("_set_account", "Account"): {"commissions"},  # Alpaca charges none on US equities; fills carry 0.0
}
RECORDS = {"Order": Order, "Fill": Fill, "Position": Position, "Account": Account}


def _record_constructions(source: str) -> dict[tuple[str, str], list[set[str]]]:
    found: dict[tuple[str, str], list[set[str]]] = {}
    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for call in ast.walk(fn):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in RECORDS:
                    assert not call.args, f"{fn.name}: {call.func.id}(...) by position; name the fields"
                    found.setdefault((fn.name, call.func.id), []).append({k.arg for k in call.keywords})
    return found


def test_the_alpaca_translation_sets_every_field_of_our_records():
    found = _record_constructions(ALPACA_SOURCE.read_text())
    for (fn, record), defaulted in ALPACA_TRANSLATIONS.items():
        assert (fn, record) in found, f"no {record}(...) in AlpacaBroker.{fn}: update ALPACA_TRANSLATIONS"
        for given in found[(fn, record)]:
            missing = set(field_names(RECORDS[record])) - given - defaulted
            assert not missing, f"AlpacaBroker.{fn} builds a {record} without {', '.join(sorted(missing))}"
