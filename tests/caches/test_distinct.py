"""DistinctValueCache: hierarchy, cardinality bound, max age, narrowing."""

from __future__ import annotations

import pyarrow as pa

from timewell.caches.distinct import DistinctValueCache
from timewell.catalog import DistinctCacheDefinition

TAG = pa.dictionary(pa.int32(), pa.string())
S = 1_000_000_000


def cache(**kw) -> DistinctValueCache:
    settings = {"columns": ["region", "host"], "max_cardinality": 100, "max_age_s": 60}
    settings.update(kw)
    return DistinctValueCache(DistinctCacheDefinition("cpu", "d", **settings))


def write(regions, hosts) -> pa.Table:
    return pa.table({"region": pa.array(regions, TAG), "host": pa.array(hosts, pa.string()),
                     "time": pa.array(range(len(hosts)), pa.timestamp("ns"))})


def combos(c: DistinctValueCache, constraints=None, now=S) -> list[tuple]:
    table = c.table(constraints or {}, now)
    return list(zip(*(table.column(n).to_pylist() for n in table.column_names), strict=True))


def test_distinct_combinations_sorted_by_hierarchy():
    c = cache()
    c.update(write(["y", "x", "x", "x"], ["b", "c", "a", "c"]), seen_ns=S)
    assert combos(c) == [("x", "a"), ("x", "c"), ("y", "b")]
    assert c.table({}, S).schema == pa.schema([("region", pa.string()), ("host", pa.string())])


def test_rows_missing_a_column_are_ignored():
    c = cache()
    c.update(write(["x", None], ["a", "b"]), seen_ns=S)
    c.update(pa.table({"region": pa.array(["z"], TAG)}), seen_ns=S)
    assert combos(c) == [("x", "a")]


def test_cardinality_bound_drops_least_recently_seen():
    c = cache(max_cardinality=2)
    c.update(write(["x"], ["a"]), seen_ns=1)
    c.update(write(["x"], ["b"]), seen_ns=2)
    c.update(write(["x"], ["a"]), seen_ns=3)  # a is seen again
    c.update(write(["x"], ["c"]), seen_ns=4)
    assert combos(c) == [("x", "a"), ("x", "c")]
    assert len(c) == 2


def test_max_age_hides_then_evicts():
    c = cache(max_age_s=1)
    c.update(write(["x"], ["a"]), seen_ns=1 * S)
    c.update(write(["y"], ["b"]), seen_ns=2 * S)
    assert combos(c, now=int(2.5 * S)) == [("y", "b")]
    assert c.evict(int(2.5 * S)) == 1
    assert combos(c, now=int(2.5 * S)) == [("y", "b")]
    c.update(write(["y"], ["b"]), seen_ns=3 * S)  # seen again: lives on
    assert c.evict(int(3.5 * S)) == 0 and len(c) == 1


def test_constraints_narrow_at_any_level():
    c = cache()
    c.update(write(["x", "x", "y"], ["a", "b", "a"]), seen_ns=S)
    assert combos(c, {"region": frozenset({"x"})}) == [("x", "a"), ("x", "b")]
    assert combos(c, {"host": frozenset({"a"})}) == [("x", "a"), ("y", "a")]
    assert combos(c, {"region": frozenset({"q"})}) == []


def test_backfill_does_not_refresh_live_entries():
    c = cache(max_cardinality=2)
    c.update(write(["x"], ["live"]), seen_ns=5)
    c.update(write(["x", "x"], ["old", "live"]), seen_ns=6, backfill=True)
    c.update(write(["x"], ["new"]), seen_ns=7)
    assert combos(c) == [("x", "live"), ("x", "new")]
