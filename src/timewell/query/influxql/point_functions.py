"""InfluxQL's `mode()`, `integral()` and `sample()`: functions of a series' raw points that SQL
has no aggregate for, computed per series and GROUP BY time bucket as InfluxDB 1.x computes
them.

The raw points come from an inner statement (each function replaced by its field), answered
by the usual SELECT path; without GROUP BY tags every series of the measurement merges into
one sequence, in time order, as 1.x merges them.

- `mode(f)`: the most frequent value, computed step by step as 1.x computes it (see `mode`:
  when every value is different, the least). An aggregate: one row per bucket at the
  bucket's time, empty buckets filled as `fill()` says.
- `integral(f[, unit])`: the area under the line through the points, by the trapezium rule,
  in `unit` (1s by default). With GROUP BY time the points stream across buckets: a bucket's
  area ends at its end with the value interpolated towards the next point, wherever that is,
  and the next non-empty bucket starts from there (so the area of empty buckets between two
  points goes to the later bucket, as in 1.x). Alone, it fills no empty bucket (1.x streams
  it out bucket by bucket); without GROUP BY time its row is at 1970-01-01, as in 1.x.
- `sample(f, N)`: N points of each bucket, chosen evenly by position (the first, the last
  and equally spaced ones between) rather than at random as 1.x does, so the answer is
  deterministic; all the points when there are at most N. A selector: rows in time order at
  the points' own times, plain fields and tags beside it taking that point's values.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping

from timewell.catalog.model import ColumnType
from timewell.query.influxql import ast, select, zone  # select (importing us): at call time
from timewell.query.influxql.results import Series, limited, ordered_series
from timewell.query.influxql.timerange import InfluxQLError, TimeRange, split_condition
from timewell.query.influxql.translate import NUMERIC, column_name, unique_names

AGGREGATES = {"mode", "integral"}
FUNCTIONS = AGGREGATES | {"sample"}
SECOND_NS = 1_000_000_000


def has_point_functions(stmt: ast.SelectStatement) -> bool:
    return any(isinstance(node, ast.Call) and node.name in FUNCTIONS
               for item in stmt.fields for node in ast.walk(item.expr))


def run_point_functions(stmt: ast.SelectStatement, now_ns: int,
                        run: Callable[[ast.SelectStatement], list[Series]],
                        fields: Mapping[str, ColumnType]) -> list[Series]:
    """The statement's series; `run` answers other statements, `fields` are the sources'
    fields (for `mode(*)` and `integral(/regex/)`)."""
    stmt = _expanded(stmt, fields)
    calls = [_unparen(item.expr) for item in stmt.fields]
    if not all(isinstance(expr, ast.Call | ast.VarRef) for expr in calls):
        return _run_arithmetic(stmt, now_ns, run)
    functions = [c for c in calls if isinstance(c, ast.Call)]
    for call in functions:
        if call.name in FUNCTIONS:
            _check_arguments(call)
    if any(c.name == "sample" for c in functions):
        if len(functions) > 1:
            raise InfluxQLError("selector function sample() cannot be combined with other "
                                "functions")
        return _run_sample(stmt, calls, now_ns, run)
    if len(functions) < len(calls):
        raise InfluxQLError("mixing aggregate and non-aggregate queries is not supported")
    names = unique_names([item.alias or call.name
                          for item, call in zip(stmt.fields, functions, strict=True)])
    alone = all(call.name == "integral" for call in functions)
    ours = [i for i, call in enumerate(functions) if call.name in AGGREGATES]
    whole = dataclasses.replace(stmt, limit=0, offset=0, slimit=0, soffset=0,
                                descending=False)
    parts = [(ours, _run_aggregates(
        dataclasses.replace(whole, fields=[stmt.fields[i] for i in ours]),
        [functions[i] for i in ours], now_ns, run, alone))]
    others = [i for i in range(len(functions)) if i not in ours]
    if others:  # the SQL aggregates beside them, answered as usual
        answered = run(dataclasses.replace(whole, fields=[stmt.fields[i] for i in others]))
        if stmt.group_by_time is None:  # a selector is not alone here: no point's own time
            start = _time_range(stmt, now_ns).start or 0
            for series in answered:
                for row in series.values:
                    row[0] = start
        parts.append((others, answered))
    return _merged(stmt, names, parts)


def _run_arithmetic(stmt: ast.SelectStatement, now_ns: int,
                    run: Callable[[ast.SelectStatement], list[Series]]) -> list[Series]:
    """Arithmetic over mode()/integral() (`mode(x) * 2`, `integral(a) - integral(b)`): each
    call computed and filled as usual, then the expression per row, as 1.x computes it."""
    calls = list(dict.fromkeys(node for item in stmt.fields for node in ast.walk(item.expr)
                               if isinstance(node, ast.Call)))
    for call in calls:
        if call.name not in AGGREGATES:
            raise InfluxQLError(f"{call.name}() cannot be in one expression with mode() or "
                                "integral() in timewell yet: select them side by side")
        _check_arguments(call)
    for item in stmt.fields:
        if any(isinstance(node, ast.VarRef) and not _inside_call(node, item.expr)
               for node in ast.walk(item.expr)):
            raise InfluxQLError("mixing aggregate and non-aggregate queries is not supported")
    names = unique_names([item.alias or column_name(item.expr) for item in stmt.fields])
    whole = dataclasses.replace(stmt, fields=[ast.Field(c) for c in calls], limit=0,
                                offset=0, slimit=0, soffset=0, descending=False)
    alone = all(call.name == "integral" for call in calls)
    result = []
    for series in _run_aggregates(whole, calls, now_ns, run, alone):
        rows = [[row[0], *(_evaluate(item.expr, dict(zip(calls, row[1:], strict=True)))
                           for item in stmt.fields)] for row in series.values]
        result.append(_series(stmt, series, names, rows))
    return ordered_series([s for s in result if s.values], stmt.descending, stmt.soffset,
                          stmt.slimit)


def _inside_call(node: ast.Expr, expr: ast.Expr) -> bool:
    return any(isinstance(n, ast.Call) and any(a is node for a in n.args)
               for n in ast.walk(expr))


def _evaluate(expr: ast.Expr, values: dict[ast.Call, object]) -> object:
    """`expr` with its calls' values (None if any is missing): 1.x's arithmetic, integers
    staying integers except under `/`."""
    expr = _unparen(expr)
    if isinstance(expr, ast.Call):
        return values.get(expr)
    if isinstance(expr, ast.IntegerLiteral | ast.NumberLiteral):
        return expr.value
    if not isinstance(expr, ast.BinaryExpr):
        raise InfluxQLError("only arithmetic (+ - * / %) over mode() and integral() is "
                            "supported")
    lhs, rhs = _evaluate(expr.lhs, values), _evaluate(expr.rhs, values)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lhs, rhs)):
        return None
    if expr.op == "+":
        return lhs + rhs
    if expr.op == "-":
        return lhs - rhs
    if expr.op == "*":
        return lhs * rhs
    if expr.op == "/":
        return lhs / rhs if rhs else 0.0  # 1.x divides by zero as 0
    if expr.op == "%":
        return (math.fmod(lhs, rhs) if isinstance(lhs, float) or isinstance(rhs, float)
                else int(math.fmod(lhs, rhs))) if rhs else None
    raise InfluxQLError(f"the operator {expr.op} is not supported over mode() and integral()")


def _expanded(stmt: ast.SelectStatement, fields: Mapping[str, ColumnType]
              ) -> ast.SelectStatement:
    """`mode(*)`, `integral(/regex/)`: one call per (numeric, for integral) field, named
    `mode_<field>` as 1.x names them."""
    items = []
    for item in stmt.fields:
        call = _unparen(item.expr)
        if not (isinstance(call, ast.Call) and call.name in AGGREGATES and call.args
                and isinstance(call.args[0], ast.Wildcard | ast.RegexLiteral)):
            items.append(item)
            continue
        pattern = call.args[0]
        wanted = [name for name, kind in sorted(fields.items())
                  if kind not in (ColumnType.TAG, ColumnType.TIME)
                  and (call.name != "integral" or kind in NUMERIC)
                  and (not isinstance(pattern, ast.RegexLiteral)
                       or re.search(pattern.pattern, name))]
        prefix = item.alias or call.name
        items += [ast.Field(ast.Call(call.name, (ast.VarRef(name), *call.args[1:])),
                            f"{prefix}_{name}") for name in wanted]
    return dataclasses.replace(stmt, fields=items)


def _merged(stmt: ast.SelectStatement, names: list[str],
            parts: list[tuple[list[int], list[Series]]]) -> list[Series]:
    """Series of parts of the statement's columns (their positions, their series) joined
    by series and time, as 1.x joins its aggregates' rows (a time only one part has gets
    nulls in the others' columns)."""
    width = len(names)
    rows_of: dict[tuple, dict[int, list]] = {}
    first: dict[tuple, Series] = {}
    for positions, series_list in parts:
        for series in series_list:
            key = (series.name, tuple(sorted(series.tags.items())))
            first.setdefault(key, series)
            rows = rows_of.setdefault(key, {})
            for row in series.values:
                merged = rows.setdefault(row[0], [None] * width)
                for position, value in zip(positions, row[1:], strict=True):
                    merged[position] = value
    result = [_series(stmt, first[key], names,
                      [[t, *rows[t]] for t in sorted(rows, key=lambda t: t or 0)])
              for key, rows in rows_of.items()]
    return ordered_series([s for s in result if s.values], stmt.descending, stmt.soffset,
                          stmt.slimit)


def _check_arguments(call: ast.Call) -> None:
    name, args = call.name, call.args
    wanted = {"mode": (1,), "integral": (1, 2), "sample": (2,)}[name]
    if len(args) not in wanted:
        expected = " or ".join(str(n) for n in wanted)
        raise InfluxQLError(f"invalid number of arguments for {name}, expected {expected}, "
                            f"got {len(args)}")
    if not isinstance(args[0], ast.VarRef):
        raise InfluxQLError(f"expected field argument in {name}()")
    if name == "integral" and len(args) == 2 and not isinstance(args[1], ast.DurationLiteral):
        raise InfluxQLError(f"second argument must be a duration in {name}()")
    if name == "sample":
        if not isinstance(args[1], ast.IntegerLiteral):
            raise InfluxQLError(f"expected integer argument in {name}()")
        if args[1].value <= 0:
            raise InfluxQLError(f"sample window must be greater than 1, got {args[1].value}")


def _time_range(stmt: ast.SelectStatement, now_ns: int) -> TimeRange:
    time_range, _ = split_condition(stmt.condition, now_ns)
    if stmt.group_by_time is not None and time_range.end is None:
        time_range = TimeRange(time_range.start, now_ns)  # as 1.x: no buckets in the future
    return time_range


def _raw(stmt: ast.SelectStatement, fields: list[ast.Expr]) -> ast.SelectStatement:
    """The statement over the raw points of `fields` (named __v0, __v1 ...)."""
    return dataclasses.replace(
        stmt, fields=[ast.Field(f, f"__v{i}") for i, f in enumerate(fields)],
        group_by_time=None, fill=ast.Fill(), limit=0, offset=0, slimit=0, soffset=0,
        descending=False)


def _run_aggregates(stmt: ast.SelectStatement, calls: list[ast.Call], now_ns: int,
                    run: Callable[[ast.SelectStatement], list[Series]],
                    alone: bool) -> list[Series]:
    """The series of `mode`/`integral` calls, unordered and uncut (`_merged` does that);
    `alone`: the statement has integral() calls only."""
    time_range = _time_range(stmt, now_ns)
    group_by = stmt.group_by_time
    result = []
    for series in run(_raw(stmt, [call.args[0] for call in calls])):
        # Each function over its own field's points: the rows where that field has a value.
        by_time: dict[int, list] = {}
        for column, call in enumerate(calls):
            points = [(row[0], row[1 + column]) for row in series.values
                      if row[1 + column] is not None]
            for bucket, value in _aggregate(call, points, group_by, stmt.location):
                if group_by is None and call.name != "integral":  # 1.x: integral() at 0
                    bucket = time_range.start or 0
                by_time.setdefault(bucket, [select.MISSING] * len(calls))[column] = value
        if not by_time:
            continue
        # 1.x streams integral() out bucket by bucket and fills nothing when it is alone.
        if group_by is not None and stmt.fill.kind != "none" and not alone:
            start = (select.window(time_range.start, group_by, stmt.location)
                     if time_range.start is not None else min(by_time))
            end = select.window(time_range.end, group_by, stmt.location)
            rows = select.fill_buckets(
                by_time, start, end, group_by.interval_ns, stmt.fill, [False] * len(calls),
                None if stmt.location is None else zone.buckets(start, end, group_by,
                                                                 zone.load(stmt.location)))
        else:
            rows = [[t, *(None if v is select.MISSING else v for v in values)]
                    for t, values in sorted(by_time.items())]
        result.append(Series(series.name, series.tags, ["time", *(c.name for c in calls)],
                             rows, grouped=series.grouped))
    return result



def _aggregate(call: ast.Call, points: list[tuple[int, object]],
               group_by: ast.GroupByTime | None,
               location: str | None) -> list[tuple[int, object]]:
    """(bucket start, value) of `call` over `points` (time ascending)."""
    if call.name == "integral":
        unit = call.args[1].ns if len(call.args) == 2 else SECOND_NS
        _numeric(call, points)
        return integral(points, unit, group_by, location)
    buckets: dict[int, list] = {}
    for t, v in points:
        buckets.setdefault(0 if group_by is None else select.window(t, group_by, location),
                           []).append((t, v))
    return [(bucket, mode(members)) for bucket, members in buckets.items()]


def _numeric(call: ast.Call, points: list[tuple[int, object]]) -> None:
    for _, value in points[:1]:
        if isinstance(value, str | bool):
            kind = "string" if isinstance(value, str) else "boolean"
            raise InfluxQLError(f"unsupported {call.name} iterator type: {kind}")


def mode(points: list[tuple[int, object]]) -> object:
    """1.x's mode, step by step as 1.x computes it: the points sorted by value; a run of equal
    values counts from its second point on (so when every value is different the least one
    wins); on equal counts the run that began no later than the current winner's last point
    takes over. Booleans: `true` unless `false` is more frequent."""
    if isinstance(points[0][1], bool):
        trues = sum(1 for _, v in points if v)
        return not len(points) - trues > trues
    ordered = sorted(points, key=lambda p: p[1])
    most_count = count = 0
    most_value = current = ordered[0][1]
    most_time = current_time = ordered[0][0]
    for t, v in ordered:
        if v != current:
            count, current, current_time = 1, v, t
            continue
        count += 1
        if most_count > count or (most_count == count and current_time > most_time):
            continue
        most_count, most_value, most_time = count, v, t
    return most_value


def integral(points: list[tuple[int, object]], unit_ns: int, group_by: ast.GroupByTime | None,
             location: str | None = None) -> list[tuple[int, float]]:
    """1.x's streaming trapezium sum, with interpolation at bucket ends (see the module)."""
    out: list[tuple[int, float]] = []
    prev_t: int | None = None
    prev_v = 0.0
    total = 0.0
    start = end = 0
    for t, raw in points:
        v = float(raw)
        if prev_t is None:
            prev_t, prev_v = t, v
            if group_by is not None:
                start = select.window(t, group_by, location)
                end = start + group_by.interval_ns
            continue
        if t == prev_t:
            prev_v = v
            continue
        if group_by is not None and t >= end:
            if prev_t != end:
                value = prev_v + (v - prev_v) * (end - prev_t) / (t - prev_t)
                total += 0.5 * (value + prev_v) * ((end - prev_t) / unit_ns)
                prev_t, prev_v = end, value
            out.append((start, total))
            start = select.window(t, group_by, location)
            end = start + group_by.interval_ns
            total = 0.0
        total += 0.5 * (v + prev_v) * ((t - prev_t) / unit_ns)
        prev_t, prev_v = t, v
    if prev_t is not None and prev_t != start:
        out.append((start, total))
    return out


def _run_sample(stmt: ast.SelectStatement, calls: list[ast.Expr], now_ns: int,
                run: Callable[[ast.SelectStatement], list[Series]]) -> list[Series]:
    index = next(i for i, c in enumerate(calls) if isinstance(c, ast.Call))
    call = calls[index]
    size = call.args[1].value
    others = [c for i, c in enumerate(calls) if i != index]
    names = unique_names([item.alias or (c.name if isinstance(c, ast.Call | ast.VarRef)
                                         else "")
                          for item, c in zip(stmt.fields, calls, strict=True)])
    names = [names[index], *(n for i, n in enumerate(names) if i != index)]
    result = []
    for series in run(_raw(stmt, [call.args[0], *others])):
        points = [row for row in series.values if row[1] is not None]
        buckets: dict[int, list[list]] = {}
        for row in points:
            bucket = (0 if stmt.group_by_time is None
                      else select.window(row[0], stmt.group_by_time, stmt.location))
            buckets.setdefault(bucket, []).append(row)
        rows = [list(row) for members in buckets.values() for row in _evenly(members, size)]
        result.append(_series(stmt, series, names, rows))
    return ordered_series([s for s in result if s.values], stmt.descending, stmt.soffset,
                          stmt.slimit)


def _series(stmt: ast.SelectStatement, inner: Series, names: list[str],
            rows: list[list]) -> Series:
    """The result series of `inner`'s rows, in the statement's order and cut by its
    LIMIT/OFFSET (empty: left out by the caller)."""
    if stmt.descending:
        rows.reverse()
    return Series(inner.name, inner.tags, ["time", *names],
                  limited(rows, stmt.limit, stmt.offset), grouped=inner.grouped)


def _evenly(rows: list[list], size: int) -> list[list]:
    if len(rows) <= size:
        return rows
    if size == 1:
        return rows[:1]
    step = (len(rows) - 1) / (size - 1)
    return [rows[round(i * step)] for i in range(size)]



def _unparen(expr: ast.Expr) -> ast.Expr:
    while isinstance(expr, ast.Paren):
        expr = expr.expr
    return expr
