"""SQL over a database's tables with Apache DataFusion.

Each query gets a fresh, cheap DataFusion session whose default schema (`public.iox`) resolves
the database's tables lazily from the queryable buffer, beside the `system` and our own
`information_schema` schemas.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa
from datafusion import SessionConfig, SessionContext
from datafusion.catalog import Schema

from timewell.catalog import Catalog
from timewell.errors import InvalidRequest
from timewell.query import schema_info
from timewell.query.log import QueryLog
from timewell.query.tables import DatabaseSchema, FixedSchema, arrow_table
from timewell.storage.buffer import QueryableBuffer

SystemTable = Callable[[str], pa.Table]
"""Builds a system table's contents for the queried database."""


class QueryError(InvalidRequest):
    """DataFusion refused or failed the query; the message is DataFusion's."""


_SHOW_TABLES = re.compile(r"^\s*show\s+tables\s*;?\s*$", re.IGNORECASE)
_SHOW_COLUMNS = re.compile(
    r"^\s*show\s+(?:full\s+)?columns\s+(?:from|in)\s+(?:'([^']+)'|\"([^\"]+)\"|([\w.]+))\s*;?\s*$",
    re.IGNORECASE,
)


class QueryEngine:
    def __init__(self, catalog: Catalog, buffer: QueryableBuffer, query_log: QueryLog) -> None:
        self._catalog = catalog
        self._buffer = buffer
        self.log = query_log
        self._system_tables: dict[str, SystemTable] = {}

    def add_system_table(self, name: str, build: SystemTable) -> None:
        self._system_tables[name] = build

    def sql(self, database: str, query: str, params: dict | None = None) -> pa.Table:
        """Run `query` against `database`; DatabaseNotFound or QueryError on failure.

        Blocking (DataFusion runs it on its own threads): call it from a worker thread."""
        self._catalog.database(database)
        record = self.log.start("sql", query, database)
        try:
            result = self._execute(database, _rewrite_show(query), params)
        except Exception:
            self.log.finish(record, success=False)
            raise
        self.log.finish(record, success=True)
        return result

    def _execute(self, database: str, query: str, params: dict | None) -> pa.Table:
        ctx = self._session(database)
        try:
            frame = ctx.sql(query, param_values=params) if params else ctx.sql(query)
            return frame.to_arrow_table()
        except Exception as e:  # DataFusion raises plain exceptions with a useful message
            raise QueryError(_clean_message(e)) from e

    def _session(self, database: str) -> SessionContext:
        config = (SessionConfig()
                  .with_information_schema(False)
                  .with_default_catalog_and_schema("public", "iox"))
        ctx = SessionContext(config)
        catalog = ctx.catalog("public")
        catalog.register_schema("iox", DatabaseSchema(self._catalog, self._buffer, database))
        catalog.register_schema("system", FixedSchema(
            {name: (lambda build=build: build(database))
             for name, build in self._system_tables.items()}))
        info = Schema.memory_schema()
        schemas = self._schemas(database)
        info.register_table("tables", arrow_table(schema_info.tables_table(schemas)))
        info.register_table("columns", arrow_table(schema_info.columns_table(schemas)))
        info.register_table("views", arrow_table(schema_info.views_table()))
        info.register_table("schemata", arrow_table(
            schema_info.schemata_table(["iox", "system", "information_schema"])))
        catalog.register_schema("information_schema", info)
        return ctx

    def _schemas(self, database: str) -> dict[str, dict[str, pa.Schema]]:
        with self._catalog.lock:
            user = {name: t.arrow_schema()
                    for name, t in self._catalog.database(database).live_tables().items()}
        system = {name: build(database).schema for name, build in self._system_tables.items()}
        return {"iox": user, "system": system}


def _rewrite_show(query: str) -> str:
    """SHOW TABLES / SHOW COLUMNS as queries of our information_schema."""
    if _SHOW_TABLES.match(query):
        return ("SELECT table_catalog, table_schema, table_name, table_type "
                "FROM information_schema.tables ORDER BY table_schema, table_name")
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
