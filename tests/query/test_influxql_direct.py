"""Simple InfluxQL statements computed from scanned rows with Arrow (`direct.py`) answer
exactly as their SQL does: the same statements, random data, both paths compared."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import SessionContext
from hypothesis import given, settings
from hypothesis import strategies as st

from timewell.catalog.model import ColumnType
from timewell.query.influxql import parse
from timewell.query.influxql.select import Source, run_select

S = 1_000_000_000
T0 = 1_700_000_000 * S
TAG = pa.dictionary(pa.int32(), pa.string())
SCHEMA = {"host": ColumnType.TAG, "region": ColumnType.TAG, "usage": ColumnType.FLOAT,
          "idle": ColumnType.INTEGER, "note": ColumnType.STRING, "time": ColumnType.TIME}

points = st.lists(st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["us", "eu", None]),
    st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
    st.one_of(st.none(), st.integers(-1000, 1000)),
    st.one_of(st.none(), st.sampled_from(["x", "y"])),
    st.integers(0, 600),  # seconds after T0
), max_size=40)

AGGREGATE = ["count", "sum", "mean", "min", "max"]
statements = st.one_of(
    st.builds(
        lambda calls, where, by_time, by_tags, fill, limit: (
            f"SELECT {', '.join(calls)} FROM cpu WHERE time >= {T0} AND time < {T0 + 601 * S}"
            f"{where}{' GROUP BY ' + ', '.join(by_time + by_tags) if by_time + by_tags else ''}"
            f"{fill}{limit}"),
        st.lists(st.builds(lambda f, c: f"{f}({c})", st.sampled_from(AGGREGATE),
                           st.sampled_from(["usage", "idle"])), min_size=1, max_size=3),
        st.sampled_from(["", " AND host = 'a'", " AND (host = 'a' OR host = 'b')",
                         " AND region = 'us' AND host = 'b'", " AND host = 'zz'",
                         " AND host =~ /^(a|c)$/", " AND (region =~ /^us$/)",
                         " AND host =~ /^a.*$/"]),
        st.sampled_from([[], ["time(1m)"], ["time(90s, 20s)"]]),
        st.sampled_from([[], ["host"], ["region", "host"], ["nope"]]),
        st.sampled_from(["", " fill(none)", " fill(0)", " fill(previous)", " fill(linear)"]),
        st.sampled_from(["", " LIMIT 2", " LIMIT 3 OFFSET 1"])),
    st.builds(
        lambda fields, where, by_tags, order: (
            f"SELECT {fields} FROM cpu WHERE time >= {T0 + 5 * S}{where}"
            f"{' GROUP BY ' + by_tags if by_tags else ''}{order}"),
        st.sampled_from(["*", "usage", "usage, host", "idle, note, region", "count"]),
        st.sampled_from(["", " AND host = 'c'", " AND (region = 'eu' OR region = 'us')"]),
        st.sampled_from(["", "host", "region"]),
        st.sampled_from(["", " LIMIT 5", " ORDER BY time DESC LIMIT 4", " LIMIT 2 OFFSET 3"])),
)


def table_of(rows) -> pa.Table:
    # One row per (series, time), as the storage keeps it: the last write of a point wins.
    unique = {(r[0], r[1], r[5]): r for r in rows}
    rows = sorted(unique.values(), key=lambda r: (r[0], str(r[1]), r[5]))
    return pa.table({
        "host": pa.array([r[0] for r in rows], pa.string()).cast(TAG),
        "region": pa.array([r[1] for r in rows], pa.string()).cast(TAG),
        "usage": pa.array([r[2] for r in rows], pa.float64()),
        "idle": pa.array([r[3] for r in rows], pa.int64()),
        "note": pa.array([r[4] for r in rows], pa.string()),
        "time": pa.array([T0 + r[5] * S for r in rows], pa.timestamp("ns")),
    })


def scan_of(table: pa.Table):
    def scan(_db, _table, constraints, low, high, columns):
        mask = pa.array([True] * table.num_rows, pa.bool_())
        for tag, values in constraints.items():
            mask = pc.and_(mask, pc.is_in(table.column(tag).cast(pa.string()),
                                          pa.array(sorted(values), pa.string())))
        times = table.column("time").cast(pa.int64())
        if low is not None:
            mask = pc.and_(mask, pc.greater_equal(times, low))
        if high is not None:
            mask = pc.and_(mask, pc.less_equal(times, high))
        return table.filter(mask).select(columns)

    return scan


def rounded(series) -> list:
    def value(v):
        return round(v, 6) if isinstance(v, float) else v

    return [(s.name, s.tags, s.columns, [[value(v) for v in row] for row in s.values])
            for s in series]


@settings(max_examples=300, deadline=None)
@given(points, statements)
def test_direct_answers_equal_sql_answers(rows, text):
    if "(" not in text.split(" FROM ")[0]:
        # Raw rows: SQL orders points of equal time in any order (and LIMIT cuts there).
        rows = [(*r[:5], i * 7 + r[5] % 7) for i, r in enumerate(rows)]
    table = table_of(rows)
    ctx = SessionContext()
    batches = table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    ctx.register_record_batches("cpu", [batches])
    [stmt] = parse(text)
    sources = [Source("db", "cpu", SCHEMA)]

    def sql(_db, query):
        return ctx.sql(query).to_arrow_table()

    scanned = []

    def scan(*args):
        scanned.append(args)
        return scan_of(table)(*args)

    now = T0 + 3600 * S
    expected = run_select(stmt, sources, sql, now)
    actual = run_select(stmt, sources, sql, now, scan)
    assert rounded(actual) == rounded(expected)


def test_the_statements_of_a_dashboard_take_the_direct_path():
    table = table_of([("a", "us", 1.0, 1, None, 0), ("b", "eu", 2.0, 2, "x", 60)])
    sources = [Source("db", "cpu", SCHEMA)]

    def no_sql(_db, query):
        raise AssertionError(f"went to SQL: {query}")

    for text in [f"SELECT mean(usage) FROM cpu WHERE host = 'a' AND time >= {T0} "
                 f"AND time <= {T0 + 3600 * S} GROUP BY time(1m) fill(null)",
                 f"SELECT * FROM cpu WHERE host = 'a' AND time >= {T0} LIMIT 100",
                 "SELECT max(usage), min(usage) FROM cpu WHERE region = 'us'",
                 "SELECT count(usage) FROM cpu",
                 "SELECT mean(usage) FROM cpu GROUP BY host",
                 f"SELECT mean(usage) FROM cpu WHERE (host =~ /^(a|b)$/) AND time >= {T0} "
                 "GROUP BY time(1m), host fill(null)"]:
        [stmt] = parse(text)
        assert run_select(stmt, sources, no_sql, T0 + 7200 * S, scan_of(table))


selections = st.builds(
    lambda call, field, by_time, by_tags, where: (
        f"SELECT {call}({field}) FROM cpu WHERE time >= {T0}{where}"
        f"{' GROUP BY ' + ', '.join(by_time + by_tags) if by_time + by_tags else ''}"),
    st.sampled_from(["first", "last"]), st.sampled_from(["usage", "idle", "note"]),
    st.sampled_from([[], ["time(2m)"]]), st.sampled_from([[], ["host"], ["region"]]),
    st.sampled_from(["", " AND host = 'b'"]))


@settings(max_examples=200, deadline=None)
@given(points, selections, st.randoms(use_true_random=False))
def test_first_and_last_from_the_data_order_equal_sql(rows, text, random):
    # Distinct times: on a tie SQL picks either point, 1.x (and the direct path) the greater
    # value; the runs of the scan arrive in a random order, as sources do.
    rows = [(*r[:5], i * 7 + r[5] % 7) for i, r in enumerate(rows)]
    table = table_of(rows)
    ctx = SessionContext()
    batches = table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    ctx.register_record_batches("cpu", [batches])
    [stmt] = parse(text)
    sources = [Source("db", "cpu", SCHEMA)]
    cut = sorted(random.sample(range(table.num_rows + 1), min(3, table.num_rows + 1)))
    pieces = [table.slice(a, b - a) for a, b in zip([0, *cut], [*cut, table.num_rows], strict=True)]
    random.shuffle(pieces)
    shuffled = pa.concat_tables(pieces)

    def sql(_db, query):
        return ctx.sql(query).to_arrow_table()

    now = T0 + 3600 * S
    expected = run_select(stmt, sources, sql, now)
    actual = run_select(stmt, sources, sql, now, scan_of(shuffled))
    assert rounded(actual) == rounded(expected)
