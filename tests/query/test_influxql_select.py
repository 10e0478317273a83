"""InfluxQL SELECT semantics over DataFusion, without a server: translation, fill, series."""

from __future__ import annotations

import pyarrow as pa
import pytest
from datafusion import SessionContext

from timewell.catalog.model import ColumnType
from timewell.query.influxql import InfluxQLError, parse
from timewell.query.influxql.results import (
    Series,
    StatementResult,
    rfc3339,
    v1_csv,
    v1_json_chunks,
    v3_table,
)
from timewell.query.influxql.select import Source, run_select
from timewell.query.influxql.show import go_duration
from timewell.query.influxql.timerange import parse_time, split_condition

S = 1_000_000_000
T0 = 1_700_000_000 * S  # 2023-11-14T22:13:20Z
TAG = pa.dictionary(pa.int32(), pa.string())
SCHEMA = {"host": ColumnType.TAG, "region": ColumnType.TAG, "usage": ColumnType.FLOAT,
          "idle": ColumnType.INTEGER, "time": ColumnType.TIME}
ROWS = [  # host, region, usage, idle, seconds after T0
    ("a", "us", 1.5, 10, 0),
    ("b", "eu", 2.5, 20, 30),
    ("a", "us", 3.5, 30, 70),
    ("b", None, 4.0, 40, 200),
    ("a", None, None, 50, 260),
]


def run(text: str, now_ns: int = T0 + 3600 * S) -> list[Series]:
    ctx = SessionContext()
    table = pa.table({
        "host": pa.array([r[0] for r in ROWS]).cast(TAG),
        "region": pa.array([r[1] for r in ROWS], pa.string()).cast(TAG),
        "usage": pa.array([r[2] for r in ROWS], pa.float64()),
        "idle": pa.array([r[3] for r in ROWS], pa.int64()),
        "time": pa.array([T0 + r[4] * S for r in ROWS], pa.timestamp("ns")),
    })
    ctx.register_record_batches("cpu", [table.to_batches()])
    [stmt] = parse(text)
    return run_select(stmt, [Source("db", "cpu", SCHEMA)],
                      lambda _db, sql: ctx.sql(sql).to_arrow_table(), now_ns)


def values(series: list[Series]) -> list[list]:
    return [[(row[0] - T0) // S, *row[1:]] for s in series for row in s.values]


def test_raw_select_star_sorts_columns_and_skips_rows_without_fields():
    [series] = run("SELECT * FROM cpu")
    assert series.columns == ["time", "host", "idle", "region", "usage"]
    assert len(series.values) == 5
    [series] = run("SELECT usage FROM cpu")
    assert values([series]) == [[0, 1.5], [30, 2.5], [70, 3.5], [200, 4.0]]


def test_where_on_tags_missing_tag_is_empty_string():
    assert values(run("SELECT idle FROM cpu WHERE region = ''")) == [[200, 40], [260, 50]]
    assert values(run("SELECT idle FROM cpu WHERE region != 'us'")) == [
        [30, 20], [200, 40], [260, 50]]
    assert values(run("SELECT idle FROM cpu WHERE host =~ /^b/")) == [[30, 20], [200, 40]]


def test_time_bounds():
    assert values(run("SELECT idle FROM cpu WHERE time > '2023-11-14T22:13:20Z' "
                      "AND time <= 1700000070s")) == [[30, 20], [70, 30]]
    now = T0 + 100 * S
    assert values(run("SELECT idle FROM cpu WHERE time > now() - 1m", now)) == [
        [70, 30], [200, 40], [260, 50]]


def test_aggregates_without_group_by_time_are_at_the_range_start():
    [series] = run("SELECT mean(usage), count(idle), sum(idle), spread(idle), median(idle) "
                   "FROM cpu")
    assert series.values == [[0, 2.875, 5, 150, 40, 30.0]]
    [series] = run("SELECT count(idle) FROM cpu WHERE time >= 1700000030s")
    assert series.values == [[T0 + 30 * S, 4]]


def test_lone_selector_keeps_the_point_time():
    assert values(run("SELECT max(usage) FROM cpu")) == [[200, 4.0]]
    assert values(run("SELECT first(usage) FROM cpu")) == [[0, 1.5]]
    assert values(run("SELECT percentile(usage, 75) FROM cpu")) == [[70, 3.5]]
    [series] = run("SELECT max(usage), min(usage) FROM cpu")
    assert series.values == [[0, 4.0, 1.5]]


def test_percentile_nearest_rank_out_of_range_is_null():
    [series] = run("SELECT percentile(usage, 10), percentile(usage, 100) FROM cpu")
    assert series.columns == ["time", "percentile", "percentile_1"]
    assert series.values == [[0, None, 4.0]]


def test_group_by_time_fills_every_bucket_and_counts_zero():
    text = ("SELECT count(usage) FROM cpu WHERE time >= 1700000000s AND time < 1700000300s "
            "GROUP BY time(1m)")
    assert values(run(text)) == [[-20, 2], [40, 1], [100, 0], [160, 1], [220, 0], [280, 0]]
    assert values(run(text + " fill(none)")) == [[-20, 2], [40, 1], [160, 1]]


@pytest.mark.parametrize("fill, expected", [
    ("null", [2.0, 3.5, None, 4.0, None, None]),
    ("previous", [2.0, 3.5, 3.5, 4.0, 4.0, 4.0]),
    ("linear", [2.0, 3.5, 3.75, 4.0, None, None]),
    ("-1", [2.0, 3.5, -1, 4.0, -1, -1]),
])
def test_fill_kinds(fill, expected):
    series = run("SELECT mean(usage) FROM cpu WHERE time >= 1700000000s AND "
                 f"time < 1700000300s GROUP BY time(1m) fill({fill})")
    assert [row[1] for row in series[0].values] == expected


def test_group_by_time_offset():
    series = run("SELECT mean(idle) FROM cpu WHERE time >= 1700000000s AND time < 1700000300s "
                 "GROUP BY time(2m, 30s)")
    assert values(series) == [[-50, 15.0], [70, 30.0], [190, 45.0]]


def test_group_by_tags_makes_series_with_limits():
    series = run("SELECT max(usage) FROM cpu GROUP BY *")
    assert [s.tags for s in series] == [{"host": "a", "region": "us"},
                                        {"host": "b", "region": ""},
                                        {"host": "b", "region": "eu"}]
    series = run("SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1")
    assert [(s.tags, s.columns) for s in series] == [
        ({"host": "b"}, ["time", "idle", "region", "usage"]),
        ({"host": "a"}, ["time", "idle", "region", "usage"])]
    assert values(series) == [[200, 40, None, 4.0], [260, 50, None, None]]
    assert [s.tags for s in run("SELECT idle FROM cpu GROUP BY host SLIMIT 1 SOFFSET 1")] == [
        {"host": "b"}]


def test_wildcard_aggregate_and_math_names():
    [series] = run("SELECT mean(*) FROM cpu")
    assert series.columns == ["time", "mean_idle", "mean_usage"]
    [series] = run("SELECT usage * 2, usage / 2, idle / 3 FROM cpu LIMIT 1")
    assert series.columns == ["time", "usage", "usage_1", "idle"]
    assert series.values[0][1:] == [3.0, 0.75, 10 / 3]


@pytest.mark.parametrize("text, message", [
    ("SELECT mean(usage), idle FROM cpu", "mixing aggregate and non-aggregate"),
    ("SELECT holt_winters(usage, 2, 1) FROM cpu", "function holt_winters\\(\\) is not supported"),
    ("SELECT nope(usage) FROM cpu", "undefined function nope"),
    ("SELECT idle FROM cpu WHERE time > 1s OR host = 'a'", "cannot be combined with OR"),
    ("SELECT idle FROM cpu GROUP BY time(1m)", "requires at least one aggregate"),
])
def test_statement_errors(text, message):
    with pytest.raises(InfluxQLError, match=message):
        run(text)


def test_time_literals():
    assert parse_time("2023-11-14T22:13:20Z") == T0
    assert parse_time("2023-11-14 22:13:20.5") == T0 + S // 2
    assert parse_time("2023-11-14T23:13:20+01:00") == T0
    assert parse_time("1970-01-02") == 86_400 * S
    [stmt] = parse("SELECT x FROM m WHERE time >= '2023-11-14T22:13:20Z' AND host = 'a'")
    bounds, rest = split_condition(stmt.condition, 0)
    assert (bounds.start, bounds.end) == (T0, None)
    assert rest is not None


def test_wire_shapes():
    assert rfc3339(T0) == "2023-11-14T22:13:20Z"
    assert rfc3339(T0 + 500_000_000) == "2023-11-14T22:13:20.5Z"
    assert rfc3339(-1) == "1969-12-31T23:59:59.999999999Z"
    assert go_duration(0) == "0s"
    assert go_duration(168 * 3600 * S) == "168h0m0s"
    assert go_duration(90 * S) == "1m30s"
    series = Series("cpu", {"host": "a,b"}, ["time", "v"], [[T0, 1.5], [T0 + S, 2.0]],
                    grouped=True)
    csv = v1_csv([StatementResult(0, [series])]).decode()
    assert csv.splitlines() == ["name,tags,time,v", 'cpu,"host=a\\,b",1700000000000000000,1.5',
                                'cpu,"host=a\\,b",1700000001000000000,2']
    chunks = list(v1_json_chunks([StatementResult(0, [series])], "s", 1))
    assert [c.count(b'"partial":true') for c in chunks] == [2, 0]
    assert b'"values":[[1700000000,1.5]]' in chunks[0]
    table = v3_table([series])
    assert table.column_names == ["iox::measurement", "time", "host", "v"]
    assert table.column("host").to_pylist() == ["a,b", "a,b"]
