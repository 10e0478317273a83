"""Running InfluxQL text: parse, answer each statement, collect per-statement results."""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from typing import Protocol

import orjson
import pyarrow as pa

from timewell.catalog import Catalog, DatabaseNotFound
from timewell.catalog.model import ColumnType
from timewell.errors import TimedOut, TimewellError
from timewell.lineprotocol.builder import LineBuilder
from timewell.query.control import QueryCancelled, QueryControl
from timewell.query.engine import QueryEngine
from timewell.query.influxql import ast
from timewell.query.influxql.parser import Unsupported, parse
from timewell.query.influxql.results import Series, StatementResult
from timewell.query.influxql.select import Source, run_select
from timewell.query.influxql.show import Shows, check_database
from timewell.query.influxql.subquery import has_subquery, run_subquery
from timewell.query.influxql.timerange import InfluxQLError


class Management(Protocol):
    """What v1 management statements change (`CREATE DATABASE`, `DROP MEASUREMENT`, ...):
    the node's own operations, called from the worker thread running the statement."""

    def create_database(self, name: str, retention_ns: int | None) -> None: ...

    def drop_database(self, name: str) -> None: ...

    def drop_table(self, database: str, table: str) -> None: ...

    def write(self, database: str, lines: str) -> None:
        """Line protocol (nanosecond times) through the normal write path."""

    def diagnostics(self) -> list[Module]:
        """SHOW DIAGNOSTICS: facts about the server, per module."""

    def stats(self) -> list[Module]:
        """SHOW STATS: counters since the start, per module."""


Module = tuple[str, dict[str, str], dict[str, object]]
"""A SHOW DIAGNOSTICS / SHOW STATS module: its name, tags and columns' values."""


class InfluxQLEngine:
    """InfluxQL over the node's catalog and SQL engine."""

    def __init__(self, catalog: Catalog, query: QueryEngine,
                 manage: Management | None = None) -> None:
        self._catalog = catalog
        self._query = query
        self._manage = manage

    def execute(self, text: str, database: str | None = None, params: dict | None = None,
                retention_policy: str | None = None,
                control: QueryControl | None = None) -> list[StatementResult]:
        """Every statement's result; InfluxQLSyntaxError (before anything runs) for bad text.

        A failing statement carries its error, and the statements after it are not run, as in
        InfluxDB 1.x. Blocking: call it from a worker thread."""
        statements = _parsed(text, orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
                             if params else None)
        now_ns = time.time_ns()
        control = control or self._query.control()
        record = self._query.log.start("influxql", text, database or "", control)
        results: list[StatementResult] = []
        for statement_id, statement in enumerate(statements):
            try:
                series = self._statement(statement, database, retention_policy, now_ns,
                                         control)
            except DatabaseNotFound as e:
                results.append(StatementResult(statement_id, error=_not_found(e, database)))
                break
            except (TimedOut, QueryCancelled):
                self._query.log.finish(record, success=False)
                raise  # the whole request stops: 408, or nobody is waiting
            except (InfluxQLError, TimewellError, re.error) as e:
                results.append(StatementResult(statement_id, error=str(e)))
                break
            results.append(StatementResult(statement_id, series))
        self._query.log.finish(record, success=all(r.error is None for r in results))
        return results

    def _statement(self, statement, database: str | None, rp: str | None, now_ns: int,
                   control: QueryControl) -> list[Series]:
        def run_sql(database: str, sql: str) -> pa.Table:
            return self._query.sql(database, sql, log_as=None, control=control)

        def scan(*args) -> pa.Table:
            return self._query.scan(*args, control=control)

        shows = Shows(self._catalog, run_sql, self._query.series, now_ns)
        if isinstance(statement, Unsupported):
            if statement.name in ("DELETE", "DROP SERIES"):
                raise InfluxQLError(
                    f"the InfluxQL statement {statement.name} is not supported: timewell "
                    "deletes whole measurements (DROP MEASUREMENT) and databases (DROP "
                    "DATABASE), and a retention period (CREATE DATABASE ... WITH DURATION, or "
                    "CREATE RETENTION POLICY) removes data older than it")
            raise InfluxQLError(f"the InfluxQL statement {statement.name} is not supported")
        if isinstance(statement, ast.ShowDatabases):
            return shows.databases()
        if isinstance(statement, ast.SelectStatement):
            select = dataclasses.replace(statement, into=None,
                                         group_by_time=_group_by_time(statement, now_ns))
            if statement.into is not None and statement.fill.kind == "null":
                select.fill = ast.Fill("none")  # INTO writes no point for an empty bucket
            if has_subquery(select):
                series = run_subquery(
                    select, now_ns,
                    lambda inner: self._statement(inner, database, rp, now_ns, control),
                    lambda inner: self._tag_names(inner, database, rp))
            else:
                series = run_select(select,
                                    self._sources(statement.sources, database, rp),
                                    run_sql, now_ns, scan)
            if statement.into is None:
                for s in series:
                    s.location = statement.location
                return series
            return self._write_into(statement.into, series, database, rp)
        if isinstance(statement, ast.ShowUsers):
            return [Series(None, {}, ["user", "admin"], [])]  # tokens, not users, here
        if isinstance(statement, ast.ShowDiagnostics | ast.ShowStats):
            return self._modules(statement)
        if isinstance(statement, MANAGEMENT):
            return self._manage_statement(statement, database, rp)
        target = v1_database(check_database(statement.database or database), rp)
        if isinstance(statement, ast.ShowSeries):
            return shows.series(statement, target)
        if isinstance(statement, ast.ShowCardinality):
            return shows.cardinality(statement, target)
        if isinstance(statement, ast.ShowRetentionPolicies):
            return shows.retention_policies(check_database(statement.database or database))
        if isinstance(statement, ast.ShowMeasurements):
            return shows.measurements(statement, target)
        if isinstance(statement, ast.ShowTagKeys):
            return shows.tag_keys(statement, target)
        if isinstance(statement, ast.ShowTagValues):
            return shows.tag_values(statement, target)
        if isinstance(statement, ast.ShowFieldKeys):
            return shows.field_keys(statement, target)
        raise InfluxQLError(f"unsupported statement {type(statement).__name__}")

    def _write_into(self, into: ast.Measurement, series: list[Series], database: str | None,
                    rp: str | None) -> list[Series]:
        """SELECT ... INTO: the result's points written as points (GROUP BY tags stay tags,
        the columns become fields, empty values are left out); the answer is how many."""
        if self._manage is None:
            raise InfluxQLError("SELECT ... INTO is not available here")
        target = v1_database(check_database(into.database or database),
                             into.retention_policy or (None if into.database else rp))
        if target not in {db.name for db in self._catalog.live_databases()}:
            raise InfluxQLError(f"database not found: {into.database or database}")
        lines, written = [], 0
        for s in series:
            for row in s.values:
                line = LineBuilder(into.name or s.name or "")
                for key, value in sorted(s.tags.items()):
                    if value:
                        line.tag(key, value)
                fields = 0
                for name, value in zip(s.columns[1:], row[1:], strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bool):
                        line.bool_field(name, value)
                    elif isinstance(value, int):
                        line.int64_field(name, value)
                    elif isinstance(value, float):
                        line.float64_field(name, value)
                    else:
                        line.string_field(name, str(value))
                    fields += 1
                if fields:
                    lines.append(line.time_ns(row[0]).build())
                    written += 1
        if lines:
            self._manage.write(target, "\n".join(lines))
        return [Series("result", {}, ["time", "written"], [[0, written]])]

    def _modules(self, statement: ast.ShowDiagnostics | ast.ShowStats) -> list[Series]:
        if self._manage is None:
            raise InfluxQLError(f"{type(statement).__name__} is not available here")
        modules = (self._manage.diagnostics() if isinstance(statement, ast.ShowDiagnostics)
                   else self._manage.stats())
        return [Series(name, tags, sorted(values), [[values[c] for c in sorted(values)]],
                       grouped=bool(tags))
                for name, tags, values in modules
                if statement.module is None or name == statement.module]

    def _manage_statement(self, statement, database: str | None,
                          rp: str | None) -> list[Series]:
        """As 1.x: creating what exists and dropping what does not are no-ops."""
        if self._manage is None:
            raise InfluxQLError(f"{type(statement).__name__} is not available here")
        names = {db.name for db in self._catalog.live_databases()}
        if isinstance(statement, ast.CreateDatabase):
            if statement.name not in names:
                self._manage.create_database(statement.name, statement.duration_ns)
        elif isinstance(statement, ast.CreateRetentionPolicy):
            if statement.database not in names:
                raise InfluxQLError(f"database not found: {statement.database}")
            target = v1_database(statement.database, statement.name)
            if target not in names:
                self._manage.create_database(target, statement.duration_ns)
        elif isinstance(statement, ast.DropDatabase):
            # With its retention policies, which are databases of their own here.
            for name in sorted(names):
                if name == statement.name or name.startswith(statement.name + "/"):
                    self._manage.drop_database(name)
        elif isinstance(statement, ast.DropMeasurement):
            target = v1_database(check_database(database), rp)
            with self._catalog.lock:
                tables = self._catalog.database(target).live_tables()
            if statement.name in tables:
                self._manage.drop_table(target, statement.name)
        return []

    def _tag_names(self, statement: ast.SelectStatement, database: str | None,
                   rp: str | None) -> set[str]:
        measurements = [m for m in statement.sources if isinstance(m, ast.Measurement)]
        return {name for source in self._sources(measurements, database, rp)
                for name, kind in source.schema.items() if kind is ColumnType.TAG}

    def _sources(self, measurements: list[ast.Measurement], database: str | None,
                 rp: str | None) -> list[Source]:
        sources: dict[tuple[str, str], Source] = {}
        for m in measurements:
            name = v1_database(check_database(m.database or database),
                               m.retention_policy or rp)
            with self._catalog.lock:
                tables = {t: dict(table.columns)
                          for t, table in self._catalog.database(name).live_tables().items()}
            if m.regex is not None:
                regex = re.compile(m.regex)
                matched = sorted(t for t in tables if regex.search(t))
            else:
                matched = [m.name] if m.name in tables else []
            for table in matched:
                sources.setdefault((name, table), Source(name, table, tables[table]))
        return list(sources.values())


@functools.lru_cache(maxsize=512)
def _parsed(text: str, params: bytes | None) -> list[ast.Statement | Unsupported]:
    """`text` parsed, once per text and parameters: dashboards send the same statements
    again and again (`now()` is resolved when a statement runs, not here). The statements
    are shared between requests, so nothing may change them: copy with dataclasses.replace."""
    return parse(text, orjson.loads(params) if params else None)


MANAGEMENT = (ast.CreateDatabase, ast.CreateRetentionPolicy, ast.DropDatabase,
              ast.DropMeasurement)


def _group_by_time(statement: ast.SelectStatement, now_ns: int) -> ast.GroupByTime | None:
    """GROUP BY time()'s offset where it is known only when the statement runs."""
    group_by = statement.group_by_time
    if group_by is None:
        return None
    if group_by.invalid is not None:
        raise InfluxQLError(group_by.invalid)
    if group_by.now:
        # 1.x's offset is now() less now() truncated by the interval, which Go counts from
        # the zero time (year 1), not from 1970: for intervals that do not divide a day the
        # buckets do not end exactly at now().
        since_year_one = now_ns + _YEAR_ONE_NS
        return ast.GroupByTime(group_by.interval_ns, since_year_one % group_by.interval_ns)
    return group_by


_YEAR_ONE_NS = 62_135_596_800 * 1_000_000_000  # 0001-01-01 to 1970-01-01


def v1_database(db: str, rp: str | None) -> str:
    """InfluxDB 3 names a v1 database with a real retention policy `db/rp`."""
    if rp in (None, "", "autogen", "default"):
        return db
    return f"{db}/{rp}"


def _not_found(error: DatabaseNotFound, database: str | None) -> str:
    message = str(error)
    name = message.split(":", 1)[1].strip().strip("'") if ":" in message else database
    return f"database not found: {name}"
