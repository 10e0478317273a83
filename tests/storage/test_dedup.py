"""Last write wins, at the bottom: `sort_and_deduplicate` (the runs, snapshots and compaction
all rely on it) held to a dict model, and `overlap_zones` (where a query must merge sources)
held to a brute-force count of the points two time ranges share."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from timewell.query.table_scan import overlap_zones
from timewell.storage.dedup import sort_and_deduplicate

TAGS = ["host", "region", "dc"]
FIELD_TYPES = {"fl": pa.float64(), "in": pa.int64(), "ui": pa.uint64(), "st": pa.string(),
               "bo": pa.bool_()}
DICT = pa.dictionary(pa.int32(), pa.string())
TIME = pa.timestamp("ns")

# -- building write batches as the write path does: tags dictionary-encoded, time in ns


def batch(points: list[tuple[dict, int, dict]]) -> pa.Table:
    """One write's rows: (tags, time, fields) each; only the columns its points name, like a
    validated write (an absent tag or field is no column, or a null in it)."""
    tags = [t for t in TAGS if any(t in p[0] for p in points)]
    fields = [f for f in FIELD_TYPES if any(f in p[2] for p in points)]
    columns = {t: pa.array([p[0].get(t) for p in points], pa.string()).dictionary_encode()
               for t in tags}
    columns |= {f: pa.array([p[2].get(f) for p in points], FIELD_TYPES[f]) for f in fields}
    columns["time"] = pa.array([p[1] for p in points], TIME)
    return pa.table(columns)


def writes(*batches: list[tuple[dict, int, dict]]) -> pa.Table:
    """Batches in write order, as the buffer concatenates them (each with its own dictionaries
    and columns; missing columns become nulls)."""
    return pa.concat_tables([batch(b) for b in batches], promote_options="default")


def as_rows(table: pa.Table) -> list[dict]:
    columns = {name: table.column(name).to_pylist() for name in table.column_names
               if name != "time"}
    columns["time"] = table.column("time").cast(pa.int64()).to_pylist()
    return [{name: columns[name][i] for name in table.column_names}
            for i in range(table.num_rows)]


# -- the model: a dict keyed by (tag values, time), fields merged in write order


def model(batches: list[list[tuple[dict, int, dict]]]) -> dict[tuple, dict]:
    points: dict[tuple, dict] = {}
    for written in batches:
        for tags, time_ns, fields in written:
            key = (*(tags.get(t) for t in TAGS), time_ns)
            merged = points.setdefault(key, {})
            merged.update({name: value for name, value in fields.items() if value is not None})
    return points


def expected_order(key_names: list[str]):
    """Sort key of a result row: each key column ascending, nulls after values."""
    return lambda row: tuple((row[name] is None, row[name] or "") if name != "time"
                             else (False, row[name]) for name in key_names)


tag_values = st.sampled_from(["a", "b", "é", "Z"])
field_values = {
    "fl": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "in": st.integers(-(2**63), 2**63 - 1),
    "ui": st.integers(0, 2**64 - 1),
    "st": st.text(max_size=3),  # "" is a value, not a missing field
    "bo": st.booleans(),  # so is false
}
point = st.tuples(
    st.dictionaries(st.sampled_from(TAGS), tag_values),
    st.sampled_from([-5_000, 0, 1, 7, 1_700_000_000_000_000_000]),  # few times: many duplicates
    st.fixed_dictionaries({}, optional=field_values).filter(bool),  # partial field sets
)
batches_strategy = st.lists(st.lists(point, min_size=1, max_size=12), min_size=1, max_size=5)
series_keys = st.permutations(TAGS).flatmap(lambda p: st.integers(0, 3).map(lambda n: p[:n]))


@settings(max_examples=300, deadline=None)
@given(batches=batches_strategy, series_key=series_keys)
def test_one_row_per_point_with_fields_merged_in_write_order(batches, series_key):
    data = writes(*batches)
    result = sort_and_deduplicate(data, list(series_key))
    assert result.schema == data.schema
    got = as_rows(result)
    tags_present = [t for t in TAGS if t in data.column_names]
    fields_present = [f for f in FIELD_TYPES if f in data.column_names]
    expected = {
        key: {f: fields.get(f) for f in fields_present}
        for key, fields in model(batches).items()
    }
    actual = {}
    for row in got:
        key = (*(row.get(t) for t in TAGS), row["time"])
        assert key not in actual, f"point {key} appears twice"
        actual[key] = {f: row[f] for f in fields_present}
    assert actual == expected
    # sorted by the series key's tags, then the other tags by name, then time
    key_names = ([t for t in series_key if t in tags_present]
                 + sorted(set(tags_present) - set(series_key)) + ["time"])
    assert got == sorted(got, key=expected_order(key_names))


@settings(max_examples=150, deadline=None)
@given(batches=batches_strategy, split=st.integers(0, 5), series_key=series_keys)
def test_deduplicating_in_pieces_equals_deduplicating_once(batches, split, series_key):
    """What the buffer's run merges, snapshots and compaction do: deduplicate older and newer
    rows separately, then the two results (older first) together."""
    older, newer = batches[:split], batches[split:]
    once = sort_and_deduplicate(writes(*batches), list(series_key))
    parts = [sort_and_deduplicate(writes(*b), list(series_key)) for b in (older, newer) if b]
    pieces = sort_and_deduplicate(pa.concat_tables(parts, promote_options="default"),
                                  list(series_key))
    assert as_rows(pieces) == as_rows(once.select(pieces.column_names))
    assert as_rows(sort_and_deduplicate(once, list(series_key))) == as_rows(once)


def test_later_write_replaces_its_fields_and_keeps_the_others():
    data = writes([({"host": "a"}, 10, {"fl": 1.0, "in": 1, "st": "first"})],
                  [({"host": "a"}, 10, {"fl": 2.0})],
                  [({"host": "a"}, 10, {"st": "third"})])
    assert as_rows(sort_and_deduplicate(data, ["host"])) == [
        {"host": "a", "fl": 2.0, "in": 1, "st": "third", "time": 10}]


def test_false_zero_and_empty_string_replace_earlier_values():
    data = writes([({}, 5, {"bo": True, "in": 7, "st": "x", "ui": 9})],
                  [({}, 5, {"bo": False, "in": 0, "st": "", "ui": 0})])
    assert as_rows(sort_and_deduplicate(data, [])) == [
        {"bo": False, "in": 0, "st": "", "ui": 0, "time": 5}]


def test_duplicates_within_one_write_merge_in_line_order():
    data = writes([({"host": "a"}, 1, {"in": 1}), ({"host": "a"}, 1, {"in": 2, "fl": 0.5}),
                   ({"host": "a"}, 1, {"in": 3})])
    assert as_rows(sort_and_deduplicate(data, ["host"])) == [
        {"host": "a", "in": 3, "fl": 0.5, "time": 1}]


def test_an_absent_tag_is_the_empty_tag_value_and_a_series_of_its_own():
    data = writes([({}, 1, {"in": 1}), ({"host": "a"}, 1, {"in": 2})],
                  [({"host": "a", "region": "r"}, 1, {"in": 3})],
                  [({}, 1, {"fl": 4.0})])  # this write has no host column at all
    assert as_rows(sort_and_deduplicate(data, ["host", "region"])) == [
        {"host": "a", "in": 3, "time": 1, "region": "r", "fl": None},
        {"host": "a", "in": 2, "time": 1, "region": None, "fl": None},  # null tags sort last
        {"host": None, "in": 1, "time": 1, "region": None, "fl": 4.0},
    ]


def test_same_time_different_series_or_same_series_different_time_are_distinct():
    data = writes([({"host": "a"}, 1, {"in": 1}), ({"host": "b"}, 1, {"in": 2}),
                   ({"host": "a"}, 2, {"in": 3})])
    result = sort_and_deduplicate(data, ["host"])
    assert [(r["host"], r["time"], r["in"]) for r in as_rows(result)] == [
        ("a", 1, 1), ("a", 2, 3), ("b", 1, 2)]


def test_without_duplicates_rows_are_only_sorted():
    data = writes([({"host": "b", "region": "x"}, 3, {"in": 1}),
                   ({"host": "a", "region": "y"}, 2, {"in": 2}),
                   ({"host": "a", "region": "x"}, 9, {"in": 3})])
    result = sort_and_deduplicate(data, ["region", "host"])  # series key order, not by name
    assert [(r["region"], r["host"]) for r in as_rows(result)] == [
        ("x", "a"), ("x", "b"), ("y", "a")]


def test_rows_without_fields_and_empty_tables():
    only_keys = pa.table({"host": pa.array(["a", "a", "b"]).dictionary_encode(),
                          "time": pa.array([1, 1, 1], TIME)})
    assert as_rows(sort_and_deduplicate(only_keys, ["host"])) == [
        {"host": "a", "time": 1}, {"host": "b", "time": 1}]
    empty = writes([({"host": "a"}, 1, {"in": 1})]).slice(0, 0)
    assert sort_and_deduplicate(empty, ["host"]).num_rows == 0


# -- overlap_zones: where a point can be in two sources


def doubly_covered(ranges: list[tuple[int, int]]) -> set[int]:
    counts: dict[int, int] = {}
    for low, high in ranges:
        for t in range(low, high + 1):
            counts[t] = counts.get(t, 0) + 1
    return {t for t, n in counts.items() if n >= 2}


def runs_of(points: set[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive integers."""
    runs: list[tuple[int, int]] = []
    for t in sorted(points):
        if runs and t == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


time_range = st.tuples(st.integers(0, 40), st.integers(0, 12)).map(lambda r: (r[0], r[0] + r[1]))


@settings(max_examples=500, deadline=None)
@given(ranges=st.lists(time_range, max_size=8), most=st.integers(1, 8))
def test_overlap_zones_cover_exactly_the_shared_times(ranges, most):
    shared = doubly_covered(ranges)
    zones = overlap_zones(ranges, most)
    assert len(zones) <= most
    assert all(low <= high for low, high in zones)
    assert all(a[1] + 1 < b[0] for a, b in zip(zones, zones[1:], strict=False))  # sorted, apart
    for t in shared:
        assert any(low <= t <= high for low, high in zones), f"time {t} is in two sources"
    if len(runs_of(shared)) <= most:
        assert zones == runs_of(shared)  # nothing more is merged than needed
    else:  # joined: still starting and ending on shared times
        assert all(low in shared and high in shared for low, high in zones)


def test_overlap_zones_examples():
    assert overlap_zones([]) == []
    assert overlap_zones([(0, 10)]) == []
    assert overlap_zones([(0, 4), (5, 9)]) == []  # adjacent ranges share no time
    assert overlap_zones([(0, 5), (5, 9)]) == [(5, 5)]  # one nanosecond in common
    assert overlap_zones([(0, 10), (5, 15)]) == [(5, 10)]
    assert overlap_zones([(3, 3), (3, 3)]) == [(3, 3)]  # the same instant twice
    assert overlap_zones([(0, 100), (10, 20), (50, 60)]) == [(10, 20), (50, 60)]
    assert overlap_zones([(0, 100), (10, 20), (50, 60)], most=1) == [(10, 60)]
