"""The caches in SQL: `last_cache()` and `distinct_cache()` in FROM, and the system tables
`last_caches` and `distinct_caches`."""

from __future__ import annotations

import time

import pyarrow as pa
from datafusion.catalog import Table as DataFusionTable

from timewell.caches.dataset import CacheDataset
from timewell.caches.distinct import DistinctValueCache
from timewell.caches.last import LastValueCache, output_schema
from timewell.caches.service import CacheService
from timewell.catalog import Table
from timewell.errors import InvalidRequest
from timewell.query.engine import QueryEngine


def register(engine: QueryEngine, caches: CacheService) -> None:
    engine.add_table_function("last_cache", lambda db, args: last_cache(caches, db, args))
    engine.add_table_function("distinct_cache",
                              lambda db, args: distinct_cache(caches, db, args))
    engine.add_system_table("last_caches", lambda db: last_caches_table(caches, db))
    engine.add_system_table("distinct_caches", lambda db: distinct_caches_table(caches, db))


def last_cache(caches: CacheService, database: str, args: list) -> DataFusionTable:
    table, name = _arguments("last_cache", args)
    cache, table_def = caches.find("last_cache", database, table, name)
    assert isinstance(cache, LastValueCache)
    schema = cache.schema(table_def)
    return DataFusionTable(CacheDataset(
        schema, cache.definition.key_columns,
        lambda constraints: cache.table(schema, constraints, time.time_ns())))


def distinct_cache(caches: CacheService, database: str, args: list) -> DataFusionTable:
    table, name = _arguments("distinct_cache", args)
    cache, _ = caches.find("distinct_cache", database, table, name)
    assert isinstance(cache, DistinctValueCache)
    return DataFusionTable(CacheDataset(
        cache.schema(), cache.definition.columns,
        lambda constraints: cache.table(constraints, time.time_ns())))


def _arguments(function: str, args: list) -> tuple[str, str | None]:
    if not 1 <= len(args) <= 2 or not all(isinstance(a, str) for a in args):
        raise InvalidRequest(f"{function}() takes a table name and optionally a cache name, "
                             f"as strings: {function}('table'[, 'cache_name'])")
    return args[0], args[1] if len(args) == 2 else None


def last_caches_table(caches: CacheService, database: str) -> pa.Table:
    rows = caches.definitions("last_cache", database)
    values = [(d, output_schema(d, t).names[len(d.key_columns):], t) for d, t in rows]
    return pa.table({
        "table": pa.array([d.table for d, _, _ in values], pa.string()),
        "name": pa.array([d.name for d, _, _ in values], pa.string()),
        "key_column_ids": pa.array([_ids(t, d.key_columns) for d, _, t in values],
                                   pa.list_(pa.uint32())),
        "key_column_names": pa.array([d.key_columns for d, _, _ in values],
                                     pa.list_(pa.string())),
        "value_column_ids": pa.array([_ids(t, names) for _, names, t in values],
                                     pa.list_(pa.uint32())),
        "value_column_names": pa.array([names for _, names, _ in values],
                                       pa.list_(pa.string())),
        "count": pa.array([d.count for d, _, _ in values], pa.uint64()),
        "ttl": pa.array([d.ttl_s for d, _, _ in values], pa.uint64()),
    })


def distinct_caches_table(caches: CacheService, database: str) -> pa.Table:
    rows = caches.definitions("distinct_cache", database)
    return pa.table({
        "table": pa.array([d.table for d, _ in rows], pa.string()),
        "name": pa.array([d.name for d, _ in rows], pa.string()),
        "column_ids": pa.array([_ids(t, d.columns) for d, t in rows], pa.list_(pa.uint32())),
        "column_names": pa.array([d.columns for d, _ in rows], pa.list_(pa.string())),
        "max_cardinality": pa.array([d.max_cardinality for d, _ in rows], pa.uint64()),
        "max_age_seconds": pa.array([d.max_age_s for d, _ in rows], pa.uint64()),
    })


def _ids(table: Table, names: list[str]) -> list[int]:
    """Column ids as InfluxDB 3 shows them: positions in the order columns were created."""
    positions = {name: i for i, name in enumerate(table.columns)}
    return [positions[name] for name in names]
