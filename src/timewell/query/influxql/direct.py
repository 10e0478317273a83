"""Simple InfluxQL SELECTs answered from the table scan with Arrow compute, without SQL.

A dashboard panel (`mean(f)` of one series over an hour by minute, or its last raw points) is
a few hundred rows, and DataFusion's fixed cost per query (logical and physical planning, its
threads) is then most of the answer's time. For the statements below the rows the scan
narrows by tags and time go through pyarrow's group-by instead, into the very table their SQL
(`translate.measurement_query`) would return: `__time`, `__t<i>`, `__c<i>`, `__p<i>`. What
InfluxQL does after that (buckets, fill, series, limits) is shared with the SQL path.

- WHERE: time, and tag equalities ANDed (`host = 'a'`, `(host = 'a' OR host = 'b')`);
- aggregates: count, sum, mean, min and max of fields, grouped by time and tags or not, but
  not a lone selector that gives its point's time (`SELECT max(f) FROM m` without GROUP BY
  time) nor fields beside a selector;
- raw rows of fields and tags.

Anything else, and a statement these rules do not cover exactly, goes to SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from timewell.catalog.model import ColumnType
from timewell.query.influxql import ast
from timewell.query.influxql.timerange import TimeRange
from timewell.query.influxql.translate import (
    NUMERIC,
    MeasurementQuery,
    Projection,
    Schema,
    is_field,
)

Scan = Callable[[str, str, dict, int | None, int | None, list[str]], pa.Table]
"""(database, table, tag constraints, low, high, columns) -> the narrowed rows."""

_AGGREGATES = {"count": "count", "sum": "sum", "mean": "mean", "min": "min", "max": "max"}


def direct_table(stmt: ast.SelectStatement, projection: Projection, query: MeasurementQuery,
                 database: str, schema: Schema, time_range: TimeRange,
                 condition: ast.Expr | None, scan: Scan) -> pa.Table | None:
    """The table `query.sql` would return, or None when the statement needs SQL."""
    constraints = _tag_equalities(condition, schema)
    if constraints is None or (stmt.location is not None and stmt.group_by_time is not None):
        return None
    if projection.aggregate:
        if (len(projection.columns) == 1 and isinstance(projection.columns[0].expr, ast.Call)
                and projection.columns[0].expr.name in ("first", "last")):
            return _first_or_last(stmt, projection, query, database, schema, time_range,
                                  constraints, scan)
        return _aggregated(stmt, projection, query, database, schema, time_range,
                           constraints, scan)
    return _raw(stmt, projection, query, database, schema, time_range, constraints, scan)


def _aggregated(stmt: ast.SelectStatement, projection: Projection, query: MeasurementQuery,
                database: str, schema: Schema, time_range: TimeRange, constraints: dict,
                scan: Scan) -> pa.Table | None:
    if projection.selector_time:
        return None
    fields = []
    for column in projection.columns:
        call = column.expr
        if not (isinstance(call, ast.Call) and call.name in _AGGREGATES
                and isinstance(call.args[0], ast.VarRef) and is_field(schema, call.args[0])):
            return None
        if call.name != "count" and schema[call.args[0].name] not in NUMERIC:
            return None  # SQL explains the error
        fields.append(call.args[0].name)
    tags = [t for t in query.tag_keys if schema.get(t) is ColumnType.TAG]
    rows = scan(database, query.measurement, constraints, time_range.start, time_range.end,
                ["time", *tags, *dict.fromkeys(fields)])
    keys = _group_keys(rows, stmt, query, schema)
    values = {f"__v{i}": rows.column(f) for i, f in enumerate(fields)}
    aggregations = []
    for i, column in enumerate(projection.columns):
        aggregations.append((f"__v{i}", _AGGREGATES[column.expr.name], f"__c{i}"))
        aggregations.append((f"__v{i}", "count", f"__p{i}"))
    if not keys:  # one row, as SQL's aggregate without GROUP BY, even over no rows
        return pa.table({name: [_scalar(values[v], function)]
                         for v, function, name in aggregations})
    work = pa.table({**keys, **values})
    wanted = list(dict.fromkeys((v, function) for v, function, _ in aggregations))
    # Threads pay only for large inputs; the order of groups does not matter.
    grouped = work.group_by(list(keys), use_threads=work.num_rows > 200_000).aggregate(wanted)
    # pyarrow names each output `<column>_<function>`.
    return pa.table({**{k: grouped.column(k) if k == "__time" else _text(grouped.column(k))
                        for k in keys},
                     **{name: grouped.column(f"{v}_{function}")
                        for v, function, name in aggregations}})


def _first_or_last(stmt: ast.SelectStatement, projection: Projection,
                   query: MeasurementQuery, database: str, schema: Schema,
                   time_range: TimeRange, constraints: dict, scan: Scan) -> pa.Table | None:
    """first(f) / last(f) per group from the order the data has: every run and file row
    group is sorted by series then time, so the scanned rows come in stretches where the
    group stays the same and time does not go back; the last row of each stretch is the
    latest point of its group there (the first row, the earliest). Only those candidates,
    a few per series and source, are compared, instead of sorting every row by time."""
    call = projection.columns[0].expr
    if not (isinstance(call.args[0], ast.VarRef) and is_field(schema, call.args[0])):
        return None
    field = call.args[0].name
    tags = [t for t in query.tag_keys if schema.get(t) is ColumnType.TAG]
    rows = scan(database, query.measurement, constraints, time_range.start, time_range.end,
                ["time", *dict.fromkeys(tags), field])
    everything = rows
    if rows.column(field).null_count:
        rows = rows.filter(pc.is_valid(rows.column(field)))
    times = rows.column("time").cast(pa.int64()).to_numpy()
    keys = _group_keys(rows, stmt, query, schema)
    n = rows.num_rows
    breaks = np.zeros(max(n - 1, 0), dtype=bool)  # a stretch ends after row i
    if n > 1:
        breaks |= times[1:] < times[:-1]
        for column in keys.values():
            codes = _codes(column)
            breaks |= codes[1:] != codes[:-1]
    last = call.name == "last"
    ends = np.flatnonzero(breaks) if last else np.flatnonzero(breaks) + 1
    picked = np.append(ends, n - 1) if last else np.insert(ends, 0, 0)
    if not n:
        picked = np.array([], dtype=np.int64)
    candidates = pa.table({**{k: v.take(picked) for k, v in keys.items()},
                           "__value": rows.column(field).take(picked),
                           "__at": pa.array(times[picked], pa.int64())})
    # The latest (earliest) candidate of each group; on equal times the greater value, as
    # InfluxDB 1.x's first and last reducers pick. Groups are sorted by their codes.
    codes = {f"__s{j}": _codes(candidates.column(k)) for j, k in enumerate(keys)}
    ranked = pa.table({**codes, "__value": candidates.column("__value"),
                       "__at": candidates.column("__at")})
    order = [(k, "ascending") for k in codes]
    order += [("__at", "descending" if last else "ascending"), ("__value", "descending")]
    indices = pc.sort_indices(ranked, sort_keys=order).to_numpy()
    if codes:
        sorted_codes = [c[indices] for c in codes.values()]
        leads = np.ones(len(indices), dtype=bool)
        if len(indices) > 1:
            leads[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in sorted_codes])
        indices = indices[leads]
    else:
        indices = indices[:1]
    candidates = candidates.take(indices)
    out = {k: candidates.column(k) if k == "__time" else _text(candidates.column(k))
           for k in keys}
    out["__c0"] = candidates.column("__value")
    out["__p0"] = pa.array(np.ones(candidates.num_rows, dtype=np.int64))
    if projection.selector_time:
        out["__selected"] = candidates.column("__at").cast(pa.timestamp("ns"))
    result = pa.table(out)
    if not keys and not candidates.num_rows:  # SQL's aggregate without GROUP BY: one row
        return pa.table({"__c0": pa.nulls(1, rows.column(field).type), "__p0": pa.array([0]),
                         **({"__selected": pa.nulls(1, pa.timestamp("ns"))}
                            if projection.selector_time else {})})
    if keys and everything.num_rows > rows.num_rows:
        # Groups whose points all lack the field are rows of SQL's result too (count 0).
        every = _group_keys(everything, stmt, query, schema)
        counted = pa.table({**every, "__v": everything.column(field)}).group_by(
            list(every), use_threads=False).aggregate([("__v", "count")])
        empty = counted.filter(pc.equal(counted.column("__v_count"), 0))
        if empty.num_rows:
            extra = {k: empty.column(k) if k == "__time" else _text(empty.column(k))
                     for k in keys}
            extra["__c0"] = pa.nulls(empty.num_rows, result.schema.field("__c0").type)
            extra["__p0"] = pa.array(np.zeros(empty.num_rows, dtype=np.int64))
            if projection.selector_time:
                extra["__selected"] = pa.nulls(empty.num_rows, pa.timestamp("ns"))
            result = pa.concat_tables([result, pa.table(extra).cast(result.schema)])
    return result


def _codes(column) -> np.ndarray:
    """Integers equal exactly where the column's values are (nulls alike)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.indices
    elif not pa.types.is_integer(column.type):
        column = pc.dictionary_encode(column).indices if not pa.types.is_timestamp(
            column.type) else column.cast(pa.int64())
    return pc.fill_null(column, -1).to_numpy(zero_copy_only=False)


def _raw(stmt: ast.SelectStatement, projection: Projection, query: MeasurementQuery,
         database: str, schema: Schema, time_range: TimeRange, constraints: dict,
         scan: Scan) -> pa.Table | None:
    if not all(isinstance(c.expr, ast.VarRef) for c in projection.columns):
        return None
    refs = [c.expr for c in projection.columns]
    fields = [r.name for r in refs if is_field(schema, r)]
    tags = [r.name for r in refs if _is_tag(schema, r)]
    group = [t for t in query.tag_keys if schema.get(t) is ColumnType.TAG]
    series_key = [name for name, kind in schema.items() if kind is ColumnType.TAG]
    rows = scan(database, query.measurement, constraints, time_range.start, time_range.end,
                list(dict.fromkeys(["time", *group, *tags, *series_key, *fields])))
    present = None
    for name in dict.fromkeys(fields):
        valid = pc.is_valid(rows.column(name))
        present = valid if present is None else pc.or_(present, valid)
    rows = rows.filter(present)
    table = {"__time": rows.column("time"), **_tag_texts(rows, query.tag_keys, schema)}
    for i, ref in enumerate(refs):
        if is_field(schema, ref):
            table[f"__c{i}"] = rows.column(ref.name)
        elif _is_tag(schema, ref):
            table[f"__c{i}"] = rows.column(ref.name).cast(pa.string())
        else:
            table[f"__c{i}"] = pa.nulls(rows.num_rows)
    result = pa.table(table)
    order = [(f"__t{i}", "ascending") for i in range(len(query.tag_keys))]
    order.append(("__time", "descending" if stmt.descending else "ascending"))
    # Points at the same time in series-key order, as InfluxDB 1.x merges series.
    order += [(f"__k{i}", "ascending") for i in range(len(series_key))]
    for i, tag in enumerate(series_key):
        text = pc.fill_null(rows.column(tag).cast(pa.string()), "")
        result = result.append_column(f"__k{i}", text)
    result = result.take(pc.sort_indices(result, sort_keys=order)).select(
        [n for n in result.column_names if not n.startswith("__k")])
    if not query.tag_keys and (stmt.limit or stmt.offset):
        result = result.slice(stmt.offset or 0, stmt.limit or None)
    return result


def _tag_equalities(condition: ast.Expr | None, schema: Schema) -> dict | None:
    """The values each tag must have for the condition to hold, when that is all it says
    (None: it says more, or something else)."""
    if condition is None:
        return {}
    constraints: dict[str, frozenset] = {}
    for term in _conjuncts(condition):
        found = _tag_values(term, schema)
        if found is None:
            return None
        tag, values = found
        constraints[tag] = constraints[tag] & values if tag in constraints else values
    return constraints


def _conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    while isinstance(expr, ast.Paren):
        expr = expr.expr
    if isinstance(expr, ast.BinaryExpr) and expr.op == "AND":
        return [*_conjuncts(expr.lhs), *_conjuncts(expr.rhs)]
    return [expr]


def _tag_values(expr: ast.Expr, schema: Schema) -> tuple[str, frozenset] | None:
    while isinstance(expr, ast.Paren):
        expr = expr.expr
    if not isinstance(expr, ast.BinaryExpr):
        return None
    if expr.op == "OR":
        left, right = _tag_values(expr.lhs, schema), _tag_values(expr.rhs, schema)
        if left is None or right is None or left[0] != right[0]:
            return None
        return left[0], left[1] | right[1]
    if (expr.op == "=~" and isinstance(expr.lhs, ast.VarRef) and _is_tag(schema, expr.lhs)
            and isinstance(expr.rhs, ast.RegexLiteral)):
        values = _literal_alternatives(expr.rhs.pattern)  # Grafana's /^(a|b)$/ variables
        return None if values is None else (expr.lhs.name, values)
    if expr.op != "=":
        return None
    tag, value = expr.lhs, expr.rhs
    if isinstance(tag, ast.StringLiteral):
        tag, value = value, tag
    # `tag = ''` means "has no such tag": SQL handles it.
    if (isinstance(tag, ast.VarRef) and _is_tag(schema, tag)
            and isinstance(value, ast.StringLiteral) and value.value):
        return tag.name, frozenset([value.value])
    return None


def _tag_texts(rows: pa.Table, tag_keys: list[str], schema: Schema) -> dict[str, pa.Array]:
    """GROUP BY tags as SQL gives them: text, '' where a point lacks the tag."""
    texts = {}
    for i, tag in enumerate(tag_keys):
        if schema.get(tag) is ColumnType.TAG:
            texts[f"__t{i}"] = pc.fill_null(rows.column(tag).cast(pa.string()), "")
        else:
            texts[f"__t{i}"] = pa.array([""] * rows.num_rows, pa.string())
    return texts


def _literal_alternatives(pattern: str) -> frozenset | None:
    """The strings an anchored alternation of literals (`^a$`, `^(a|b\\.c)$`) matches
    exactly; None for any other regex."""
    match = re.fullmatch(r"\^(?:\((.*)\)|(.*))\$", pattern)
    if match is None:
        return None
    body = match.group(1) if match.group(1) is not None else match.group(2)
    values = set()
    for part in body.split("|"):
        text = re.sub(r"\\([^A-Za-z0-9])", r"\1", part)  # Grafana escapes punctuation
        if not text or re.search(r"[\\^$.|?*+()\[\]{}]", re.sub(r"\\[^A-Za-z0-9]", "", part)):
            return None
        values.add(text)
    return frozenset(values)


def _group_keys(rows: pa.Table, stmt: ast.SelectStatement, query: MeasurementQuery,
                schema: Schema) -> dict[str, pa.ChunkedArray | pa.Array]:
    """The GROUP BY columns as SQL names them (`__time`, `__t<i>`): tags as stored, since
    dictionary codes hash faster than text (turned to text per group, after)."""
    keys = {f"__t{i}": _unified(rows.column(t)) if schema.get(t) is ColumnType.TAG
            else pa.array([""] * rows.num_rows, pa.string())
            for i, t in enumerate(query.tag_keys)}
    if stmt.group_by_time is not None:
        keys = {"__time": _buckets(rows.column("time"), stmt.group_by_time), **keys}
    return keys


def _unified(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.unify_dictionaries() if pa.types.is_dictionary(column.type) else column


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A tag as SQL's `coalesce(CAST(tag AS VARCHAR), '')`."""
    if pa.types.is_string(column.type):
        return column
    return pc.fill_null(column.cast(pa.string()), "")


def _buckets(times: pa.ChunkedArray, group_by: ast.GroupByTime) -> pa.Array:
    """The start of each point's GROUP BY time() bucket (SQL's date_bin)."""
    t = times.cast(pa.int64()).to_numpy()
    start = t - np.mod(t - group_by.offset_ns, group_by.interval_ns)
    return pa.array(start, pa.timestamp("ns"))


def _scalar(values: pa.ChunkedArray, function: str):
    if function == "count":
        return pc.count(values).as_py()
    if function in ("min", "max"):
        return pc.min_max(values)[function].as_py()
    return getattr(pc, function)(values).as_py()


def _is_tag(schema: Schema, ref: ast.VarRef) -> bool:
    return schema.get(ref.name) is ColumnType.TAG and ref.type != "field"
