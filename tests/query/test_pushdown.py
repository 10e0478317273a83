"""Which key values a pushed-down filter allows, read from real DataFusion plans."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from datafusion import SessionContext, udtf
from datafusion.catalog import Table

from timewell.caches.dataset import CacheDataset
from timewell.query.pushdown import key_constraints

DATA = pa.table({
    "host": pa.array(["a", "b", "c"]), "region": pa.array(["x", "y", "x"]),
    "n": pa.array([1, 2, 3], pa.int64()), "on": pa.array([True, False, True]),
    "v": pa.array([1.0, 2.0, 3.0]), "time": pa.array([1, 2, 3], pa.timestamp("ns")),
})
KEYS = ["host", "region", "n", "on"]


def run(where: str, query: str = "SELECT host FROM lc() WHERE {where} ORDER BY host"):
    """The query's rows and what the dataset was asked for."""
    asked = []

    def read(constraints):
        asked.append(constraints)
        mask = pa.array([True] * DATA.num_rows)
        for column, values in constraints.items():
            allowed = pa.array(list(values), DATA.schema.field(column).type)
            mask = pc.and_(mask, pc.is_in(DATA[column], allowed))
        return DATA.filter(mask)

    ctx = SessionContext()
    ctx.register_udtf(udtf(lambda: Table(CacheDataset(DATA.schema, KEYS, read)), "lc"))
    result = ctx.sql(query.format(where=where)).to_arrow_table()
    return result.column(0).to_pylist(), asked


@pytest.mark.parametrize(("where", "hosts", "constraints"), [
    ("host = 'a'", ["a"], {"host": {"a"}}),
    ("'b' = host", ["b"], {"host": {"b"}}),
    ("host IN ('a', 'c', 'zz')", ["a", "c"], {"host": {"a", "c", "zz"}}),
    ("host IN ('a','b','c','d','e','f','g','h','i','j','k','l','m','n','o','p')",
     ["a", "b", "c"], {"host": set("abcdefghijklmnop")}),
    ("region = 'x' AND n IN (1, 2)", ["a"], {"region": {"x"}, "n": {1, 2}}),
    ("host = 'a' OR host = 'b'", ["a", "b"], {"host": {"a", "b"}}),
    ("(host = 'a' AND v > 0) OR (host = 'c' AND v > 5)", ["a"], {"host": {"a", "c"}}),
    ("host = 'a' OR region = 'y'", ["a", "b"], {}),
    ("on", ["a", "c"], {"on": {True}}),
    ("NOT on", ["b"], {"on": {False}}),
    ("v > 1.5", ["b", "c"], {}),
    ("upper(host) = 'A'", ["a"], {}),
    ("host <> 'a'", ["b", "c"], {}),
    ("host = 'a' AND host = 'b'", [], None),
    ("host = 'it''s'", [], {"host": {"it's"}}),
])
def test_filters_narrow_and_answers_stay_exact(where, hosts, constraints):
    got, asked = run(where)
    assert got == hosts
    if constraints is None:
        assert asked == []  # a contradiction is answered without reading the cache
    else:
        assert [{k: set(v) for k, v in a.items()} for a in asked] == [constraints]


def test_joins_push_the_filter_to_each_side():
    got, asked = run("l.host = 'c'", "SELECT l.host FROM lc() l JOIN lc() m ON l.host = m.host "
                                      "WHERE {where}")
    assert got == ["c"]
    assert [{k: set(v) for k, v in a.items()} for a in asked] == [{"host": {"c"}}] * 2


def test_no_filter_and_unreadable_filters_do_not_narrow():
    assert key_constraints(None, KEYS) == ({}, True)
    assert key_constraints(pc.field("v") > 1, KEYS) == ({}, False)
    assert key_constraints(pc.field("host").isin(["a", None]), KEYS) == (
        {"host": frozenset({"a"})}, True)
