"""Cache definitions from what a user asks for: defaults, names and checks against the table."""

from __future__ import annotations

from timewell.caches.last import KEY_TYPES, output_schema
from timewell.catalog import (
    ColumnType,
    DistinctCacheDefinition,
    LastCacheDefinition,
    Table,
    check_table_name,
)
from timewell.errors import InvalidRequest

DEFAULT_COUNT = 1
MAX_COUNT = 1000
DEFAULT_TTL_S = 4 * 3600
DEFAULT_MAX_CARDINALITY = 100_000
DEFAULT_MAX_AGE_S = 86_400
_DISTINCT_TYPES = (ColumnType.TAG, ColumnType.STRING)


def last_cache(table: Table, name: str | None, key_columns: list[str] | None,
               value_columns: list[str] | None, count: int | None,
               ttl_s: int | None) -> LastCacheDefinition:
    """A checked definition; InvalidRequest saying what to change otherwise."""
    keys = table.series_key if key_columns is None else list(key_columns)
    _check_columns(table, keys, "key column")
    for key in keys:
        kind = table.columns[key]
        if kind not in KEY_TYPES:
            raise InvalidRequest(
                f"column '{key}' of table '{table.name}' is {kind.value}: last cache key "
                "columns must be tag, string (utf8), int64, uint64 or bool columns")
    values = None
    if value_columns is not None:
        values = [c for c in value_columns if c != "time"]
        _check_columns(table, values, "value column")
        both = [c for c in values if c in keys]
        if both:
            raise InvalidRequest(f"column '{both[0]}' cannot be both a key and a value column")
    count = DEFAULT_COUNT if count is None else count
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise InvalidRequest(f"'count' must be an integer from 1 to {MAX_COUNT}, got {count!r}")
    ttl_s = DEFAULT_TTL_S if ttl_s is None else _positive_seconds(ttl_s, "ttl")
    name = name or "_".join([table.name, *keys, "last_cache"])
    check_cache_name(name)
    return LastCacheDefinition(table.name, name, keys, values, count, ttl_s)


def distinct_cache(table: Table, name: str | None, columns: list[str] | None,
                   max_cardinality: int | None,
                   max_age_s: int | None) -> DistinctCacheDefinition:
    if not columns:
        raise InvalidRequest("'columns' is missing: name the tag or string columns to cache, "
                             "in hierarchy order")
    _check_columns(table, columns, "column")
    for column in columns:
        kind = table.columns[column]
        if kind not in _DISTINCT_TYPES:
            raise InvalidRequest(
                f"column '{column}' of table '{table.name}' is {kind.value}: distinct caches "
                "hold tag or string (utf8) columns only")
    if max_cardinality is None:
        max_cardinality = DEFAULT_MAX_CARDINALITY
    if (isinstance(max_cardinality, bool) or not isinstance(max_cardinality, int)
            or max_cardinality < 1):
        raise InvalidRequest(
            f"'max_cardinality' must be a positive integer, got {max_cardinality!r}")
    max_age_s = DEFAULT_MAX_AGE_S if max_age_s is None else _positive_seconds(max_age_s,
                                                                               "max_age")
    name = name or "_".join([table.name, *columns, "distinct_cache"])
    check_cache_name(name)
    return DistinctCacheDefinition(table.name, name, list(columns), max_cardinality, max_age_s)


def check_cache_name(name: str) -> None:
    try:
        check_table_name(name)
    except InvalidRequest as e:
        raise InvalidRequest(str(e).replace("table name", "cache name")) from None


def differences(old, new) -> list[str]:
    """The settings in which two definitions of the same name differ."""
    return [field for field, value in old.to_json().items() if new.to_json()[field] != value]


def describe_last(database: str, definition: LastCacheDefinition, table: Table) -> dict:
    return {
        "db": database,
        "table": definition.table,
        "name": definition.name,
        "key_columns": definition.key_columns,
        "value_columns": output_schema(definition, table).names[len(definition.key_columns):],
        "accept_new_columns": definition.value_columns is None,
        "count": definition.count,
        "ttl": definition.ttl_s,
    }


def describe_distinct(database: str, definition: DistinctCacheDefinition) -> dict:
    return {
        "db": database,
        "table": definition.table,
        "name": definition.name,
        "columns": definition.columns,
        "max_cardinality": definition.max_cardinality,
        "max_age": definition.max_age_s,
    }


def _check_columns(table: Table, names: list[str], what: str) -> None:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidRequest(f"{what}s must be a list of column names")
    if len(set(names)) != len(names):
        raise InvalidRequest(f"a {what} is named twice: {', '.join(names)}")
    for name in names:
        if name not in table.columns:
            raise InvalidRequest(f"{what} '{name}' does not exist in table '{table.name}'; "
                                 f"its columns are {', '.join(table.columns)}")


def _positive_seconds(value, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"'{name}' must be a whole number of seconds, at least 1; "
                             f"got {value!r}")
    return value
