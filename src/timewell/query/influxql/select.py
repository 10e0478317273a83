"""Answering an InfluxQL SELECT: SQL per measurement, then InfluxQL's series semantics.

Per series (measurement × GROUP BY tag values): buckets of `GROUP BY time()` from the start to
the end of the time range, missing ones filled as `fill()` says (per column: a column whose
field had no point in a bucket is missing even if another column's field had one), then
ORDER BY, LIMIT and OFFSET; then SLIMIT and SOFFSET over the series.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from timewell.catalog.model import ColumnType
from timewell.query.influxql import ast, zone
from timewell.query.influxql.direct import Scan, direct_table
from timewell.query.influxql.point_functions import has_point_functions, run_point_functions
from timewell.query.influxql.results import Series, limited, ordered_series
from timewell.query.influxql.selections import has_selections, run_selections
from timewell.query.influxql.timerange import InfluxQLError, TimeRange, split_condition
from timewell.query.influxql.transforms import has_transforms, run_transforms
from timewell.query.influxql.translate import (
    MeasurementQuery,
    Projection,
    Schema,
    measurement_query,
    project,
)

MAX_BUCKETS = 1_000_000
MISSING = object()

RunSql = Callable[[str, str], pa.Table]
"""Runs SQL against a database and returns the result."""


@dataclass(frozen=True)
class Source:
    database: str
    measurement: str
    schema: Schema


def run_select(stmt: ast.SelectStatement, sources: list[Source], run_sql: RunSql,
               now_ns: int, scan: Scan | None = None, earlier_ns: int = 0) -> list[Series]:
    """The statement's series. Simple statements are computed from `scan`'s rows when it is
    given (`direct.py`), the others by SQL; transformations from an inner statement
    (`transforms.py`), whose range starts `earlier_ns` before the statement's."""
    if has_point_functions(stmt):
        return run_point_functions(stmt, now_ns, lambda inner: run_select(
            inner, sources, run_sql, now_ns, scan),
            {name: kind for s in sources for name, kind in s.schema.items()})
    if has_selections(stmt):
        return run_selections(stmt, now_ns, lambda inner: run_select(
            inner, sources, run_sql, now_ns, scan))
    if has_transforms(stmt):
        return run_transforms(stmt, now_ns, lambda inner, earlier: run_select(
            inner, sources, run_sql, now_ns, scan, earlier))
    time_range, condition = split_condition(stmt.condition, now_ns)
    if earlier_ns and time_range.start is not None:
        time_range = TimeRange(time_range.start - earlier_ns, time_range.end)
    if stmt.group_by_time is not None and time_range.end is None:
        time_range = TimeRange(time_range.start, now_ns)  # as 1.x: no buckets in the future
    tag_keys = {s.measurement: _group_tags(stmt, s.schema) for s in sources}
    grouped = {t for keys in tag_keys.values() for t in keys}
    projection = project(stmt, {s.measurement: s.schema for s in sources}, grouped)
    if time_range.empty:
        return []
    series: list[Series] = []
    for source in sources:
        keys = tag_keys[source.measurement]
        query = measurement_query(stmt, projection, source.measurement, source.schema, keys,
                                  time_range, condition)
        if query is None:
            continue
        table = None if scan is None else direct_table(
            stmt, projection, query, source.database, source.schema, time_range, condition,
            scan)
        if table is None:
            table = run_sql(source.database, query.sql)
        columns = ["time", *(c.name for c in projection.columns)]
        if projection.aggregate:
            found = _aggregate_series(stmt, projection, query, table, time_range)
        else:
            found = _raw_series(stmt, query, table)
        series += [Series(source.measurement, tags, columns, rows, grouped=bool(keys))
                   for tags, rows in found]
    return ordered_series(series, stmt.descending, stmt.soffset, stmt.slimit)


def _group_tags(stmt: ast.SelectStatement, schema: Schema) -> list[str]:
    tags = [name for name, kind in schema.items() if kind is ColumnType.TAG]
    keys = set(stmt.group_by_tags)
    if stmt.group_by_all_tags:
        keys.update(tags)
    for pattern in stmt.group_by_tag_regexes:
        regex = re.compile(pattern)
        keys.update(t for t in tags if regex.search(t))
    return sorted(keys)


def _split(table: pa.Table, tag_count: int) -> list[tuple[tuple, list[int]]]:
    """Row positions per distinct tag tuple, in first-seen order (grouped by Arrow, not row
    by row in Python)."""
    if not tag_count:
        return [((), list(range(table.num_rows)))]
    names = [f"__t{i}" for i in range(tag_count)]
    keys = table.select(names).append_column("__row", pa.array(range(table.num_rows),
                                                                 pa.int64()))
    grouped = keys.group_by(names, use_threads=False).aggregate([("__row", "list")])
    tags = zip(*(grouped.column(n).to_pylist() for n in names), strict=True)
    return list(zip(tags, grouped.column("__row_list").to_pylist(), strict=True))


def _raw_series(stmt: ast.SelectStatement, query: MeasurementQuery,
                table: pa.Table) -> list[tuple[dict, list[list]]]:
    times = table.column("__time").cast(pa.int64()).to_pylist()
    values = [table.column(c).to_pylist() for c in query.value_columns]
    rows = [list(r) for r in zip(times, *values, strict=True)]
    if not query.tag_keys:
        return [({}, rows)] if rows else []
    result = []
    for key, positions in _split(table, len(query.tag_keys)):
        picked = [rows[i] for i in positions]
        picked = limited(picked, stmt.limit, stmt.offset)
        if picked:
            result.append((dict(zip(query.tag_keys, key, strict=True)), picked))
    return result



def _aggregate_series(stmt: ast.SelectStatement, projection: Projection, query: MeasurementQuery,
                      table: pa.Table, time_range: TimeRange) -> list[tuple[dict, list[list]]]:
    values = [table.column(c).to_pylist() for c in query.value_columns]
    presence = [table.column(p).to_pylist() if p else [0] * table.num_rows
                for p in query.presence_columns]
    # One row per bucket: the cell value, or MISSING where its field had no point.
    cells = [[v if p else MISSING for v, p in zip(col, pres, strict=True)]
             for col, pres in zip(values, presence, strict=True)]
    if stmt.group_by_time is not None:
        times = table.column("__time").cast(pa.int64()).to_pylist()
    elif projection.selector_time:
        times = [t if t is None else int(t)
                 for t in table.column("__selected").cast(pa.int64()).to_pylist()]
    else:
        times = [time_range.start or 0] * table.num_rows
    if stmt.group_by_time is None:
        # One row per tag group (SQL grouped by the tags): each row is a series of its own.
        tag_columns = [table.column(f"__t{i}").to_pylist() for i in range(len(query.tag_keys))]
        result = []
        for i in range(table.num_rows):
            row = [col[i] for col in cells]
            if any(c is not MISSING for c in row):
                tags = dict(zip(query.tag_keys, (col[i] for col in tag_columns), strict=True))
                rows = limited([[times[i], *(None if c is MISSING else c for c in row)]],
                              stmt.limit, stmt.offset)
                if rows:
                    result.append((tags, rows))
        return result
    groups = _split(table, len(query.tag_keys)) if table.num_rows else []
    start = None
    if stmt.group_by_time is not None:
        start = (window(time_range.start, stmt.group_by_time, stmt.location)
                 if time_range.start is not None
                 else min((t for t in times if t is not None), default=None))
    result = []
    for key, positions in groups:
        by_time = {times[i]: [col[i] for col in cells] for i in positions}
        if stmt.group_by_time is not None and stmt.fill.kind != "none" and start is not None:
            end = window(time_range.end, stmt.group_by_time, stmt.location)
            rows = fill_buckets(by_time, start, end, stmt.group_by_time.interval_ns, stmt.fill,
                                query.count_columns, None if stmt.location is None
                                else zone.buckets(start, end, stmt.group_by_time,
                                                  zone.load(stmt.location)),
                                stmt.descending)
        else:
            rows = [[t, *(None if c is MISSING else c for c in row)]
                    for t, row in sorted(by_time.items(), key=lambda item: item[0] or 0)
                    if any(c is not MISSING for c in row)]
        if stmt.descending:
            rows.reverse()
        rows = limited(rows, stmt.limit, stmt.offset)
        if rows:
            result.append((dict(zip(query.tag_keys, key, strict=True)), rows))
    return result


def window(t: int, group_by: ast.GroupByTime, location: str | None = None) -> int:
    """The start of the bucket holding `t` (in the `tz()` zone `location`)."""
    if location is not None:
        return zone.window(t, group_by, zone.load(location))
    return t - (t - group_by.offset_ns) % group_by.interval_ns


def fill_buckets(by_time: Mapping[int, list], start: int, end: int, interval: int,
                 fill: ast.Fill, count_columns: list[bool], zoned: list[int] | None = None,
                 descending: bool = False) -> list[list]:
    buckets = (end - start) // interval + 1
    if buckets > MAX_BUCKETS:
        raise InfluxQLError(f"GROUP BY time() over this range makes {buckets} buckets (at most "
                            f"{MAX_BUCKETS}); narrow the time range or widen the interval")
    times = zoned if zoned is not None else [start + i * interval
                                             for i in range(max(buckets, 0))]
    width = len(count_columns)
    columns = [[by_time[t][c] if t in by_time else MISSING for t in times]
               for c in range(width)]
    if descending:  # 1.x fills in the order it returns the buckets: previous is the later
        filled = [_fill_column(col[::-1], times[::-1], fill, is_count)[::-1]
                  for col, is_count in zip(columns, count_columns, strict=True)]
    else:
        filled = [_fill_column(col, times, fill, is_count)
                  for col, is_count in zip(columns, count_columns, strict=True)]
    return [[t, *(col[i] for col in filled)] for i, t in enumerate(times)]


def _fill_column(values: list, times: list[int], fill: ast.Fill, is_count: bool) -> list:
    if fill.kind == "null":
        empty = 0 if is_count else None
        return [empty if v is MISSING else v for v in values]
    if fill.kind == "value":
        is_int = any(isinstance(v, int) and not isinstance(v, bool) for v in values
                     if v is not MISSING)
        number = int(fill.value) if is_int else fill.value
        return [number if v is MISSING else v for v in values]
    if fill.kind == "previous":
        out, previous = [], None
        for v in values:
            if v is MISSING:
                out.append(previous)
            else:
                out.append(v)
                previous = v
        return out
    return _linear(values, times)


def _linear(values: list, times: list[int]) -> list:
    """Missing buckets between two present values on the line between them (1.x arithmetic:
    float slope, integers truncated)."""
    out = [None if v is MISSING else v for v in values]
    known = [i for i, v in enumerate(values)
             if v is not MISSING and isinstance(v, int | float) and not isinstance(v, bool)]
    for a, b in zip(known, known[1:], strict=False):
        if b - a < 2:
            continue
        y1, y2 = values[a], values[b]
        slope = (y2 - y1) / (times[b] - times[a])
        for i in range(a + 1, b):
            if values[i] is MISSING:
                y = slope * (times[i] - times[a]) + y1
                out[i] = int(y) if isinstance(y1, int) and isinstance(y2, int) else y
    return out
