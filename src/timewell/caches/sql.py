"""The caches in SQL: `last_cache()` and `distinct_cache()` in FROM, and the system tables
`last_caches` and `distinct_caches`."""

from __future__ import annotations

import re
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
    engine.add_shortcut(lambda db, query: last_cache_lookup(caches, db, query))
    engine.add_table_function("last_cache", lambda db, args: last_cache(caches, db, args))
    engine.add_table_function("distinct_cache",
                              lambda db, args: distinct_cache(caches, db, args))
    engine.add_system_table("last_caches", lambda db: last_caches_table(caches, db))
    engine.add_system_table("distinct_caches", lambda db: distinct_caches_table(caches, db))


_LOOKUP = re.compile(r"\s*SELECT\s+\*\s+FROM\s+last_cache\(\s*'([^']*)'\s*(?:,\s*'([^']*)'\s*)?\)"
                     r"(?:\s+WHERE\s+(.*?))?\s*;?\s*", re.IGNORECASE | re.DOTALL)
_EQUALS = re.compile(r"\s*(\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_]*)\s*=\s*'([^']*)'\s*")


def last_cache_lookup(caches: CacheService, database: str, query: str) -> pa.Table | None:
    """`SELECT * FROM last_cache('t'[, 'name']) [WHERE key = 'v' [AND ...]]`, a dashboard's
    lookup of its latest values, answered from the cache without DataFusion (whose planning
    and execution would be most of its time); None for any other query, which goes the
    usual way (the same rows: this is what the table function reads for such a filter)."""
    match = _LOOKUP.fullmatch(query)
    if match is None:
        return None
    wanted: dict[str, str] = {}
    for term in re.split(r"\s+AND\s+", match.group(3) or "", flags=re.IGNORECASE):
        if not term.strip() and match.group(3) is None:
            break
        equals = _EQUALS.fullmatch(term)
        if equals is None:
            return None
        name = equals.group(1)
        # SQL folds unquoted names to lower case, as DataFusion does.
        column = name[1:-1] if name.startswith('"') else name.lower()
        if wanted.get(column, equals.group(2)) != equals.group(2):
            return None  # a contradiction: the usual way answers it
        wanted[column] = equals.group(2)
    cache, table_def = caches.find("last_cache", database, match.group(1), match.group(2))
    assert isinstance(cache, LastValueCache)
    schema = cache.schema(table_def)
    for column in wanted:
        if column not in cache.definition.key_columns or not _is_text(schema.field(column).type):
            return None
    constraints = {column: frozenset([value]) for column, value in wanted.items()}
    return cache.table(schema, constraints, time.time_ns())


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


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
        "key_columns": pa.array([d.key_columns for d, _, _ in values], pa.list_(pa.string())),
        "value_columns": pa.array([names for _, names, _ in values], pa.list_(pa.string())),
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
