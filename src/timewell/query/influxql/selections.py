"""InfluxQL's `top()`, `bottom()` and `distinct()`: points chosen among a series' raw points,
per GROUP BY time bucket, as InfluxDB 1.x chooses them.

The raw points come from an inner statement (the field, the tags `top(f, tag, N)` names, the
plain fields and tags selected beside), answered by the usual SELECT path; the choice is made
here:

- `top(f, N)` / `bottom(f, N)`: the N greatest (least) values, on equal values the earlier
  point; with tags (`top(f, host, N)`) first the greatest point of each tag value, then the N
  greatest of those. Rows in time order, each with its own time and the values of the plain
  columns at that point.
- `distinct(f)`: each value once, in the order it first appears, at the bucket's time (the
  range's start, or 1970-01-01, without GROUP BY time).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from timewell.query.influxql import ast, zone
from timewell.query.influxql.results import Series, ordered_series
from timewell.query.influxql.timerange import InfluxQLError, TimeRange, split_condition

SELECTIONS = {"top", "bottom", "distinct"}


def has_selections(stmt: ast.SelectStatement) -> bool:
    return any(isinstance(_unparen(item.expr), ast.Call)
               and _unparen(item.expr).name in SELECTIONS for item in stmt.fields)


def run_selections(stmt: ast.SelectStatement, now_ns: int,
                   run: Callable[[ast.SelectStatement], list[Series]]) -> list[Series]:
    calls = [(i, _unparen(item.expr)) for i, item in enumerate(stmt.fields)
             if isinstance(_unparen(item.expr), ast.Call)]
    index, call = next((i, c) for i, c in calls if c.name in SELECTIONS)
    name = call.name
    if name == "distinct":
        if len(stmt.fields) > 1:
            raise InfluxQLError("aggregate function distinct() cannot be combined with other "
                                "functions or fields")
        if len(call.args) != 1 or not isinstance(call.args[0], ast.VarRef):
            raise InfluxQLError("distinct function requires at least one argument")
        field, tags, count = call.args[0], [], 0
    else:
        if len(calls) > 1:
            raise InfluxQLError(f"selector function {name}() cannot be combined with other "
                                "functions")
        field, tags, count = _top_arguments(call)
        if stmt.limit and count > stmt.limit:
            raise InfluxQLError(f"limit ({count}) in {name} function can not be larger than "
                                f"the LIMIT ({stmt.limit}) in the select statement")
    plain = [(i, item) for i, item in enumerate(stmt.fields) if i != index]
    inner = dataclasses.replace(
        stmt, fields=[ast.Field(field, "__v"),
                      *[ast.Field(ast.VarRef(t, "tag"), f"__g{k}") for k, t in enumerate(tags)],
                      *[ast.Field(item.expr, f"__x{k}") for k, (_, item) in enumerate(plain)]],
        group_by_time=None, fill=ast.Fill(), limit=0, offset=0, slimit=0, soffset=0,
        descending=False)
    time_range, _ = split_condition(stmt.condition, now_ns)
    if stmt.group_by_time is not None and time_range.end is None:
        time_range = TimeRange(time_range.start, now_ns)
    names = [stmt.fields[index].alias or name, *tags,
             *[item.alias or _name(item.expr) for _, item in plain]]
    result = []
    for series in run(inner):
        points = [row for row in series.values if row[1] is not None]
        rows = []
        for bucket, members in _buckets(points, stmt.group_by_time, time_range,
                                        stmt.location):
            if name == "distinct":
                seen = dict.fromkeys(row[1] for row in members)
                rows += [[bucket, value] for value in seen]
            else:
                rows += _chosen(members, name == "top", len(tags), count)
        if stmt.descending:
            rows.reverse()
        rows = rows[stmt.offset:] if stmt.offset else rows
        rows = rows[:stmt.limit] if stmt.limit else rows
        if rows:
            result.append(Series(series.name, series.tags, ["time", *names], rows,
                                 grouped=series.grouped))
    return ordered_series(result, stmt.descending, stmt.soffset, stmt.slimit)


def _top_arguments(call: ast.Call) -> tuple[ast.VarRef, list[str], int]:
    name, args = call.name, call.args
    if len(args) < 2:
        raise InfluxQLError(f"invalid number of arguments for {name}, expected at least 2, "
                            f"got {len(args)}")
    if not isinstance(args[0], ast.VarRef):
        raise InfluxQLError(f"expected first argument to be a field in {name}(), found "
                            f"{type(args[0]).__name__}")
    if not isinstance(args[-1], ast.IntegerLiteral):
        raise InfluxQLError(f"expected integer as last argument in {name}(), found "
                            f"{type(args[-1]).__name__}")
    if args[-1].value < 1:
        raise InfluxQLError(f"limit ({args[-1].value}) in {name} function must be at least 1")
    tags = []
    for arg in args[1:-1]:
        if not isinstance(arg, ast.VarRef):
            raise InfluxQLError(f"only fields or tags are allowed in {name}(), found "
                                f"{type(arg).__name__}")
        tags.append(arg.name)
    return args[0], tags, args[-1].value


def _buckets(points: list[list], group_by: ast.GroupByTime | None, time_range: TimeRange,
             location: str | None = None) -> list[tuple[int, list[list]]]:
    """The points (time ascending) per GROUP BY time bucket, with each bucket's start."""
    if group_by is None:
        return [(time_range.start or 0, points)] if points else []
    buckets: dict[int, list[list]] = {}
    for row in points:
        t = row[0]
        start = (t - (t - group_by.offset_ns) % group_by.interval_ns if location is None
                 else zone.window(t, group_by, zone.load(location)))
        buckets.setdefault(start, []).append(row)
    return list(buckets.items())


def _chosen(points: list[list], greatest: bool, tag_count: int, count: int) -> list[list]:
    """top()/bottom() among `points` ([time, value, *tags, *plain]): rows in time order."""
    def rank(row: list) -> tuple:  # the better first; on equal values the earlier
        return (-row[1] if greatest else row[1], row[0])

    if tag_count:
        best: dict[tuple, list] = {}
        for row in points:
            key = tuple(row[2:2 + tag_count])
            if key not in best or rank(row) < rank(best[key]):
                best[key] = row
        points = list(best.values())
    chosen = sorted(points, key=rank)[:count]
    return [list(row) for row in sorted(chosen, key=lambda row: row[0])]


def _unparen(expr: ast.Expr) -> ast.Expr:
    while isinstance(expr, ast.Paren):
        expr = expr.expr
    return expr


def _name(expr: ast.Expr) -> str:
    expr = _unparen(expr)
    return expr.name if isinstance(expr, ast.VarRef | ast.Call) else ""
