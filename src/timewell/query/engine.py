"""SQL over a database's tables with Apache DataFusion.

Each query runs in a DataFusion session (pooled per database) whose default schema
(`public.iox`) resolves the database's tables lazily from the stored data, beside the `system`
and our own `information_schema` schemas.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn

import pyarrow as pa
from datafusion import Expr, RuntimeEnvBuilder, SessionConfig, SessionContext, udtf
from datafusion.catalog import Table

from timewell.catalog import Catalog, DatabaseNotFound
from timewell.errors import InvalidRequest, LimitExceeded, NotFound, TimewellError
from timewell.query import schema_info
from timewell.query.control import QueryControl, no_limit
from timewell.query.log import QueryLog
from timewell.query.table_scan import MergedZones
from timewell.query.tables import (
    DatabaseSchema,
    FixedSchema,
    QueryState,
    guarded,
    stored_dataset,
)
from timewell.storage.data import StoredData
from timewell.storage.series_index import Constraints

SystemTable = Callable[[str], pa.Table]
"""Builds a system table's contents for the queried database."""

TableFunction = Callable[[str, list], Table]
"""Serves `name(args...)` in FROM: called with the queried database and the literal arguments
(Python values); returns a DataFusion table."""


class QueryError(InvalidRequest):
    """DataFusion refused or failed the query; the message is DataFusion's."""


class QueryOutOfMemory(LimitExceeded):
    def __init__(self, message: str, limit: int | None) -> None:
        super().__init__(f"the query needs more memory than its pool of {limit} bytes "
                         f"(--exec-mem-pool-bytes) even after spilling to disk: narrow it, "
                         f"or raise the limit ({message})")


class ResultTooLarge(LimitExceeded):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the query result is {size} bytes, more than the limit of {limit} "
                         "bytes: add a LIMIT or a narrower WHERE, or raise "
                         "--max-query-result-bytes")


_IDLE_SESSIONS_PER_DATABASE = 8

INTERNAL_DATABASE = "_internal"
"""Always there for queries of the `system` tables (`system.tokens`, ...); holds no tables."""


_SHOW_TABLES = re.compile(r"^\s*show\s+tables\s*;?\s*$", re.IGNORECASE)
_SHOW_COLUMNS = re.compile(
    r"^\s*show\s+(?:full\s+)?columns\s+(?:from|in)\s+(?:'([^']+)'|\"([^\"]+)\"|([\w.]+))\s*;?\s*$",
    re.IGNORECASE,
)


class QueryEngine:
    SCHEMAS = ("iox", "system", "information_schema")
    """The schemas of catalog `public`: the database's tables, the system tables, the views."""

    def __init__(self, catalog: Catalog, data: StoredData, query_log: QueryLog) -> None:
        self._catalog = catalog
        self._data = data
        self.log = query_log
        self._system_tables: dict[str, SystemTable] = {}
        self._table_functions: dict[str, TableFunction] = {}
        self.max_result_bytes: int | None = None
        self.timeout_s: float | None = None  # --query-timeout
        self.memory_pool_bytes: int | None = None  # --exec-mem-pool-bytes, per query
        self._pool_lock = threading.Lock()
        self._merged_zones = MergedZones()  # overlapping sources, merged, between queries
        self._idle: dict[str, list[tuple[SessionContext, QueryState]]] = {}
        self._shortcuts: list[Callable[[str, str], pa.Table | None]] = []

    def add_system_table(self, name: str, build: SystemTable) -> None:
        self._system_tables[name] = build
        self._idle.clear()

    def add_shortcut(self, answer: Callable[[str, str], pa.Table | None]) -> None:
        """`answer(database, query)` is tried before DataFusion: a table for the queries it
        answers itself, exactly as the SQL would (the last value cache's lookups), else None."""
        self._shortcuts.append(answer)

    def add_table_function(self, name: str, function: TableFunction) -> None:
        self._table_functions[name] = function
        self._idle.clear()

    def sql(self, database: str, query: str, params: dict | None = None, *,
            log_as: str | None = "sql", log_text: str | None = None,
            control: QueryControl | None = None) -> pa.Table:
        """Run `query` against `database`; DatabaseNotFound or QueryError on failure.

        `log_as` is the query type `system.queries` records (with `log_text`, default the
        query); None for SQL run on behalf of a query logged already (InfluxQL). Blocking
        (DataFusion runs it on its own threads): call it from a worker thread."""
        if database != INTERNAL_DATABASE:
            self._catalog.database(database)
        control = control or self.control()
        if log_as is None:
            return self._execute(database, _rewrite_show(query), params, control)
        record = self.log.start(log_as, log_text or query, database, control)
        try:
            result = self._execute(database, _rewrite_show(query), params, control)
        except Exception:
            self.log.finish(record, success=False)
            raise
        self.log.finish(record, success=True)
        return result

    def control(self, timeout_s: float | None = None) -> QueryControl:
        """A query's control: `timeout_s` (the --query-timeout when None or above it)."""
        limit = self.timeout_s
        if timeout_s is None or (limit is not None and timeout_s > limit):
            timeout_s = limit
        return QueryControl(timeout_s)

    def scan(self, database: str, table: str, constraints: Constraints, low: int | None,
             high: int | None, columns: list[str],
             control: QueryControl | None = None) -> pa.Table:
        """A table's rows of the series `constraints` allows within [low, high] (inclusive),
        one per point, as `columns` — the rows a SQL scan with that filter reads, for callers
        that compute the rest themselves (InfluxQL's simple statements). Blocking."""
        with self._data.lease() as lease:
            dataset = stored_dataset(self._catalog, self._data, lease, database, table,
                                     self._merged_zones, (control or self.control()).check)
            if dataset is None:
                raise QueryError(f"table '{table}' not found in database '{database}'")
            return dataset.narrowed(constraints, low, high, columns)

    def series(self, database: str, table: str) -> pa.Table:
        """The distinct tag sets stored for a live table, tags as strings (null: absent).
        Blocking: call it from a worker thread."""
        self._catalog.table(database, table)
        return self._data.series(database, table)

    def _execute(self, database: str, query: str, params: dict | None,
                 control: QueryControl) -> pa.Table:
        control.check()
        if not params:
            for answer in self._shortcuts:
                table = answer(database, query)
                if table is not None:
                    return table
        ctx, state = self._checkout(database)
        state.control = control
        state.lease = self._data.lease()  # keeps the files it reads on the store until done
        try:
            frame = ctx.sql(query, param_values=params) if params else ctx.sql(query)
            table = frame.to_arrow_table()
        except BaseException as e:
            self._raise_failure(e, state)
        finally:
            self._checkin(database, ctx, state)
        if self.max_result_bytes is not None and table.nbytes > self.max_result_bytes:
            raise ResultTooLarge(table.nbytes, self.max_result_bytes)
        return table

    def stream(self, database: str, query: str, params: dict | None = None, *,
               control: QueryControl | None = None, log_as: str = "sql",
               log_text: str | None = None
               ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Run `query` for an answer sent batch by batch: its schema, and its batches as
        DataFusion computes them (no --max-query-result-bytes: nothing is held whole). The
        session and the files stay taken until the batches are read or the iterator closed.
        Errors of planning and of the first batch are raised here. Blocking."""
        if database != INTERNAL_DATABASE:
            self._catalog.database(database)
        control = control or self.control()
        control.check()
        record = self.log.start(log_as, log_text or query, database, control)
        ctx, state = self._checkout(database)
        state.control = control
        state.lease = self._data.lease()
        try:
            frame = ctx.sql(_rewrite_show(query), param_values=params) if params else ctx.sql(
                _rewrite_show(query))
            schema = frame.schema()
            batches = iter(frame.execute_stream())
            first = next(batches, None)
        except BaseException as e:
            self._checkin(database, ctx, state)
            self.log.finish(record, success=False)
            self._raise_failure(e, state)

        def rest() -> Iterator[pa.RecordBatch]:
            success = False
            try:
                if first is not None:
                    yield first.to_pyarrow()
                for batch in batches:
                    control.check()
                    yield batch.to_pyarrow()
                success = True
            except Exception as e:
                self._raise_failure(e, state)
            finally:
                self._checkin(database, ctx, state)
                self.log.finish(record, success=success)

        return schema, rest()

    def plan_schema(self, database: str, query: str, params: dict | None = None) -> pa.Schema:
        """The schema of `query`'s answer, planned but not run (Flight SQL statements,
        prepared statements and GetSchema); placeholders may stay unbound. Blocking."""
        if database != INTERNAL_DATABASE:
            self._catalog.database(database)
        ctx, state = self._checkout(database)
        state.lease = self._data.lease()  # planning opens the tables it names
        try:
            if params:
                return ctx.sql(_rewrite_show(query), param_values=params).schema()
            return ctx.sql(_rewrite_show(query)).schema()
        except BaseException as e:
            self._raise_failure(e, state)
        finally:
            self._checkin(database, ctx, state)

    def table_schemas(self, database: str) -> dict[str, dict[str, pa.Schema]]:
        """Every table a query of `database` can name, by schema (`SCHEMAS`) and name, with
        its Arrow schema. Blocking (the system tables are built for their schemas)."""
        if database != INTERNAL_DATABASE:
            self._catalog.database(database)
        return {**self._schemas(database), "information_schema": schema_info.view_schemas()}

    def _raise_failure(self, error: BaseException, state: QueryState) -> NoReturn:
        failure = self._failure(error, state)
        if failure is error:
            raise error
        raise failure from error

    def _failure(self, error: BaseException, state: QueryState) -> BaseException:
        """The error to raise for a failed query. Our callbacks (tables, table functions)
        raise errors DataFusion wraps in its own text; they are kept in the query's state so
        the user gets the original error and status."""
        if isinstance(error, TimewellError):
            return error
        if isinstance(error, Exception):  # DataFusion's, with a useful message
            if state.errors:
                return state.errors[0]
            message = _clean_message(error)
            if "Resources exhausted" in message or "Not enough memory" in message:
                return QueryOutOfMemory(message, self.memory_pool_bytes)
            return QueryError(message)
        if type(error).__name__ == "PanicException":  # a Rust panic, as pyo3 raises it
            return RuntimeError(f"the query engine failed internally: {error}")
        return error

    def _checkout(self, database: str) -> tuple[SessionContext, QueryState]:
        """An idle session of `database`, or a new one. Sessions are reused because a fresh
        DataFusion context costs more than planning a small query; each runs one query at a
        time, so its tables can read that query's state."""
        with self._pool_lock:
            idle = self._idle.get(database)
            if idle:
                return idle.pop()
        state = QueryState()
        return self._session(database, state), state

    def _checkin(self, database: str, ctx: SessionContext, state: QueryState) -> None:
        if state.lease is not None:
            state.lease.release()
        state.lease = None
        state.errors.clear()
        state.control = no_limit()
        with self._pool_lock:
            idle = self._idle.setdefault(database, [])
            if len(idle) < _IDLE_SESSIONS_PER_DATABASE:
                idle.append((ctx, state))

    def _session(self, database: str, state: QueryState) -> SessionContext:
        config = (SessionConfig()
                  .with_information_schema(False)
                  .with_default_catalog_and_schema("public", "iox"))
        runtime = None
        if self.memory_pool_bytes:
            # Sorts, joins and aggregations spill to disk past it, or fail (422).
            runtime = (RuntimeEnvBuilder().with_fair_spill_pool(self.memory_pool_bytes)
                       .with_disk_manager_os())
        ctx = SessionContext(config, runtime)
        catalog = ctx.catalog("public")
        catalog.register_schema("iox", DatabaseSchema(self._catalog, self._data, state,
                                                      database, self._merged_zones))
        catalog.register_schema("system", FixedSchema(
            {name: (lambda name=name, build=build: _build_system_table(name, build, database))
             for name, build in self._system_tables.items()}, state))
        catalog.register_schema("information_schema", FixedSchema({
            "tables": lambda: schema_info.tables_table(self._schemas(database)),
            "columns": lambda: schema_info.columns_table(self._schemas(database)),
            "views": schema_info.views_table,
            "schemata": lambda: schema_info.schemata_table(list(self.SCHEMAS)),
        }, state))
        for name, function in self._table_functions.items():
            call = guarded(state, _literal_arguments(function, database))
            ctx.register_udtf(udtf(call, name))
        return ctx

    def _schemas(self, database: str) -> dict[str, dict[str, pa.Schema]]:
        user: dict[str, pa.Schema] = {}
        if database != INTERNAL_DATABASE:  # _internal holds no tables
            with self._catalog.lock:
                user = {name: t.arrow_schema()
                        for name, t in self._catalog.database(database).live_tables().items()}
        system = {}
        for name, build in self._system_tables.items():
            try:
                system[name] = build(database).schema
            except DatabaseNotFound:
                if database != INTERNAL_DATABASE:
                    raise
                # one database's things (triggers, caches): not among _internal's tables
        return {"iox": user, "system": system}


def _build_system_table(name: str, build: SystemTable, database: str) -> pa.Table:
    try:
        return build(database)
    except DatabaseNotFound:
        if database != INTERNAL_DATABASE:
            raise
        # a table of one database's things (triggers, caches): `_internal` has none
        raise NotFound(f"system.{name} lists one database's {name.replace('_', ' ')}: query it "
                       f"in that database; {INTERNAL_DATABASE} has only the server-wide system "
                       f"tables (SHOW TABLES lists them)") from None


def _literal_arguments(function: TableFunction, database: str):
    def call(*exprs):
        return function(database, [_literal(e) for e in exprs])

    return call


def _literal(expr):
    """The Python value of a literal argument; InvalidRequest for anything else."""
    try:
        value = Expr(expr).python_value()
        return value.as_py() if hasattr(value, "as_py") else value
    except Exception:
        raise QueryError(f"table function arguments must be literals, got {expr}") from None


def _rewrite_show(query: str) -> str:
    """SHOW TABLES / SHOW COLUMNS as queries of our information_schema."""
    if _SHOW_TABLES.match(query):
        # upstream's order: user tables, then system tables (each by name), then the views
        return ("SELECT table_catalog, table_schema, table_name, table_type "
                "FROM information_schema.tables ORDER BY "
                "CASE table_schema WHEN 'iox' THEN 0 WHEN 'system' THEN 1 ELSE 2 END, "
                "CASE WHEN table_schema <> 'information_schema' THEN table_name "
                "ELSE CASE table_name WHEN 'tables' THEN '0' WHEN 'views' THEN '1' "
                "WHEN 'columns' THEN '2' ELSE '3' || table_name END END")
    match = _SHOW_COLUMNS.match(query)
    if match:
        name = next(g for g in match.groups() if g)
        schema, _, table = name.rpartition(".")
        where = f"table_name = '{_quote(table)}'"
        if schema:
            where += f" AND table_schema = '{_quote(schema)}'"
        return ("SELECT table_catalog, table_schema, table_name, column_name, data_type, "
                f"is_nullable FROM information_schema.columns WHERE {where} "
                "ORDER BY table_schema, ordinal_position")
    return query


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _clean_message(error: Exception) -> str:
    return str(error).strip() or type(error).__name__
