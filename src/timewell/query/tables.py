"""DataFusion schema providers: a database's tables (schema `iox`), `system` and
`information_schema`, resolved lazily so a query only touches the tables it names."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from datafusion import SessionContext
from datafusion.catalog import SchemaProvider, Table

from timewell.catalog import Catalog
from timewell.errors import TimewellError
from timewell.storage.buffer import QueryableBuffer


def arrow_table(data: pa.Table) -> Table:
    return batches_table(data.to_batches(), data.schema)


def batches_table(batches: list[pa.RecordBatch], schema: pa.Schema) -> Table:
    """A DataFusion in-memory table over `batches`, split into partitions that scan in
    parallel. (A pyarrow dataset scans three times slower, and one without fragments makes
    DataFusion refuse ORDER BY over an empty table.)"""
    batches = [b for b in batches if b.num_rows] or [pa.RecordBatch.from_pylist([], schema)]
    partitions = [batches[i::_PARTITIONS] for i in range(min(_PARTITIONS, len(batches)))]
    # Tables are asked for while DataFusion plans a query, on a thread that is already inside
    # its async runtime, where building a DataFrame would panic ("cannot start a runtime from
    # within a runtime"); so the DataFrame is built on a thread of its own.
    return _BUILDER.submit(
        lambda: Table(_FRAMES.create_dataframe(partitions, schema=schema))).result()


# Only builds DataFrames over memory tables (no state, no registrations); shared by threads.
_FRAMES = SessionContext()
_BUILDER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="table-builder")
_PARTITIONS = max(1, min(4, os.cpu_count() or 1))


def guarded(errors: list[Exception], function: Callable) -> Callable:
    """`function`, recording our own errors before DataFusion wraps them in its text."""

    def call(*args):
        try:
            return function(*args)
        except TimewellError as e:
            errors.append(e)
            raise

    return call


class DatabaseSchema(SchemaProvider):
    """The user tables of one database, read from the queryable buffer."""

    def __init__(self, catalog: Catalog, buffer: QueryableBuffer, database: str,
                 errors: list[Exception]) -> None:
        self._catalog = catalog
        self._buffer = buffer
        self._database = database
        self.table = guarded(errors, self._table)

    def table_names(self) -> set[str]:
        with self._catalog.lock:
            return set(self._catalog.database(self._database).live_tables())

    def table(self, name: str) -> Table | None:  # replaced per instance by a guarded _table
        return self._table(name)

    def _table(self, name: str) -> Table | None:
        with self._catalog.lock:
            table = self._catalog.database(self._database).live_tables().get(name)
            if table is None:
                return None
            schema = table.arrow_schema()
        return batches_table(self._buffer.batches(self._database, name, schema), schema)

    def table_exist(self, name: str) -> bool:
        return name in self.table_names()


class FixedSchema(SchemaProvider):
    """Tables built on demand by functions, e.g. the system tables."""

    def __init__(self, tables: dict[str, Callable[[], pa.Table]],
                 errors: list[Exception]) -> None:
        self._tables = tables
        self._errors = errors

    def table_names(self) -> set[str]:
        return set(self._tables)

    def table(self, name: str) -> Table | None:
        build = self._tables.get(name)
        return None if build is None else arrow_table(guarded(self._errors, build)())

    def table_exist(self, name: str) -> bool:
        return name in self._tables
