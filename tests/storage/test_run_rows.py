"""A run answers "these series within these times" by index lookups and binary searches; the
answer is exactly the rows a filter over the whole run keeps, in the run's order."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from timewell.storage.buffer import Run
from timewell.storage.dedup import sort_and_deduplicate

TAG = pa.dictionary(pa.int32(), pa.string())
HOSTS = ["a", "b", "c", "d", None]
REGIONS = ["x", "y", None]

rows = st.lists(st.tuples(st.sampled_from(HOSTS), st.sampled_from(REGIONS),
                          st.integers(0, 50), st.integers(-5, 5)), max_size=80)
constraint = st.one_of(st.none(), st.frozensets(st.sampled_from(HOSTS), min_size=1))
region_constraint = st.one_of(st.none(), st.frozensets(st.sampled_from(REGIONS), min_size=1))
bound = st.one_of(st.none(), st.integers(-2, 52))


@settings(max_examples=300, deadline=None)
@given(rows, constraint, region_constraint, bound, bound, st.booleans())
def test_rows_equal_a_filter_of_the_whole_run(points, hosts, regions, low, high, transient):
    data = pa.table({"host": pa.array([p[0] for p in points], pa.string()).cast(TAG),
                     "region": pa.array([p[1] for p in points], pa.string()).cast(TAG),
                     "time": pa.array([p[2] for p in points], pa.timestamp("ns")),
                     "v": pa.array([p[3] for p in points], pa.int64())})
    if not data.num_rows:
        return
    # A transient run (read for one query) filters; a kept one looks its series up.
    run = Run.of(sort_and_deduplicate(data, ["host", "region"]), order=1, transient=transient)
    constraints = {k: v for k, v in (("host", hosts), ("region", regions)) if v is not None}
    mask = pa.array([True] * run.data.num_rows)
    for tag, values in constraints.items():
        column = run.data.column(tag).cast(pa.string())
        allowed = pc.is_in(column, pa.array(sorted(v for v in values if v is not None),
                                            pa.string()))
        if None in values:
            allowed = pc.or_(pc.fill_null(allowed, False), pc.is_null(column))
        mask = pc.and_(mask, pc.fill_null(allowed, False))
    times = run.data.column("time").cast(pa.int64())
    if low is not None:
        mask = pc.and_(mask, pc.greater_equal(times, low))
    if high is not None:
        mask = pc.and_(mask, pc.less_equal(times, high))
    expected = run.data.filter(mask)
    assert run.rows(constraints, low, high).to_pylist() == expected.to_pylist()
