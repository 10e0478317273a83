"""What a query's WHERE clause says about some columns: the values of key columns (a cache's
keys, a table's tags) and the range of `time`.

DataFusion hands a pyarrow-dataset table the filters it pushed down as one
`pyarrow.compute.Expression`. Python cannot walk such an expression, but Arrow can serialize
it (that is how it pickles): an IPC file whose schema metadata lists the expression tree in
prefix order (`call`, `field_ref`, `literal`, `options`, `end`) and whose columns hold the
literals and function options. We read that tree back and derive, per key column, the set of
values a matching row must have (`host = 'a'`, `host IN (...)`, ORs of those, ANDs of
anything). The caches look up only those keys. When the filter says nothing else, the rows of
those keys are the answer; otherwise pyarrow still applies the whole filter to them, so a clause
we do not understand only means less narrowing, never a wrong answer.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

Constraints = dict[str, frozenset]
"""Key column -> the only values a matching row can have; absent columns are unconstrained."""

_AND = {"and", "and_kleene"}
_OR = {"or", "or_kleene"}
_METADATA_HEADER = "-- schema metadata --"


@dataclass
class _Call:
    function: str
    args: list = field(default_factory=list)
    options: int | None = None


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Literal:
    value: object


def key_constraints(expression: pc.Expression | None,
                    key_columns: Collection[str]) -> tuple[Constraints, bool]:
    """The values each key column must take for a row to satisfy `expression`, and whether
    that is all the expression says (then every row of the allowed keys satisfies it).

    Constraints are empty when nothing can be derived (no filter, or one we cannot read)."""
    if expression is None:
        return {}, True
    try:
        _, (serialized,) = expression.__reduce__()
        return _narrowing(serialized.to_pybytes(), frozenset(key_columns))
    except Exception:  # an Arrow version that serializes differently: do not narrow
        return {}, False


@functools.lru_cache(maxsize=512)  # dashboards send the same filters again and again
def _narrowing(serialized: bytes, keys: frozenset[str]) -> tuple[Constraints, bool]:
    return _constraints(_parse(serialized), keys)


def _parse(serialized: bytes):
    reader = ipc.open_file(pa.py_buffer(serialized))
    batch = reader.read_all()
    text = reader.schema.to_string(show_field_metadata=False, show_schema_metadata=True,
                                   truncate_metadata=False)
    entries = []
    # Column names cannot hold control characters, so each entry is exactly one line.
    for line in text.split(_METADATA_HEADER, 1)[1].splitlines():
        if not line:
            continue
        key, sep, quoted = line.partition(": '")
        if not sep or not quoted.endswith("'"):
            raise ValueError(f"unexpected expression metadata line {line!r}")
        entries.append((key, quoted[:-1]))
    stack: list[_Call] = []
    root = None
    for key, value in entries:
        if key == "call":
            stack.append(_Call(value))
            continue
        if key == "field_ref":
            node = _Field(value)
        elif key == "literal":
            node = _Literal(_python_value(batch.column(int(value))[0]))
        elif key == "options":
            stack[-1].options = int(value)
            continue
        elif key == "end":
            node = stack.pop()
            if node.options is not None:
                node.options = batch.column(node.options)[0].as_py()
        else:
            raise ValueError(f"unknown expression metadata key {key!r}")
        if stack:
            stack[-1].args.append(node)
        else:
            root = node
    if stack or root is None:
        raise ValueError("unbalanced expression metadata")
    return root


def _python_value(scalar: pa.Scalar):
    if pa.types.is_timestamp(scalar.type):  # as int nanoseconds: datetime has no nanoseconds
        if scalar.type.tz is not None:
            scalar = scalar.cast(pa.timestamp(scalar.type.unit))
        return _Timestamp(scalar.cast(pa.timestamp("ns")).cast(pa.int64()).as_py())
    return scalar.as_py()


@dataclass(frozen=True)
class _Timestamp:
    ns: int | None


TimeBounds = tuple[int | None, int | None]
"""Inclusive lower and upper bounds in nanoseconds; None where the filter sets none."""

_LOWER = {"greater": 1, "greater_equal": 0}
_UPPER = {"less": -1, "less_equal": 0}
_MIRROR = {"greater": "less", "greater_equal": "less_equal", "less": "greater",
           "less_equal": "greater_equal", "equal": "equal"}


def time_bounds(expression: pc.Expression | None, column: str = "time") -> TimeBounds:
    """The range of `column` a row must be in to satisfy `expression` ((None, None) when the
    filter does not limit it, or cannot be read)."""
    if expression is None:
        return None, None
    try:
        _, (serialized,) = expression.__reduce__()
        return _bounds_of(serialized.to_pybytes(), column)
    except Exception:
        return None, None


@functools.lru_cache(maxsize=512)
def _bounds_of(serialized: bytes, column: str) -> TimeBounds:
    return _bounds(_parse(serialized), column)


def _bounds(node, column: str) -> TimeBounds:
    if not isinstance(node, _Call):
        return None, None
    if node.function in _AND:
        low, high = None, None
        for arg in node.args:
            arg_low, arg_high = _bounds(arg, column)
            if arg_low is not None:
                low = arg_low if low is None else max(low, arg_low)
            if arg_high is not None:
                high = arg_high if high is None else min(high, arg_high)
        return low, high
    if node.function in _OR:
        sides = [_bounds(arg, column) for arg in node.args]
        lows, highs = [lo for lo, _ in sides], [hi for _, hi in sides]
        return (None if None in lows or not lows else min(lows),
                None if None in highs or not highs else max(highs))
    if len(node.args) != 2 or node.function not in _MIRROR:
        return None, None
    function, (left, right) = node.function, node.args
    if isinstance(right, _Field):
        left, right, function = right, left, _MIRROR[function]
    if not (isinstance(left, _Field) and left.name == column and isinstance(right, _Literal)
            and isinstance(right.value, _Timestamp) and right.value.ns is not None):
        return None, None
    ns = right.value.ns
    if function == "equal":
        return ns, ns
    if function in _LOWER:
        return ns + _LOWER[function], None
    return None, ns + _UPPER[function]


def _constraints(node, keys: frozenset[str]) -> tuple[Constraints, bool]:
    if isinstance(node, _Field):  # a boolean column used as a condition: `WHERE active`
        return ({node.name: frozenset([True])}, True) if node.name in keys else ({}, False)
    if not isinstance(node, _Call):
        return {}, False
    args = node.args
    if node.function == "invert" and len(args) == 1 and isinstance(args[0], _Field):
        name = args[0].name
        return ({name: frozenset([False])}, True) if name in keys else ({}, False)
    if node.function in _AND:
        merged: Constraints = {}
        exact = True
        for arg in args:
            constraints, arg_exact = _constraints(arg, keys)
            exact = exact and arg_exact
            for column, values in constraints.items():
                merged[column] = merged[column] & values if column in merged else values
        return merged, exact
    if node.function in _OR:
        sides = [_constraints(arg, keys) for arg in args]
        common = set.intersection(*(set(side) for side, _ in sides)) if sides else set()
        union = {column: frozenset().union(*(side[column] for side, _ in sides))
                 for column in common}
        # Exact only when every side is an exact condition on the same single column.
        exact = len(common) == 1 and all(e and len(side) == 1 for side, e in sides)
        return union, exact
    if node.function == "equal" and len(args) == 2:
        left, right = args
        if isinstance(right, _Field):
            left, right = right, left
        if (isinstance(left, _Field) and left.name in keys and isinstance(right, _Literal)
                and right.value is not None):
            return {left.name: frozenset([right.value])}, True
        return {}, False
    if node.function == "is_in" and len(args) == 1 and isinstance(args[0], _Field):
        column = args[0].name
        options = node.options if isinstance(node.options, dict) else {}
        value_set = options.get("value_set")
        if column in keys and isinstance(value_set, list):
            # Key values are never null, so how nulls match does not matter.
            return {column: frozenset(v for v in value_set if v is not None)}, True
    return {}, False
