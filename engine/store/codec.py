"""How a model record becomes a table row and comes back, derived from its fields.

A record's fields are declared once, in ``engine.model``. ``RecordTable`` reads
them with ``dataclasses.fields`` and picks, from each field's type, how the value
is written to its column and read back:

- ``str`` and ``int`` go through as they are;
- ``float``: NaN is written as NULL (SQLite stores NaN as NULL anyway; doing it
  here makes PostgreSQL behave the same) and NULL reads back as NaN;
- a ``StrEnum`` is written as its value and read back as the member;
- ``Optional[X]``: None is NULL both ways, anything else is X's codec (so a
  stop price that is None stays None, while NaN in a float field stays NaN);
- a typed tuple (``tuple[tuple[float, float], ...]``) is compact JSON, read back
  into tuples of the declared element types;
- a free-form ``dict`` is JSON whose odd values (enums, ...) become their str().

A field of any other type has no codec and building its ``RecordTable`` raises,
as does a field without a column, a column no field (or declared extra) fills,
and a column whose NULL-ness disagrees with the field's (a column that can hold
NULL for a field that can never be None, or the reverse), so adding a field to
a record either works end to end or fails at import.
"""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from enum import Enum
from operator import attrgetter
from typing import Any, Callable, Optional

NAN = float("nan")


def f_out(x: Optional[float]) -> Optional[float]:
    """A float for the DB: NaN -> NULL."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def f_in(x: Optional[float]) -> float:
    """A float from the DB into a non-optional float field: NULL -> NaN."""
    return NAN if x is None else float(x)


def opt_in(x: Optional[float]) -> Optional[float]:
    return None if x is None else float(x)


def dumps(obj: Any) -> Optional[str]:
    """JSON text for a free-form structure. Enums and other odd values become
    their str() so a journal entry carrying them is stored, not refused."""
    if obj is None:
        return None
    return json.dumps(obj, default=str, separators=(",", ":"))


def loads(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


@dataclasses.dataclass(frozen=True)
class Codec:
    """How one field's value is written to its column and read back.
    ``write``/``read`` None means the value passes unchanged; ``nullable`` says
    whether ``write`` can produce NULL (exactly then must the column allow it)."""

    write: Optional[Callable[[Any], Any]]
    read: Optional[Callable[[Any], Any]]
    nullable: bool


def _enum_out(v: Any) -> Any:
    return getattr(v, "value", v)


def _optional(inner: Codec) -> Codec:
    w, r = inner.write, inner.read
    return Codec(
        None if w is None else (lambda v: None if v is None else w(v)),
        None if r is None else (lambda v: None if v is None else r(v)),
        True,
    )


def _json_reader(tp: Any) -> Callable[[Any], Any]:
    """Turns a decoded JSON value (lists, numbers) back into ``tp``'s shape."""
    if tp in (float, int, str):
        return tp
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        each = _json_reader(args[0])
        return lambda v: tuple(each(x) for x in v)
    if origin is tuple and args:
        parts = tuple(_json_reader(a) for a in args)
        return lambda v: tuple(p(x) for p, x in zip(parts, v, strict=True))
    raise TypeError(f"no JSON shape for {tp!r}")


def _typed_json(tp: Any) -> Codec:
    shape = _json_reader(tp)
    return Codec(lambda v: json.dumps(v, separators=(",", ":")), lambda t: shape(json.loads(t)), False)


def _non_none_args(tp: Any) -> Optional[tuple]:
    """The other members of ``Optional[X]`` / ``X | None``, or None if ``tp`` is no union with None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args:
            return tuple(a for a in args if a is not type(None))
    return None


def codec_for(tp: Any) -> Codec:
    """The codec of a field of type ``tp``; TypeError when there is none."""
    rest = _non_none_args(tp)
    if rest is not None:
        if len(rest) != 1:
            raise TypeError(f"no codec for {tp!r}: a union of several types")
        if rest[0] is float:
            return Codec(f_out, opt_in, True)  # f_out passes None through already
        return _optional(codec_for(rest[0]))
    if tp is str:
        return Codec(None, None, False)
    if tp is int:
        return Codec(int, int, False)
    if tp is float:
        return Codec(f_out, f_in, True)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return Codec(_enum_out, tp, False)
    if tp is dict or typing.get_origin(tp) is dict:
        return Codec(dumps, loads, True)
    if typing.get_origin(tp) is tuple:
        return _typed_json(tp)
    raise TypeError(f"no codec for {tp!r}")


class RecordTable:
    """One model record <-> one table's row, derived from the record's fields.

    ``extra`` names columns the record does not carry but the caller supplies
    when writing (``to_row(position, ts_ns)``), with their types; ``generated``
    names columns the database fills (an autoincrement id). Every field must
    have a column and every column must be a field, an extra or generated."""

    def __init__(self, record: type, table: Any, *, extra: tuple[tuple[str, Any], ...] = (),
                 generated: tuple[str, ...] = ()) -> None:
        self.record = record
        self.table = table
        hints = typing.get_type_hints(record)
        self.fields = tuple(f.name for f in dataclasses.fields(record))
        self.extra = tuple(name for name, _ in extra)
        columns = {c.name: c for c in table.columns}
        where = f"{record.__name__} <-> table {table.name!r}"
        missing = [n for n in (*self.fields, *self.extra) if n not in columns]
        if missing:
            raise TypeError(f"{where}: no column for {', '.join(missing)} (add it to engine/store/tables.py)")
        unfilled = sorted(set(columns) - set(self.fields) - set(self.extra) - set(generated))
        if unfilled:
            raise TypeError(f"{where}: column(s) {', '.join(unfilled)} are no field of {record.__name__}, "
                            "no declared extra and not generated")
        codecs: list[tuple[str, Codec]] = []
        for name, tp in (*((n, hints[n]) for n in self.fields), *extra):
            try:
                codec = codec_for(tp)
            except TypeError as exc:
                raise TypeError(f"{where}: field {name}: {exc} (add one to engine/store/codec.py)") from None
            if codec.nullable != columns[name].nullable:
                raise TypeError(
                    f"{where}: field {name} " + ("can be written as NULL but its column is NOT NULL" if codec.nullable
                                                 else "is never None but its column allows NULL")
                )
            codecs.append((name, codec))
        self._columns = (*self.fields, *self.extra)
        self._get = attrgetter(*self.fields) if len(self.fields) > 1 else (lambda obj: (getattr(obj, self.fields[0]),))
        self._writers = tuple((n, c.write) for n, c in codecs if c.write is not None)
        self._readers = tuple((i, c.read) for i, (_, c) in enumerate(codecs[: len(self.fields)]) if c.read is not None)

    def to_row(self, obj: Any, *extra: Any) -> dict:
        """The row dict for ``obj`` and the values of the declared extra columns."""
        if len(extra) != len(self.extra):
            raise TypeError(f"{self.table.name}: expected extra value(s) for {', '.join(self.extra) or 'nothing'}, "
                            f"got {len(extra)}")
        row = dict(zip(self._columns, (*self._get(obj), *extra)))
        for name, write in self._writers:
            row[name] = write(row[name])
        return row

    def from_row(self, row: Any) -> Any:
        """The record a table row (anything with the columns as attributes) holds."""
        values = list(self._get(row))
        for i, read in self._readers:
            values[i] = read(values[i])
        return self.record(*values)
