"""DataFusion schema providers: a database's tables (schema `iox`), `system` and
`information_schema`, resolved lazily so a query only touches the tables it names."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.dataset as ds
from datafusion.catalog import SchemaProvider, Table

from timewell.catalog import Catalog
from timewell.errors import TimewellError
from timewell.storage.buffer import QueryableBuffer


def arrow_table(data: pa.Table) -> Table:
    return Table(ds.dataset(data))


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
        batches = self._buffer.batches(self._database, name, schema)
        return Table(ds.dataset(batches, schema=schema))

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
