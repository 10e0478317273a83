"""SHOW statements, answered from the catalog (and, for WHERE clauses, from the data)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from timewell.catalog import Catalog, DatabaseNotFound
from timewell.catalog.model import ColumnType, Database
from timewell.query.influxql import ast
from timewell.query.influxql.results import Series, limited
from timewell.query.influxql.select import RunSql
from timewell.query.influxql.timerange import InfluxQLError, split_condition
from timewell.query.influxql.translate import Schema, condition_sql, ident, timestamp

FIELD_TYPES = {ColumnType.FLOAT: "float", ColumnType.INTEGER: "integer",
               ColumnType.UINTEGER: "unsigned", ColumnType.STRING: "string",
               ColumnType.BOOLEAN: "boolean"}


def shard_group_duration(retention_ns: int | None) -> str:
    """What 1.x shows as a policy's shard group duration for its retention (informational:
    timewell's files span --gen1-duration)."""
    hour = 3600 * 1_000_000_000
    if retention_ns and retention_ns < 48 * hour:
        return "1h0m0s"
    if retention_ns and retention_ns < 180 * 24 * hour:
        return "24h0m0s"
    return "168h0m0s"


SeriesOf = Callable[[str, str], pa.Table]
"""(database, table) -> the table's distinct tag sets, tags as strings."""


class Shows:
    def __init__(self, catalog: Catalog, run_sql: RunSql, series_of: SeriesOf,
                 now_ns: int) -> None:
        self._catalog = catalog
        self._run_sql = run_sql
        self._series_of = series_of
        self._now_ns = now_ns

    def databases(self) -> list[Series]:
        names = sorted(db.name for db in self._catalog.live_databases() if "/" not in db.name)
        return [Series("databases", {}, ["name"], [[n] for n in names])]

    def retention_policies(self, database: str) -> list[Series]:
        db = self._catalog.database(database)
        rows = [["autogen", go_duration(db.retention_period_ns or 0),
                 shard_group_duration(db.retention_period_ns), 1, True]]
        prefix = database + "/"
        for other in sorted(self._catalog.live_databases(), key=lambda d: d.name):
            if other.name.startswith(prefix):
                rows.append([other.name[len(prefix):],
                             go_duration(other.retention_period_ns or 0),
                             shard_group_duration(other.retention_period_ns), 1, False])
        return [Series(None, {}, ["name", "duration", "shardGroupDuration", "replicaN",
                                  "default"], rows)]

    def measurements(self, stmt: ast.ShowMeasurements, database: str) -> list[Series]:
        try:
            schemas = self._schemas(database, [])
        except DatabaseNotFound:
            return []  # as 1.x answers
        names = [n for n in schemas if _name_matches(n, stmt.name_op, stmt.name)]
        if stmt.condition is not None:
            names = [n for n in names if self._has_rows(database, n, schemas[n], stmt.condition)]
        names = limited(sorted(names), stmt.limit, stmt.offset)
        return [Series("measurements", {}, ["name"], [[n] for n in names])] if names else []

    def tag_keys(self, stmt: ast.ShowTagKeys, database: str) -> list[Series]:
        result = []
        for name, schema in sorted(self._schemas(database, stmt.sources).items()):
            keys = sorted(k for k, kind in schema.items() if kind is ColumnType.TAG)
            if stmt.condition is not None and keys:
                keys = self._tags_with_values(database, name, schema, keys, stmt.condition)
            keys = limited(keys, stmt.limit, stmt.offset)
            if keys:
                result.append(Series(name, {}, ["tagKey"], [[k] for k in keys]))
        return result

    def tag_values(self, stmt: ast.ShowTagValues, database: str) -> list[Series]:
        result = []
        for name, schema in sorted(self._schemas(database, stmt.sources).items()):
            keys = sorted(k for k, kind in schema.items()
                          if kind is ColumnType.TAG and _key_matches(k, stmt.key_op, stmt.keys))
            rows = []
            if stmt.condition is None and keys:
                # From the series catalog: no data is scanned.
                series = self._series_of(database, name)
                for key in keys:
                    if key in series.column_names:
                        values = pc.unique(series.column(key).drop_null()).to_pylist()
                        rows += [[key, v] for v in sorted(values)]
                keys = []
            for key in keys:
                where = [f"{ident(key)} IS NOT NULL"]
                if stmt.condition is not None:
                    where += self._where(schema, stmt.condition)
                sql = (f"SELECT DISTINCT CAST({ident(key)} AS VARCHAR) AS v FROM {ident(name)} "
                       f"WHERE {' AND '.join(where)}")
                values = self._run_sql(database, sql).column("v").to_pylist()
                rows += [[key, v] for v in sorted(values)]
            rows = limited(rows, stmt.limit, stmt.offset)
            if rows:
                result.append(Series(name, {}, ["key", "value"], rows))
        return result

    def field_keys(self, stmt: ast.ShowFieldKeys, database: str) -> list[Series]:
        result = []
        for name, schema in sorted(self._schemas(database, stmt.sources).items()):
            rows = [[k, FIELD_TYPES[kind]] for k, kind in sorted(schema.items())
                    if kind in FIELD_TYPES]
            rows = limited(rows, stmt.limit, stmt.offset)
            if rows:
                result.append(Series(name, {}, ["fieldKey", "fieldType"], rows))
        return result

    def series(self, stmt: ast.ShowSeries, database: str) -> list[Series]:
        """Series keys (`cpu,host=a,region=x`, tags sorted by key) across the measurements."""
        keys = []
        for name, schema in sorted(self._schemas(database, stmt.sources).items()):
            keys += [_series_key(name, tags) for tags in self._tag_sets(database, name, schema,
                                                                        stmt.condition)]
        keys = limited(sorted(keys), stmt.limit, stmt.offset)
        return [Series(None, {}, ["key"], [[k] for k in keys])] if keys else []

    def cardinality(self, stmt: ast.ShowCardinality, database: str) -> list[Series]:
        """Exact counts (1.x estimates the non-EXACT forms; we count in both)."""
        try:
            schemas = self._schemas(database, stmt.sources)
        except DatabaseNotFound:
            return []
        if stmt.of == "measurement":
            column = "count" if stmt.exact else "cardinality estimation"
            return [Series(None, {}, [column], [[len(schemas)]])] if schemas else []
        if stmt.of == "series" and not stmt.exact and not stmt.sources:
            total = sum(len(self._tag_sets(database, name, schema, None))
                        for name, schema in schemas.items())
            return [Series(None, {}, ["cardinality estimation"], [[total]])] if total else []
        result = []
        for name, schema in sorted(schemas.items()):
            if stmt.of == "series":
                count = len(self._tag_sets(database, name, schema, None))
            else:
                assert stmt.keys is not None
                series = self._series_of(database, name)
                count = sum(len(pc.unique(series.column(k).drop_null()))
                            for k in sorted(schema) if schema[k] is ColumnType.TAG
                            and _key_matches(k, stmt.keys.key_op, stmt.keys.keys)
                            and k in series.column_names)
            if count:
                result.append(Series(name, {}, ["count"], [[count]]))
        return result

    # -- helpers

    def _tag_sets(self, database: str, name: str, schema: Schema,
                  condition: ast.Expr | None) -> list[dict]:
        """The measurement's distinct tag sets (absent tags left out), from the series
        catalog, or from the data where a WHERE clause narrows them."""
        tags = sorted(k for k, kind in schema.items() if kind is ColumnType.TAG)
        if not tags:  # one series, if it has any point
            return [{}] if self._has_rows(database, name, schema, condition) else []
        if condition is None:
            rows = self._series_of(database, name).to_pylist()
        else:
            texts = ", ".join(f"CAST({ident(t)} AS VARCHAR) AS {ident(t)}" for t in tags)
            where = " AND ".join(self._where(schema, condition))
            rows = self._run_sql(database, f"SELECT DISTINCT {texts} FROM {ident(name)}"
                                           f"{' WHERE ' + where if where else ''}").to_pylist()
        return [{k: v for k, v in row.items() if v is not None} for row in rows]

    def _schemas(self, database: str, sources: list[ast.Measurement]) -> dict[str, Schema]:
        with self._catalog.lock:
            db: Database = self._catalog.database(database)
            tables = {name: dict(t.columns) for name, t in db.live_tables().items()}
        if not sources:
            return tables
        return {name: schema for name, schema in tables.items()
                if any(measurement_matches(m, name) for m in sources)}

    def _where(self, schema: Schema, condition: ast.Expr) -> list[str]:
        time_range, rest = split_condition(condition, self._now_ns)
        terms = []
        if time_range.start is not None:
            terms.append(f"time >= {timestamp(time_range.start)}")
        if time_range.end is not None:
            terms.append(f"time <= {timestamp(time_range.end)}")
        if rest is not None:
            terms.append(condition_sql(rest, schema))
        return terms

    def _has_rows(self, database: str, name: str, schema: Schema,
                  condition: ast.Expr | None) -> bool:
        where = self._where(schema, condition) if condition is not None else []
        sql = f"SELECT 1 AS one FROM {ident(name)}"
        if where:
            sql += f" WHERE {' AND '.join(where)}"
        return self._run_sql(database, sql + " LIMIT 1").num_rows > 0

    def _tags_with_values(self, database: str, name: str, schema: Schema, keys: list[str],
                          condition: ast.Expr) -> list[str]:
        counts = ", ".join(f"count({ident(k)}) AS c{i}" for i, k in enumerate(keys))
        where = self._where(schema, condition)
        sql = f"SELECT {counts} FROM {ident(name)}"
        if where:
            sql += f" WHERE {' AND '.join(where)}"
        row = self._run_sql(database, sql).to_pylist()[0]
        return [k for i, k in enumerate(keys) if row[f"c{i}"]]


def _series_key(measurement: str, tags: dict) -> str:
    """A series key as 1.x prints it: commas, spaces and equals signs escaped."""
    def escape(text: str, equals: bool = True) -> str:
        text = text.replace(",", "\\,").replace(" ", "\\ ")
        return text.replace("=", "\\=") if equals else text

    parts = [escape(measurement, equals=False)]
    parts += [f"{escape(k)}={escape(v)}" for k, v in sorted(tags.items())]
    return ",".join(parts)


def measurement_matches(source: ast.Measurement, name: str) -> bool:
    if source.regex is not None:
        return re.search(source.regex, name) is not None
    return source.name == name


def _name_matches(name: str, op: str | None, value: str | None) -> bool:
    if op is None or value is None:
        return True
    if op == "=":
        return name == value
    if op == "!=":
        return name != value
    found = re.search(value, name) is not None
    return found if op == "=~" else not found


def _key_matches(key: str, op: str, keys: list[str]) -> bool:
    if op == "IN":
        return key in keys
    return _name_matches(key, op, keys[0])


def go_duration(ns: int) -> str:
    """A duration as Go's time.Duration prints it: `0s`, `168h0m0s`, `1h30m0s`, `1.5s`."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _decimal(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _decimal(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{str(fraction).zfill(digits).rstrip('0')}"


def check_database(database: str | None) -> str:
    if not database:
        raise InfluxQLError("database name required")
    return database
