"""DataFusion schema providers: a database's tables (schema `iox`), `system` and
`information_schema`, resolved lazily so a query only touches the tables it names."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
from datafusion import SessionContext
from datafusion.catalog import SchemaProvider, Table

from timewell.catalog import Catalog
from timewell.errors import TimewellError
from timewell.query.control import QueryControl, no_limit
from timewell.query.table_scan import MergedZones, StoredTableDataset
from timewell.storage.data import Lease, StoredData


def arrow_table(data: pa.Table) -> Table:
    return batches_table(data.to_batches(), data.schema)


def batches_table(batches: list[pa.RecordBatch], schema: pa.Schema) -> Table:
    """A DataFusion in-memory table over `batches`, split into partitions that scan in
    parallel. (A pyarrow dataset scans three times slower, and one without fragments makes
    DataFusion refuse ORDER BY over an empty table.)"""
    # Tables are asked for while DataFusion plans a query, on a thread that is already inside
    # its async runtime, where building a DataFrame would panic ("cannot start a runtime from
    # within a runtime"); so the DataFrame is built on a thread of its own.
    return _BUILDER.submit(lambda: Table(_memory_frame(batches, schema))).result()


def _memory_frame(batches: list[pa.RecordBatch], schema: pa.Schema):
    batches = [b for b in batches if b.num_rows] or [pa.RecordBatch.from_pylist([], schema)]
    partitions = [batches[i::_PARTITIONS] for i in range(min(_PARTITIONS, len(batches)))]
    # create_dataframe registers the batches under a name in the shared context; the frame
    # keeps its own reference, so the name is dropped at once (else every call would leak).
    name = f"t{next(_FRAME_NAMES)}"
    frame = _FRAMES.create_dataframe(partitions, name=name, schema=schema)
    _FRAMES.deregister_table(name)
    return frame


# Only builds DataFrames over memory tables (no state, no registrations); shared by threads.
_FRAMES = SessionContext()
_BUILDER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="table-builder")
_PARTITIONS = max(1, min(4, os.cpu_count() or 1))
_FRAME_NAMES = itertools.count()


@dataclass
class QueryState:
    """What the tables of a pooled session need to know about the query running in it."""

    lease: Lease | None = None  # pins the Parquet files the query reads
    errors: list[Exception] = field(default_factory=list)  # ours, before DataFusion wraps them
    control: QueryControl = field(default_factory=no_limit)

    def check(self) -> None:
        """Raise (and remember, for the caller) when the query must stop."""
        try:
            self.control.check()
        except TimewellError as e:
            self.errors.append(e)
            raise


def guarded(state: QueryState, function: Callable) -> Callable:
    """`function`, recording our own errors before DataFusion wraps them in its text."""

    def call(*args):
        try:
            return function(*args)
        except TimewellError as e:
            state.errors.append(e)
            raise

    return call


def stored_dataset(catalog: Catalog, data: StoredData, lease: Lease, database: str, name: str,
                   zone_cache: MergedZones | None,
                   check: Callable[[], None]) -> StoredTableDataset | None:
    """A live table's data as the scan reads it (None: no such table); its files stay
    readable while `lease` is held."""
    with catalog.lock:
        db = catalog.database(database)
        table = db.live_tables().get(name)
        if table is None:
            return None
        schema = table.arrow_schema()
        series_key = list(table.series_key)
        retention_ns = db.retention_period_ns
    view = lease.view(database, name)
    cutoff = time.time_ns() - retention_ns if retention_ns is not None else None
    return StoredTableDataset(view, schema, series_key, data, cutoff, zone_cache, check)


class DatabaseSchema(SchemaProvider):
    """The user tables of one database: buffered data and Parquet files as one table."""

    def __init__(self, catalog: Catalog, data: StoredData, state: QueryState,
                 database: str, zone_cache: MergedZones | None = None) -> None:
        self._catalog = catalog
        self._data = data
        self._zone_cache = zone_cache
        self._state = state
        self._database = database
        self.table = guarded(state, self._table)

    def table_names(self) -> set[str]:
        with self._catalog.lock:
            return set(self._catalog.database(self._database).live_tables())

    def table(self, name: str) -> Table | None:  # replaced per instance by a guarded _table
        return self._table(name)

    def _table(self, name: str) -> Table | None:
        dataset = stored_dataset(self._catalog, self._data, self._state.lease, self._database,
                                 name, self._zone_cache, self._state.check)
        return None if dataset is None else Table(dataset)

    def table_exist(self, name: str) -> bool:
        return name in self.table_names()


class FixedSchema(SchemaProvider):
    """Tables built on demand by functions, e.g. the system tables."""

    def __init__(self, tables: dict[str, Callable[[], pa.Table]], state: QueryState) -> None:
        self._tables = tables
        self._state = state

    def table_names(self) -> set[str]:
        return set(self._tables)

    def table(self, name: str) -> Table | None:
        build = self._tables.get(name)
        return None if build is None else arrow_table(guarded(self._state, build)())

    def table_exist(self, name: str) -> bool:
        return name in self._tables
