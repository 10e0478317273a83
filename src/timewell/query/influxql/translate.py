"""InfluxQL SELECT → DataFusion SQL, one query per measurement.

The SQL does the filtering and the aggregation (per `date_bin` bucket and tag group); what
InfluxQL adds on top — empty buckets and `fill()`, series per tag group, per-series LIMIT — is
done on the (small, aggregated) result by `select.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from timewell.catalog.model import ColumnType
from timewell.query.influxql import ast, zone
from timewell.query.influxql.timerange import MAX_TIME, InfluxQLError, TimeRange, describe

Schema = Mapping[str, ColumnType]
"""A measurement's columns: tags, typed fields and `time`."""

NUMERIC = (ColumnType.FLOAT, ColumnType.INTEGER, ColumnType.UINTEGER)
AGGREGATES = {"count", "sum", "mean", "median", "spread", "stddev", "min", "max", "first",
              "last", "percentile"}
SELECTORS = {"min", "max", "first", "last", "percentile"}
_NUMERIC_ONLY = {"sum", "mean", "median", "spread", "stddev", "min", "max", "percentile"}
_KNOWN_UNSUPPORTED = {"top", "bottom", "distinct", "mode", "integral", "holt_winters",
                      "holt_winters_with_fit", "sample", "exponential_moving_average",
                      "double_exponential_moving_average", "triple_exponential_moving_average",
                      "relative_strength_index", "chande_momentum_oscillator",
                      "kaufmans_efficiency_ratio", "kaufmans_adaptive_moving_average",
                      "triple_exponential_derivative"}
_COMPARISONS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ARITHMETIC = {"+", "-", "*", "/", "%", "&", "|"}


@dataclass(frozen=True)
class OutputColumn:
    name: str
    expr: ast.Expr


@dataclass
class Projection:
    """The statement's output columns after wildcard and regex expansion, and its kind."""

    columns: list[OutputColumn]
    aggregate: bool
    # The lone selector call (max, first, percentile...) when it is the statement's only call:
    # plain fields beside it take their values from the point it selects.
    selector: ast.Call | None = None
    selector_time: bool = False  # ... and without GROUP BY time rows carry that point's time


@dataclass
class MeasurementQuery:
    measurement: str
    sql: str
    tag_keys: list[str]  # GROUP BY tags, in output order; the SQL returns them as __t<i>
    value_columns: list[str]  # __c<i>
    presence_columns: list[str | None] = field(default_factory=list)  # __p<i>, aggregates only
    count_columns: list[bool] = field(default_factory=list)  # fill(null) fills these with 0


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def timestamp(ns: int) -> str:
    return f"arrow_cast({ns}, 'Timestamp(Nanosecond, None)')"


# -- the statement's columns


def project(stmt: ast.SelectStatement, schemas: Mapping[str, Schema],
            group_tags: set[str]) -> Projection:
    """Expand `*`, `/regex/` and `f(*)` against every selected measurement, name the columns
    as InfluxDB 1.x does (`mean`, `mean_1`, `mean_usage`), and check the statement's shape."""
    fields: dict[str, ColumnType] = {}
    tags: set[str] = set()
    for schema in schemas.values():
        for name, kind in schema.items():
            if kind is ColumnType.TAG:
                tags.add(name)
            elif kind is not ColumnType.TIME:
                fields.setdefault(name, kind)
    # As 1.x: with `GROUP BY *` or a `/regex/` among the dimensions, `*` and `/regex/` fields
    # expand to fields only; otherwise to the fields and the tags not grouped by.
    ungrouped = (set() if stmt.group_by_all_tags or stmt.group_by_tag_regexes
                 else tags - group_tags)
    expanded: list[tuple[str, ast.Expr]] = []
    for item in stmt.fields:
        if isinstance(item.expr, ast.VarRef) and item.expr.name.lower() == "time":
            continue  # every result has its time column first anyway
        expanded.extend(_expand(item, fields, ungrouped))
    names = unique_names([name for name, _ in expanded])
    columns = [OutputColumn(n, e) for n, (_, e) in zip(names, expanded, strict=True)]
    calls = [any(isinstance(n, ast.Call) and n.name != "now" for n in ast.walk(c.expr))
             for c in columns]
    lone = [c.expr for c, is_call in zip(columns, calls, strict=True) if is_call]
    selector = (lone[0] if len(lone) == 1 and isinstance(lone[0], ast.Call)
                and lone[0].name in SELECTORS else None)
    if any(calls) and not all(calls) and not (
            selector is not None and all(isinstance(c.expr, ast.VarRef)
                                         for c, is_call in zip(columns, calls, strict=True)
                                         if not is_call)):
        raise InfluxQLError("mixing aggregate and non-aggregate queries is not supported")
    aggregate = any(calls)
    if stmt.group_by_time and not aggregate:
        raise InfluxQLError("GROUP BY requires at least one aggregate function")
    for column in columns:
        for node in ast.walk(column.expr):
            if isinstance(node, ast.Call) and not _counted_distinct(node, column.expr):
                _check_call(node)
    return Projection(columns, aggregate, selector,
                      selector is not None and stmt.group_by_time is None)


def unique_names(names: list[str]) -> list[str]:
    """Repeated names made unique as 1.x makes them: `mean`, `mean_1`, `mean_2`."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        unique, n = name, 0
        while unique in seen:
            n += 1
            unique = f"{name}_{n}"
        seen.add(unique)
        out.append(unique)
    return out


def _expand(item: ast.Field, fields: dict[str, ColumnType],
            tags: set[str]) -> list[tuple[str, ast.Expr]]:
    expr = item.expr
    if isinstance(expr, ast.Wildcard | ast.RegexLiteral):
        pattern = re.compile(expr.pattern) if isinstance(expr, ast.RegexLiteral) else None
        kind = expr.type if isinstance(expr, ast.Wildcard) else None
        names = []
        if kind != "tag":
            names += [f for f in fields if pattern is None or pattern.search(f)]
        if kind != "field":
            names += [t for t in tags if pattern is None or pattern.search(t)]
        return [(n, ast.VarRef(n)) for n in sorted(set(names))]
    if (isinstance(expr, ast.Call) and expr.args
            and isinstance(expr.args[0], ast.Wildcard | ast.RegexLiteral)):
        pattern = (re.compile(expr.args[0].pattern)
                   if isinstance(expr.args[0], ast.RegexLiteral) else None)
        numeric_only = expr.name in _NUMERIC_ONLY
        names = sorted(f for f, kind in fields.items()
                       if (pattern is None or pattern.search(f))
                       and (not numeric_only or kind in NUMERIC))
        return [(item.alias or f"{expr.name}_{f}",
                 ast.Call(expr.name, (ast.VarRef(f), *expr.args[1:]))) for f in names]
    return [(item.alias or column_name(expr), expr)]


def column_name(expr: ast.Expr) -> str:
    """1.x's name for a selected expression: the call's or field's name; for arithmetic,
    the names of its calls and fields joined by `_` (`max(a) - min(a)` → `max_min`)."""
    if isinstance(expr, ast.Paren):
        return column_name(expr.expr)
    if isinstance(expr, ast.BinaryExpr):
        return "_".join(n for n in (column_name(expr.lhs), column_name(expr.rhs)) if n)
    if isinstance(expr, ast.Call):
        return expr.name
    if isinstance(expr, ast.VarRef):
        return expr.name
    return ""


def _distinct_field(call: ast.Call) -> ast.VarRef | None:
    """The field of `count(distinct(field))`; None for any other call."""
    if call.name == "count" and len(call.args) == 1:
        inner = call.args[0]
        if (isinstance(inner, ast.Call) and inner.name == "distinct" and len(inner.args) == 1
                and isinstance(inner.args[0], ast.VarRef)):
            return inner.args[0]
    return None


def _counted_distinct(node: ast.Call, expr: ast.Expr) -> bool:
    """Whether `node` is the `distinct()` inside a `count(distinct(...))` of `expr`."""
    return any(isinstance(n, ast.Call) and n.args and n.args[0] is node
               and _distinct_field(n) is not None for n in ast.walk(expr))


def _check_call(call: ast.Call) -> None:
    if _distinct_field(call) is not None:
        return
    if call.name in _KNOWN_UNSUPPORTED:
        raise InfluxQLError(f"the InfluxQL function {call.name}() is not supported")
    if call.name not in AGGREGATES:
        raise InfluxQLError(f"undefined function {call.name}()")
    wanted = 2 if call.name == "percentile" else 1
    if len(call.args) != wanted:
        raise InfluxQLError(f"invalid number of arguments for {call.name}, expected {wanted}, "
                            f"got {len(call.args)}")
    if not isinstance(call.args[0], ast.VarRef):
        raise InfluxQLError(f"expected field argument in {call.name}()")
    if call.name == "percentile" and not isinstance(call.args[1], ast.IntegerLiteral
                                                    | ast.NumberLiteral):
        raise InfluxQLError("expected float argument in percentile()")


# -- SQL for one measurement


def measurement_query(stmt: ast.SelectStatement, projection: Projection, measurement: str,
                      schema: Schema, tag_keys: list[str], time_range: TimeRange,
                      condition: ast.Expr | None) -> MeasurementQuery | None:
    """The SQL answering the statement for one measurement; None when it selects no field of
    that measurement (InfluxDB 1.x returns no series for it then)."""
    selected_fields = [n.name for c in projection.columns for n in ast.walk(c.expr)
                       if isinstance(n, ast.VarRef) and is_field(schema, n)]
    if not selected_fields:
        return None
    where = [f"time >= {timestamp(time_range.start)}"] if time_range.start is not None else []
    if time_range.end is not None:
        where.append(f"time <= {timestamp(time_range.end)}")
    if condition is not None:
        where.append(condition_sql(condition, schema))
    tags = [f"{_tag_text(schema, t)} AS __t{i}" for i, t in enumerate(tag_keys)]
    tag_refs = [f"__t{i}" for i in range(len(tag_keys))]
    source = ident(measurement)
    if not projection.aggregate:
        present = " OR ".join(f"{ident(f)} IS NOT NULL" for f in dict.fromkeys(selected_fields))
        where.append(f"({present})")
        values = [f"{value_sql(c.expr, schema)} AS __c{i}"
                  for i, c in enumerate(projection.columns)]
        order = ", ".join([*tag_refs, "time DESC" if stmt.descending else "time"])
        sql = (f"SELECT time AS __time, {', '.join([*tags, *values])} FROM {source}"
               f"{_where(where)} ORDER BY {order}")
        if not tag_keys and (stmt.limit or stmt.offset):
            sql += f" LIMIT {stmt.limit or 'ALL'}" if stmt.limit else ""
            sql += f" OFFSET {stmt.offset}" if stmt.offset else ""
        return MeasurementQuery(measurement, sql, tag_keys,
                                [f"__c{i}" for i in range(len(projection.columns))])
    select = list(tags)
    # By the tag's text: DataFusion groups strings about twice as fast as dictionaries.
    group = [_tag_text(schema, t) for t in tag_keys]
    if stmt.group_by_time is not None:
        bucket = bucket_sql(stmt.group_by_time) if stmt.location is None else \
            zone.bucket_sql(stmt.group_by_time, zone.load(stmt.location),
                            time_range.start if time_range.start is not None else 0,
                            time_range.end if time_range.end is not None else MAX_TIME)
        select.insert(0, f"{bucket} AS __time")
        group.insert(0, bucket)
    presence, counts = [], []
    for i, column in enumerate(projection.columns):
        expr = column.expr
        if isinstance(expr, ast.VarRef) and projection.selector is not None:
            value = selected_value_sql(projection.selector, value_sql(expr, schema), schema)
            expr = projection.selector  # present where the selector found a point
        else:
            value = value_sql(expr, schema)
        select.append(f"{value} AS __c{i}")
        first_field = next((n for n in ast.walk(expr) if isinstance(n, ast.VarRef)), None)
        if first_field is not None and is_field(schema, first_field):
            select.append(f"count({ident(first_field.name)}) AS __p{i}")
            presence.append(f"__p{i}")
        else:
            presence.append(None)
        counts.append(isinstance(column.expr, ast.Call) and column.expr.name == "count")
    if projection.selector_time:
        assert projection.selector is not None
        select.append(f"{selected_value_sql(projection.selector, 'time', schema)} "
                      "AS __selected")
    sql = f"SELECT {', '.join(select)} FROM {source}{_where(where)}"
    if group:
        sql += f" GROUP BY {', '.join(group)}"
    return MeasurementQuery(measurement, sql, tag_keys,
                            [f"__c{i}" for i in range(len(projection.columns))],
                            presence, counts)


def bucket_sql(group_by: ast.GroupByTime) -> str:
    return (f"date_bin(INTERVAL '{group_by.interval_ns} nanoseconds', time, "
            f"{timestamp(group_by.offset_ns)})")


def _where(terms: list[str]) -> str:
    return f" WHERE {' AND '.join(terms)}" if terms else ""


def is_field(schema: Schema, ref: ast.VarRef) -> bool:
    kind = schema.get(ref.name)
    return kind is not None and kind not in (ColumnType.TAG, ColumnType.TIME) \
        and ref.type != "tag"


def _tag_text(schema: Schema, tag: str) -> str:
    if schema.get(tag) is ColumnType.TAG:
        return f"coalesce(CAST({ident(tag)} AS VARCHAR), '')"
    return "''"


# -- expressions


def value_sql(expr: ast.Expr, schema: Schema) -> str:
    """SQL for a selected expression (a field, a tag, arithmetic, an aggregate call)."""
    if isinstance(expr, ast.VarRef):
        kind = schema.get(expr.name)
        if (kind is None or kind is ColumnType.TIME
                or (expr.type == "tag" and kind is not ColumnType.TAG)
                or (expr.type == "field" and kind is ColumnType.TAG)):
            return "NULL"
        if kind is ColumnType.TAG:
            return f"CAST({ident(expr.name)} AS VARCHAR)"
        return ident(expr.name)
    if isinstance(expr, ast.Paren):
        return f"({value_sql(expr.expr, schema)})"
    if isinstance(expr, ast.Call):
        return aggregate_sql(expr, schema)
    if isinstance(expr, ast.BinaryExpr):
        if expr.op not in _ARITHMETIC:
            raise InfluxQLError(f"invalid operator {expr.op} in a selected expression: "
                                f"{describe(expr)}")
        left, right = value_sql(expr.lhs, schema), value_sql(expr.rhs, schema)
        if expr.op == "/":  # InfluxQL divides as floats, integers included
            return f"(CAST({left} AS DOUBLE) / {right})"
        return f"({left} {expr.op} {right})"
    return literal_sql(expr)


def literal_sql(expr: ast.Expr) -> str:
    if isinstance(expr, ast.StringLiteral):
        return string(expr.value)
    if isinstance(expr, ast.BooleanLiteral):
        return "TRUE" if expr.value else "FALSE"
    if isinstance(expr, ast.IntegerLiteral):
        return str(expr.value)
    if isinstance(expr, ast.NumberLiteral):
        return repr(expr.value)
    if isinstance(expr, ast.DurationLiteral):
        return str(expr.ns)
    raise InfluxQLError(f"unsupported expression: {describe(expr)}")


def aggregate_sql(call: ast.Call, schema: Schema) -> str:
    distinct = _distinct_field(call)
    if distinct is not None:
        return f"count(DISTINCT {ident(distinct.name)})" if is_field(schema, distinct) \
            else "NULL"
    arg = call.args[0]
    assert isinstance(arg, ast.VarRef)
    if not is_field(schema, arg):
        return "NULL"
    column = ident(arg.name)
    as_double = f"CAST({column} AS DOUBLE)"
    present = f"FILTER (WHERE {column} IS NOT NULL)"
    name = call.name
    if name in _NUMERIC_ONLY and schema[arg.name] not in NUMERIC:
        raise InfluxQLError(f"unsupported {name} iterator type for field {arg.name} "
                            f"({schema[arg.name].value}): {name}() needs a numeric field")
    if name == "count":
        return f"count({column})"
    if name == "sum":
        return f"sum({column})"
    if name == "mean":
        return f"avg({as_double})"
    if name == "median":
        return f"median({as_double})"
    if name == "min":
        return f"min({column})"
    if name == "max":
        return f"max({column})"
    if name == "spread":
        return f"(max({column}) - min({column}))"
    if name == "stddev":
        return f"stddev({as_double})"
    if name == "first":
        return f"first_value({column} ORDER BY time ASC) {present}"
    if name == "last":
        return f"last_value({column} ORDER BY time ASC) {present}"
    if name == "percentile":
        return f"array_element(array_agg({column} ORDER BY {column}) {present}, " \
               f"{_percentile_index(call, column)})"
    raise InfluxQLError(f"undefined function {name}()")


def _percentile_index(call: ast.Call, column: str) -> str:
    """InfluxQL's nearest rank: floor(n * p / 100 + 0.5), 1-based; out of range gives null."""
    percent = call.args[1].value  # type: ignore[union-attr]
    return f"CAST(floor(count({column}) * {float(percent)!r} / 100.0 + 0.5) AS BIGINT)"


def selected_value_sql(call: ast.Call, value: str, schema: Schema) -> str:
    """`value` (SQL) at the point a selector picks: the earliest on ties, as 1.x picks."""
    arg = call.args[0]
    assert isinstance(arg, ast.VarRef)
    if not is_field(schema, arg):
        return "NULL"
    column = ident(arg.name)
    present = f"FILTER (WHERE {column} IS NOT NULL)"
    if call.name == "first":
        return f"first_value({value} ORDER BY time ASC) {present}"
    if call.name == "last":
        return f"last_value({value} ORDER BY time ASC) {present}"
    if call.name == "min":
        return f"first_value({value} ORDER BY {column} ASC, time ASC) {present}"
    if call.name == "max":
        return f"first_value({value} ORDER BY {column} DESC, time ASC) {present}"
    return (f"array_element(array_agg({value} ORDER BY {column}, time) {present}, "
            f"{_percentile_index(call, column)})")


def condition_sql(expr: ast.Expr, schema: Schema) -> str:
    """SQL for a WHERE condition without its time terms. A tag that a point lacks compares
    as the empty string, as in InfluxDB 1.x."""
    if isinstance(expr, ast.Paren):
        return f"({condition_sql(expr.expr, schema)})"
    if isinstance(expr, ast.BinaryExpr):
        if expr.op in ("AND", "OR"):
            return f"({condition_sql(expr.lhs, schema)} {expr.op} " \
                   f"{condition_sql(expr.rhs, schema)})"
        if expr.op in ("=~", "!~"):
            if not isinstance(expr.rhs, ast.RegexLiteral):
                raise InfluxQLError(f"expected a regex after {expr.op}: {describe(expr)}")
            match = f"regexp_like({_operand_sql(expr.lhs, schema)}, {string(expr.rhs.pattern)})"
            return match if expr.op == "=~" else f"(NOT {match})"
        if expr.op in _COMPARISONS:
            tag_test = _tag_equality_sql(expr, schema)
            if tag_test is not None:
                return tag_test
            return f"({_operand_sql(expr.lhs, schema)} {_COMPARISONS[expr.op]} " \
                   f"{_operand_sql(expr.rhs, schema)})"
        if expr.op in _ARITHMETIC:
            return value_sql(expr, schema)
    if isinstance(expr, ast.BooleanLiteral):
        return "TRUE" if expr.value else "FALSE"
    if isinstance(expr, ast.VarRef) and schema.get(expr.name) is ColumnType.BOOLEAN:
        return ident(expr.name)
    raise InfluxQLError(f"invalid condition: {describe(expr)}")


def _tag_equality_sql(expr: ast.BinaryExpr, schema: Schema) -> str | None:
    """`tag = 'v'` / `tag != 'v'` as comparisons of the tag column itself, which reach the
    scan (and its series index) and compare dictionary values, not per-row text; None for
    other comparisons. A point without the tag compares as the empty string."""
    if expr.op not in ("=", "!=", "<>"):
        return None
    tag, value = expr.lhs, expr.rhs
    if isinstance(tag, ast.StringLiteral):
        tag, value = value, tag
    if not (isinstance(tag, ast.VarRef) and isinstance(value, ast.StringLiteral)
            and schema.get(tag.name) is ColumnType.TAG and tag.type != "field"):
        return None
    column = ident(tag.name)
    if expr.op == "=":
        return f"({column} IS NULL)" if value.value == "" else \
            f"({column} = {string(value.value)})"
    return f"({column} IS NOT NULL)" if value.value == "" else \
        f"({column} IS NULL OR {column} <> {string(value.value)})"


def _operand_sql(expr: ast.Expr, schema: Schema) -> str:
    if isinstance(expr, ast.VarRef):
        kind = schema.get(expr.name)
        if kind is ColumnType.TAG and expr.type != "field":
            return f"coalesce(CAST({ident(expr.name)} AS VARCHAR), '')"
        if kind is None:
            return "''"  # unknown names behave as a tag no point has
        return ident(expr.name)
    if isinstance(expr, ast.Call):
        raise InfluxQLError(f"functions are not allowed in WHERE: {describe(expr)}")
    if isinstance(expr, ast.RegexLiteral):
        raise InfluxQLError(f"a regex needs =~ or !~: {describe(expr)}")
    return value_sql(expr, schema)
