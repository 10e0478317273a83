"""LastValueCache: latest-N per key, out-of-order writes, ttl, narrowing."""

from __future__ import annotations

import time

import pyarrow as pa

from timewell.caches.last import LastValueCache, output_schema
from timewell.catalog import ColumnType, LastCacheDefinition, Table

TAG = pa.dictionary(pa.int32(), pa.string())
S = 1_000_000_000


def cpu_table() -> Table:
    return Table("cpu", {"host": ColumnType.TAG, "region": ColumnType.TAG,
                         "usage": ColumnType.FLOAT, "time": ColumnType.TIME})


def write(hosts, usages, times, regions=None) -> pa.Table:
    columns = {"host": pa.array(hosts, TAG), "usage": pa.array(usages, pa.float64()),
               "time": pa.array(times, pa.timestamp("ns"))}
    if regions is not None:
        columns["region"] = pa.array(regions, TAG)
    return pa.table(columns)


def rows(cache: LastValueCache, constraints=None, now=10 * S, table=None) -> list[dict]:
    schema = output_schema(cache.definition, table or cpu_table())
    result = cache.table(schema, constraints or {}, now)
    result = result.set_column(result.schema.get_field_index("time"), "time",
                               result.column("time").cast(pa.int64()))
    return sorted(result.to_pylist(), key=lambda r: (r["host"], -r["time"]))


def definition(**kw) -> LastCacheDefinition:
    settings = {"key_columns": ["host"], "value_columns": None, "count": 1, "ttl_s": 3600}
    settings.update(kw)
    return LastCacheDefinition("cpu", "c", **settings)


def test_latest_row_per_key_whatever_the_write_order():
    cache = LastValueCache(definition())
    cache.update(write(["a", "b", "a"], [1.0, 2.0, 3.0], [10, 10, 30]), arrival_ns=S)
    cache.update(write(["a", "b"], [9.0, 4.0], [20, 40]), arrival_ns=S)  # a's is out of order
    assert rows(cache) == [
        {"host": "a", "region": None, "usage": 3.0, "time": 30},
        {"host": "b", "region": None, "usage": 4.0, "time": 40},
    ]


def test_last_n_rows_newest_first_and_late_rows_slot_in():
    cache = LastValueCache(definition(count=3))
    cache.update(write(["a"] * 4, [1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40]), arrival_ns=S)
    cache.update(write(["a", "a"], [3.5, 0.5], [35, 5]), arrival_ns=S)
    assert [r["time"] for r in rows(cache)] == [40, 35, 30]


def test_large_writes_are_reduced_with_the_same_result():
    hosts = [f"h{i % 10}" for i in range(5000)]
    times = [(i * 7919) % 5000 for i in range(5000)]  # a permutation: out of order
    cache = LastValueCache(definition(count=2))
    cache.update(write(hosts, [float(t) for t in times], times), arrival_ns=S)
    got = rows(cache)
    expected = {}
    for host, t in zip(hosts, times, strict=True):
        expected.setdefault(host, []).append(t)
    assert {(r["host"], r["time"]) for r in got} == {
        (h, t) for h, ts in expected.items() for t in sorted(ts)[-2:]}


def test_ties_on_time_go_to_the_later_write():
    cache = LastValueCache(definition())
    cache.update(write(["a"], [1.0], [10]), arrival_ns=S)
    cache.update(write(["a"], [2.0], [10]), arrival_ns=S)
    assert rows(cache)[0]["usage"] == 2.0


def test_backfill_loses_ties_to_live_writes():
    cache = LastValueCache(definition())
    cache.update(write(["a"], [2.0], [10]), arrival_ns=S)
    cache.update(write(["a"], [1.0], [10]), arrival_ns=S, backfill=True)
    assert rows(cache)[0]["usage"] == 2.0


def test_rows_without_every_key_are_ignored():
    cache = LastValueCache(definition(key_columns=["host", "region"]))
    cache.update(write(["a", "b"], [1.0, 2.0], [1, 2], regions=["x", None]), arrival_ns=S)
    cache.update(write(["c"], [3.0], [3]), arrival_ns=S)  # no region column at all
    assert [(r["host"], r["region"]) for r in rows(cache)] == [("a", "x")]


def test_constraints_narrow_to_matching_keys():
    cache = LastValueCache(definition(key_columns=["region", "host"]))
    cache.update(write(["a", "b", "c"], [1.0, 2.0, 3.0], [1, 2, 3], regions=["x", "y", "x"]),
                 arrival_ns=S)
    assert [r["host"] for r in rows(cache, {"region": frozenset({"x"})})] == ["a", "c"]
    assert [r["host"] for r in rows(cache, {"host": frozenset({"b", "zz"})})] == ["b"]
    assert rows(cache, {"region": frozenset({"y"}), "host": frozenset({"a"})}) == []


def test_ttl_hides_then_evicts_old_rows():
    cache = LastValueCache(definition(ttl_s=1))
    cache.update(write(["a"], [1.0], [1]), arrival_ns=1 * S)
    cache.update(write(["b"], [2.0], [2]), arrival_ns=2 * S)
    assert [r["host"] for r in rows(cache, now=int(1.5 * S))] == ["a", "b"]
    assert [r["host"] for r in rows(cache, now=int(2.5 * S))] == ["b"]  # hidden before eviction
    assert cache.evict(now_ns=int(1.5 * S)) == 0
    assert cache.evict(now_ns=int(2.5 * S)) == 1 and len(cache) == 1
    assert cache.evict(now_ns=4 * S) == 1 and len(cache) == 0


def test_explicit_value_columns_always_include_time():
    table = cpu_table()
    table.columns["load"] = ColumnType.INTEGER
    cache = LastValueCache(definition(value_columns=["usage"]))
    data = write(["a"], [1.0], [5]).append_column("load", pa.array([7], pa.int64()))
    cache.update(data, arrival_ns=S)
    schema = output_schema(cache.definition, table)
    assert schema.names == ["host", "usage", "time"]
    assert cache.table(schema, {}, 2 * S).column("usage").to_pylist() == [1.0]


def test_columns_added_later_are_cached_by_default():
    cache = LastValueCache(definition())
    cache.update(write(["a"], [1.0], [5]), arrival_ns=S)
    table = cpu_table()
    table.columns["load"] = ColumnType.INTEGER
    data = write(["b"], [2.0], [6]).append_column("load", pa.array([7], pa.int64()))
    cache.update(data, arrival_ns=S)
    got = rows(cache, table=table)
    assert [(r["host"], r["load"]) for r in got] == [("a", None), ("b", 7)]


def test_no_key_columns_keeps_the_table_latest_rows():
    cache = LastValueCache(definition(key_columns=[], count=2))
    cache.update(write(["a", "b", "c"], [1.0, 2.0, 3.0], [3, 1, 2]), arrival_ns=S)
    schema = output_schema(cache.definition, cpu_table())
    assert schema.names == ["host", "region", "usage", "time"]
    assert cache.table(schema, {}, 2 * S).column("usage").to_pylist() == [1.0, 3.0]


def test_unconstrained_reads_are_reused_until_the_cache_changes():
    cache = LastValueCache(definition())
    cache.update(write(["a"], [1.0], [1]), arrival_ns=S)
    schema = output_schema(cache.definition, cpu_table())
    first = cache.table(schema, {}, 2 * S)
    assert cache.table(schema, {}, 2 * S) is first
    cache.update(write(["b"], [2.0], [2]), arrival_ns=S)
    assert cache.table(schema, {}, 2 * S).num_rows == 2


class _Caches:
    """What `last_cache_lookup` asks of the cache service."""

    def __init__(self, cache: LastValueCache) -> None:
        self.cache = cache

    def find(self, kind, database, table, name):
        assert (kind, table) == ("last_cache", "cpu")
        return self.cache, cpu_table()


def test_lookups_are_answered_from_the_cache_without_sql():
    from timewell.caches.sql import last_cache_lookup

    cache = LastValueCache(definition(key_columns=["host", "region"]))
    cache.update(write(["a", "b"], [1.0, 2.0], [1 * S, 2 * S], regions=["x", "y"]), time.time_ns())
    caches = _Caches(cache)

    def hosts(query):
        table = last_cache_lookup(caches, "db", query)
        return None if table is None else table.column("host").to_pylist()

    assert hosts("SELECT * FROM last_cache('cpu')") == ["a", "b"]
    assert hosts("select * from LAST_CACHE( 'cpu' , 'c' ) where HOST = 'b';") == ["b"]
    assert hosts("SELECT * FROM last_cache('cpu') WHERE host = 'a' AND \"region\" = 'x'") == ["a"]
    assert hosts("SELECT * FROM last_cache('cpu') WHERE host = 'a' AND host = 'b'") is None
    assert hosts("SELECT * FROM last_cache('cpu') WHERE usage = '1'") is None  # not a key
    assert hosts("SELECT host FROM last_cache('cpu')") is None  # DataFusion's to answer
    assert hosts("SELECT * FROM last_cache('cpu') WHERE host IN ('a')") is None
