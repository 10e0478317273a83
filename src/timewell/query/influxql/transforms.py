"""InfluxQL's transformations: derivative, non_negative_derivative, difference,
non_negative_difference, moving_average, cumulative_sum and elapsed, as InfluxDB 1.x computes
them.

A transformation works on a sequence of points per series, in time order: the raw values of a
field (`derivative(bytes, 1s)`; without GROUP BY tags all series of the measurement merge into
one sequence, as 1.x merges them), or the buckets of an aggregate (`non_negative_derivative(
mean(bytes), 1s) ... GROUP BY time(1m)`). The points come from an inner statement, the same one
with each transformation replaced by its argument, answered by the usual SELECT path; for
aggregates its time range starts one GROUP BY interval early, so the first bucket has a
predecessor (1.x does the same), and buckets without a value (`fill(null)`) are skipped.

Rows: with only transformations, one per time any of them gave a value; beside plain
aggregates, the buckets' rows with the transformations' values where they have one. LIMIT,
OFFSET, SLIMIT and SOFFSET apply to the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from timewell.query.influxql import ast, zone
from timewell.query.influxql.results import Series, ordered_series
from timewell.query.influxql.timerange import InfluxQLError, split_condition
from timewell.query.influxql.translate import unique_names

TRANSFORMS = {"derivative", "non_negative_derivative", "difference", "non_negative_difference",
              "moving_average", "cumulative_sum", "elapsed"}
SECOND_NS = 1_000_000_000

Points = list[tuple[int, object]]  # (time, value), time ascending, no None values


@dataclass(frozen=True)
class Transform:
    name: str
    inner: ast.Expr  # a field (VarRef) or an aggregate call
    unit_ns: int | None  # derivative and elapsed: per this much time (None: the default)
    window: int  # moving_average: this many points


def has_transforms(stmt: ast.SelectStatement) -> bool:
    return any(isinstance(node, ast.Call) and node.name in TRANSFORMS
               for item in stmt.fields for node in ast.walk(item.expr))


RunSelect = Callable[[ast.SelectStatement, int], list[Series]]
"""Answers a statement whose time range starts this many ns early."""


def run_transforms(stmt: ast.SelectStatement, now_ns: int, run: RunSelect) -> list[Series]:
    columns = [_transform_of(item.expr) for item in stmt.fields]
    names = _names(stmt.fields)
    transforms = [t for t in columns if t is not None]
    over_aggregates = [isinstance(t.inner, ast.Call) for t in transforms]
    plain = [item.expr for item, t in zip(stmt.fields, columns, strict=True) if t is None]
    if any(over_aggregates):
        if not all(over_aggregates):
            raise InfluxQLError("mixing aggregate and non-aggregate queries is not supported")
        if stmt.group_by_time is None:
            name = next(t.name for t in transforms)
            raise InfluxQLError(f"{name} aggregate requires a GROUP BY interval")
        if not all(isinstance(e, ast.Call) for e in plain):
            raise InfluxQLError("mixing aggregate and non-aggregate queries is not supported")
    else:
        if plain:
            raise InfluxQLError("mixing aggregate and non-aggregate queries is not supported")
        if stmt.group_by_time is not None:
            name = transforms[0].name
            raise InfluxQLError(f"aggregate function required inside the call to {name}")
    inner = dataclasses.replace(
        stmt, fields=[ast.Field(t.inner if t is not None else item.expr, f"__i{i}")
                      for i, (item, t) in enumerate(zip(stmt.fields, columns, strict=True))],
        limit=0, offset=0, slimit=0, soffset=0, descending=False)
    interval = stmt.group_by_time.interval_ns if stmt.group_by_time is not None else 0
    start = split_condition(stmt.condition, now_ns)[0].start
    if start is not None and stmt.group_by_time is not None:
        # Rows from the bucket holding the start on (1.x keeps a bucket the range begins
        # inside); the one interval earlier is there only as the first one's predecessor.
        start = (zone.window(start, stmt.group_by_time, zone.load(stmt.location))
                 if stmt.location is not None
                 else start - (start - stmt.group_by_time.offset_ns) % interval)
    # Plain aggregates beside transformations are over the statement's own range (1.x: the
    # first bucket's mean has only the points from the start on), so they are asked apart.
    own_range = ({(s.name, tuple(sorted(s.tags.items()))): s.values for s in run(inner, 0)}
                 if plain and interval else None)
    result = []
    for series in run(inner, interval):
        plain_values = (None if own_range is None
                        else own_range.get((series.name, tuple(sorted(series.tags.items()))),
                                           []))
        rows = _rows(series.values, columns, interval, start, only_transforms=not plain,
                     plain_values=plain_values, descending=stmt.descending)
        if stmt.descending:
            rows.reverse()
        if stmt.offset:
            rows = rows[stmt.offset:]
        if stmt.limit:
            rows = rows[:stmt.limit]
        if rows:
            result.append(Series(series.name, series.tags, ["time", *names], rows,
                                 grouped=series.grouped))
    return ordered_series(result, stmt.descending, stmt.soffset, stmt.slimit)


def _rows(values: list[list], columns: list[Transform | None], interval: int,
          start: int | None, only_transforms: bool,
          plain_values: list[list] | None = None, descending: bool = False) -> list[list]:
    """The result's rows from the inner statement's `values` (and, when given, the plain
    columns' own rows, `plain_values`)."""
    own = values if plain_values is None else plain_values
    outputs: list[dict[int, object]] = []
    for i, transform in enumerate(columns):
        if transform is None:
            outputs.append({row[0]: row[i + 1] for row in own})
            continue
        points = [(row[0], row[i + 1]) for row in values if row[i + 1] is not None]
        if descending:  # 1.x transforms the points in the order it returns them
            points.reverse()
        outputs.append(dict(apply(transform, points, interval)))
    times = (sorted({t for out in outputs for t in out}) if only_transforms
             else [row[0] for row in own])
    return [[t, *(out.get(t) for out in outputs)] for t in times
            if start is None or t >= start]


def apply(transform: Transform, points: Points, interval: int) -> Points:
    """The transformation's points over `points` (time ascending, no missing values)."""
    name = transform.name
    if name in ("derivative", "non_negative_derivative", "difference",
                "non_negative_difference", "moving_average", "cumulative_sum"):
        for _, value in points:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InfluxQLError(f"unsupported {name} iterator type: {type(value).__name__}"
                                    " (it needs a numeric field)")
    out: Points = []
    if name in ("derivative", "non_negative_derivative"):
        unit = transform.unit_ns or interval or SECOND_NS
        for (t0, v0), (t1, v1) in zip(points, points[1:], strict=False):
            if t1 == t0:
                continue
            value = (v1 - v0) / (abs(t1 - t0) / unit)  # elapsed time, descending too
            if name == "derivative" or value >= 0:
                out.append((t1, value))
    elif name in ("difference", "non_negative_difference"):
        for (_, v0), (t1, v1) in zip(points, points[1:], strict=False):
            value = v1 - v0
            if name == "difference" or value >= 0:
                out.append((t1, value))
    elif name == "moving_average":
        n = transform.window
        total = 0.0
        for i, (t, v) in enumerate(points):
            total += v
            if i >= n:
                total -= points[i - n][1]
            if i >= n - 1:
                out.append((t, total / n))
    elif name == "cumulative_sum":
        total = 0
        for t, v in points:
            total += v
            out.append((t, total))
    elif name == "elapsed":
        unit = transform.unit_ns or 1
        for (t0, _), (t1, _) in zip(points, points[1:], strict=False):
            out.append((t1, (t1 - t0) // unit))
    return out


def _transform_of(expr: ast.Expr) -> Transform | None:
    while isinstance(expr, ast.Paren):
        expr = expr.expr
    if not (isinstance(expr, ast.Call) and expr.name in TRANSFORMS):
        if any(isinstance(n, ast.Call) and n.name in TRANSFORMS for n in ast.walk(expr)):
            raise InfluxQLError("a transformation such as derivative() must be a selected "
                                "column of its own, not part of an expression")
        return None
    name, args = expr.name, expr.args
    if not args or not isinstance(args[0], ast.VarRef | ast.Call):
        raise InfluxQLError(f"expected field argument in {name}()")
    if isinstance(args[0], ast.Call) and args[0].name in TRANSFORMS:
        raise InfluxQLError(f"{name}() of {args[0].name}() is not supported")
    unit, window = None, 0
    if name == "moving_average":
        if len(args) != 2:
            raise InfluxQLError(f"invalid number of arguments for moving_average, expected 2, "
                                f"got {len(args)}")
        if not isinstance(args[1], ast.IntegerLiteral):
            raise InfluxQLError("second argument for moving_average must be an integer, "
                                f"got {type(args[1]).__name__}")
        if args[1].value <= 1:
            raise InfluxQLError("moving_average window must be greater than 1, "
                                f"got {args[1].value}")
        window = args[1].value
    elif name in ("derivative", "non_negative_derivative", "elapsed"):
        if len(args) > 2:
            raise InfluxQLError(f"invalid number of arguments for {name}, expected at least 1 "
                                f"but no more than 2, got {len(args)}")
        if len(args) == 2:
            if not isinstance(args[1], ast.DurationLiteral) or args[1].ns <= 0:
                raise InfluxQLError(f"second argument to {name} must be a duration, e.g. 1s")
            unit = args[1].ns
    elif len(args) != 1:
        raise InfluxQLError(f"invalid number of arguments for {name}, expected 1, "
                            f"got {len(args)}")
    return Transform(name, args[0], unit, window)


def _names(fields: list[ast.Field]) -> list[str]:
    """Column names as 1.x gives them: the alias, else the function's name; repeats get _1,
    _2, ..."""
    bases = []
    for item in fields:
        expr = item.expr
        while isinstance(expr, ast.Paren):
            expr = expr.expr
        bases.append(item.alias or (expr.name if isinstance(expr, ast.Call | ast.VarRef)
                                    else ""))
    return unique_names(bases)
