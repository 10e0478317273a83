"""InfluxQL subqueries: `SELECT max(m) FROM (SELECT mean(x) AS m FROM cpu GROUP BY ...) ...`.

The inner statement is answered first, by the usual SELECT path (itself maybe over a
subquery), and its series become one table per series name: `time`, the inner GROUP BY tags
(tags of the outer statement), and the selected columns as fields (a tag the inner statement
selects as a column, `SELECT usage, host FROM cpu`, stays a tag). The outer statement is then
answered over those tables, by the same SQL and series semantics, in a session of its own.

As in InfluxDB 1.x: the inner statement's time range is its own narrowed by the outer one's,
empty buckets of `fill(null)` (count's included) are no points of the inner result, while
those `fill(0)`, `fill(previous)` or `fill(linear)` fill are, and the outer result's series
are named as the inner's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pyarrow as pa
from datafusion import SessionContext

from timewell.catalog.model import ColumnType
from timewell.query.influxql import ast
from timewell.query.influxql.results import Series
from timewell.query.influxql.select import Source, _group_tags, run_select
from timewell.query.influxql.timerange import InfluxQLError, split_condition
from timewell.query.influxql.translate import condition_sql, ident, timestamp

RunInner = Callable[[ast.SelectStatement], list[Series]]
"""Answers an inner statement."""
TagNames = Callable[[ast.SelectStatement], set[str]]
"""The tag keys of an inner statement's measurements."""


def has_subquery(stmt: ast.SelectStatement) -> bool:
    return any(isinstance(s, ast.Subquery) for s in stmt.sources)


def run_subquery(stmt: ast.SelectStatement, now_ns: int, run_inner: RunInner,
                 tag_names: TagNames) -> list[Series]:
    """The outer statement's series over its subqueries' results."""
    time_range, rest = split_condition(stmt.condition, now_ns)
    # The tags of a raw inner statement's points are the outer statement's to filter and
    # group by, though not columns of its `*` (1.x keeps them beside the points).
    wildcard = any(isinstance(node, ast.Wildcard | ast.RegexLiteral)
                   for item in stmt.fields for node in ast.walk(item.expr))
    inner_series: list[Series] = []
    inner_tags: set[str] = set()
    for source in stmt.sources:
        if isinstance(source, ast.Measurement):  # beside a subquery: all of its points
            source = ast.Subquery(ast.SelectStatement([ast.Field(ast.Wildcard())], [source]))
        inner = source.statement
        if inner.into is not None:
            raise InfluxQLError("SELECT ... INTO is not supported inside a subquery")
        raw = not any(isinstance(node, ast.Call) for item in inner.fields
                      for node in ast.walk(item.expr))
        if (raw and not wildcard and not (inner.limit or inner.offset or inner.slimit
                                          or inner.soffset)):
            inner = dataclasses.replace(inner, group_by_all_tags=True)
        bounds = []
        if time_range.start is not None:
            bounds.append(ast.BinaryExpr(">=", ast.VarRef("time"),
                                         ast.IntegerLiteral(time_range.start)))
        if time_range.end is not None:
            bounds.append(ast.BinaryExpr("<=", ast.VarRef("time"),
                                         ast.IntegerLiteral(time_range.end)))
        condition = inner.condition
        for bound in bounds:
            condition = bound if condition is None else ast.BinaryExpr(
                "AND", ast.Paren(condition), bound)
        inner = dataclasses.replace(inner, condition=condition, slimit=0, soffset=0)
        if inner.fill.kind == "null":  # empty buckets are no points (count's too, not 0)
            inner.fill = ast.Fill("none")
        inner_series += run_inner(inner)
        inner_tags |= tag_names(inner)
    tables = {name: _table(members, inner_tags)
              for name, members in _by_name(inner_series).items()}
    sources = [Source("", name, schema) for name, (_, schema) in tables.items()]

    def run_sql(_database: str, sql: str, bounded: bool = False) -> pa.Table:
        if not bounded:  # the outer time range bounds the inner statement, not its rows
            sql = _TIME_BOUND.sub("TRUE", sql)
        ctx = SessionContext()
        for name, (table, _) in tables.items():
            ctx.register_record_batches(name, [table.to_batches()])
        return ctx.sql(sql).to_arrow_table()

    series = run_select(stmt, sources, run_sql, now_ns)
    if (time_range.start is None or stmt.group_by_time is not None or stmt.descending
            or not any(isinstance(node, ast.Call) for item in stmt.fields
                       for node in ast.walk(item.expr))):
        return series
    # An aggregate without GROUP BY time() reads the series in order and, as 1.x's reducer
    # does, stops at the first whose earliest point precedes the range: no result for it and
    # the series after it.
    cut = None
    for source in sources:
        keys = _group_tags(stmt, source.schema)
        tags = [f"coalesce(CAST({ident(k)} AS VARCHAR), '')" if source.schema.get(k)
                is ColumnType.TAG else "''" for k in keys]
        where = f" AND {condition_sql(rest, source.schema)}" if rest is not None else ""
        sql = (f"SELECT {', '.join([*tags, 'min(time) AS __first'])} FROM "
               f"{ident(source.measurement)} WHERE time < {timestamp(time_range.start)}{where}"
               + (f" GROUP BY {', '.join(tags)}" if tags else ""))
        early = run_sql("", sql, bounded=True).to_pylist()
        for row in early:
            if row["__first"] is None:  # an aggregate without GROUP BY has its one row
                continue
            key = (source.measurement, tuple(v for k, v in row.items() if k != "__first"))
            cut = key if cut is None or key < cut else cut
    if cut is None:
        return series
    return [s for s in series if (s.name, tuple(s.tags.values())) < cut]


_TIME_BOUND = re.compile(r"time (?:>=|<=) arrow_cast\(-?\d+, 'Timestamp\(Nanosecond, None\)'\)")


def _by_name(series: list[Series]) -> dict[str, list[Series]]:
    named: dict[str, list[Series]] = {}
    for s in series:
        named.setdefault(s.name or "", []).append(s)
    return named


def _table(series: list[Series], tag_columns: set[str]) -> tuple[pa.Table, dict]:
    """The series as one table: time, tags, fields; rows without any field value left out."""
    tags = sorted({k for s in series for k in s.tags})
    names = list(dict.fromkeys(c for s in series for c in s.columns[1:] if c not in tags))
    times: list[int] = []
    tag_values: dict[str, list] = {k: [] for k in tags}
    values: dict[str, list] = {c: [] for c in names}
    for s in series:
        position = {c: i for i, c in enumerate(s.columns)}
        for row in s.values:
            cells = {c: row[position[c]] if c in position else None for c in names}
            if all(v is None for c, v in cells.items() if c not in tag_columns):
                continue
            times.append(row[0])
            for k in tags:
                tag_values[k].append(s.tags.get(k))
            for c in names:
                values[c].append(cells[c])
    columns: dict[str, pa.Array] = {"time": pa.array(times, pa.timestamp("ns"))}
    schema: dict[str, ColumnType] = {"time": ColumnType.TIME}
    for k in tags:
        columns[k] = pa.array(tag_values[k], pa.string())
        schema[k] = ColumnType.TAG
    for c in names:
        array, kind = _column(values[c])
        if kind is ColumnType.STRING and c in tag_columns:
            kind = ColumnType.TAG
        columns[c] = array
        schema[c] = kind
    return pa.table(columns), schema


def _column(values: list) -> tuple[pa.Array, ColumnType]:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_()), ColumnType.BOOLEAN
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.int64()), ColumnType.INTEGER
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return (pa.array([None if v is None else float(v) for v in values], pa.float64()),
                ColumnType.FLOAT)
    return (pa.array([None if v is None else str(v) for v in values], pa.string()),
            ColumnType.STRING)
