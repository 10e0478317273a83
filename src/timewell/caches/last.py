"""The last value cache: per combination of key-column values, the latest `count` rows.

Rows arrive as Arrow tables (one per flushed write). Each is first reduced with Arrow kernels to
at most `count` rows per key, then merged into a `KeyTree` whose leaves hold those rows newest
first, so writes arriving out of time order still leave the latest rows. A row's age for the
ttl counts from when it reached the cache.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from timewell.caches.keytree import KeyTree
from timewell.catalog import ColumnType, LastCacheDefinition, Table
from timewell.query.pushdown import Constraints
from timewell.storage.dedup import sort_and_deduplicate

KEY_TYPES = {
    ColumnType.TAG: pa.string(),
    ColumnType.STRING: pa.string(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.UINTEGER: pa.uint64(),
    ColumnType.BOOLEAN: pa.bool_(),
}
"""Column kinds a last cache can key on, and the Arrow type the key column is returned as."""

_REDUCE_ABOVE_ROWS = 256  # below this, merging row by row costs less than the Arrow kernels


@dataclass(slots=True)
class _Row:
    time: int
    order: int  # ties on time go to the later write
    arrival: int
    layout: dict[str, int]  # value column -> position in `values`; shared by a write's rows
    values: tuple
    series: tuple = ()  # (tag, value) of the tags that are not key columns: with the key and
    # the time, this names the point, which a later write merges into (last write wins)


class LastValueCache:
    def __init__(self, definition: LastCacheDefinition) -> None:
        self.definition = definition
        self._keys = list(definition.key_columns)
        self._count = definition.count
        self._ttl_ns = int(definition.ttl_s * 1e9)
        self._tree: KeyTree[list[_Row]] = KeyTree(self._keys)
        self._lock = threading.Lock()
        self._live_order = itertools.count()
        self._backfill_order = itertools.count(-(2**62))  # older than any live write
        self._oldest_arrival: int | None = None
        self._version = 0
        self._snapshot: tuple | None = None  # (version, schema, table, valid until ns)
        self._schema: tuple | None = None  # (the table's columns, output schema)

    # -- filling

    def update(self, data: pa.Table, arrival_ns: int, backfill: bool = False) -> None:
        """Merge a write's rows; rows without a value in every key column are ignored."""
        if data.num_rows == 0 or "time" not in data.column_names:
            return
        if any(key not in data.column_names for key in self._keys):
            return
        data = _without_null_keys(data, self._keys)
        if data.num_rows > _REDUCE_ABOVE_ROWS:
            # One row per point first, so that reducing keeps no stale copy of a point.
            data = _latest_rows(sort_and_deduplicate(data, []), self._keys, self._count)
        if data.num_rows == 0:
            return
        names = tuple(self._value_columns_in(data))
        layout = {name: i for i, name in enumerate(names)}
        keys = (zip(*(_pylist(data.column(k)) for k in self._keys), strict=True)
                if self._keys else itertools.repeat(()))
        values = zip(*(_pylist(data.column(name)) for name in names), strict=True)
        times = _pylist(data.column("time"))
        series = self._series_of(data)
        order = self._backfill_order if backfill else self._live_order
        with self._lock:
            changed = False
            for key, time_ns, row_values, point in zip(keys, times, values, series,
                                                       strict=False):
                rows = self._tree.leaf(key, list)
                row = _Row(time_ns, next(order), arrival_ns, layout, row_values, point)
                changed |= _push(rows, row, self._count)
            if changed:
                self._version += 1
                if self._oldest_arrival is None:
                    self._oldest_arrival = arrival_ns

    def _series_of(self, data: pa.Table):
        """Per row, the (tag, value) pairs of the tags that are not key columns."""
        tags = [f.name for f in data.schema
                if pa.types.is_dictionary(f.type) and f.name not in self._keys]
        if not tags:
            return itertools.repeat(())
        columns = [_pylist(data.column(t)) for t in tags]
        return (tuple((t, v) for t, v in zip(tags, values, strict=True) if v is not None)
                for values in zip(*columns, strict=True))

    def _value_columns_in(self, data: pa.Table) -> list[str]:
        wanted = self.definition.value_columns
        if wanted is None:
            return [c for c in data.column_names if c not in self._keys]
        return [c for c in [*wanted, "time"] if c in data.column_names]

    def evict(self, now_ns: int) -> int:
        """Drop rows older than the ttl; how many went."""
        cutoff = now_ns - self._ttl_ns
        if self._oldest_arrival is None or self._oldest_arrival > cutoff:
            return 0
        removed = 0
        with self._lock:
            oldest = None
            emptied = []
            for key, rows in self._tree.items():
                kept = [row for row in rows if row.arrival > cutoff]
                if len(kept) != len(rows):
                    removed += len(rows) - len(kept)
                    rows[:] = kept
                    if not kept:
                        emptied.append(key)
                for row in kept:
                    if oldest is None or row.arrival < oldest:
                        oldest = row.arrival
            for key in emptied:
                self._tree.remove(key)
            self._oldest_arrival = oldest
            if removed:
                self._version += 1
        return removed

    # -- reading

    def schema(self, table: Table) -> pa.Schema:
        columns = tuple(table.columns.items())
        cached = self._schema
        if cached is None or cached[0] != columns:
            cached = self._schema = (columns, output_schema(self.definition, table))
        return cached[1]

    def table(self, schema: pa.Schema, constraints: Constraints, now_ns: int) -> pa.Table:
        """The cached rows of the keys that satisfy `constraints`, as `schema`."""
        if not constraints:
            snapshot = self._snapshot
            if (snapshot is not None and snapshot[0] == self._version
                    and snapshot[1].equals(schema) and now_ns < snapshot[3]):
                return snapshot[2]
        with self._lock:
            version = self._version
            found = [(key, list(rows)) for key, rows in self._tree.items(constraints)]
        table, oldest = self._build(found, schema, now_ns - self._ttl_ns)
        if not constraints:
            valid_until = oldest + self._ttl_ns if oldest is not None else 2**63 - 1
            self._snapshot = (version, schema, table, valid_until)
        return table

    def _build(self, found: list, schema: pa.Schema, cutoff: int) -> tuple[pa.Table, int | None]:
        key_count = len(self._keys)
        value_names = schema.names[key_count:]
        key_values: list[list] = [[] for _ in range(key_count)]
        columns: list[list] = [[] for _ in value_names]
        oldest = None
        for key, rows in found:
            for row in rows:
                if row.arrival <= cutoff:
                    continue
                if oldest is None or row.arrival < oldest:
                    oldest = row.arrival
                for target, value in zip(key_values, key, strict=True):
                    target.append(value)
                layout, values = row.layout, row.values
                for target, name in zip(columns, value_names, strict=True):
                    index = layout.get(name)
                    target.append(None if index is None else values[index])
        arrays = [pa.array(values, field.type)
                  for values, field in zip([*key_values, *columns], schema, strict=True)]
        return pa.Table.from_arrays(arrays, schema=schema), oldest

    def __len__(self) -> int:
        return len(self._tree)


def output_schema(definition: LastCacheDefinition, table: Table) -> pa.Schema:
    """The columns `last_cache()` returns: keys, then values (sorted by name), then time."""
    keys = [pa.field(k, KEY_TYPES[table.columns[k]]) for k in definition.key_columns]
    if definition.value_columns is None:
        names = sorted(c for c in table.columns
                       if c not in definition.key_columns and c != "time")
    else:
        names = [c for c in definition.value_columns if c != "time"]
    values = [pa.field(c, table.columns[c].arrow_type) for c in names if c in table.columns]
    return pa.schema([*keys, *values, pa.field("time", table.columns["time"].arrow_type)])


def _push(rows: list[_Row], row: _Row, count: int) -> bool:
    """Insert `row` into `rows` (newest first, at most `count`); False if it is too old.
    A row of the same point (time and series) is merged into: the later write's fields
    replace the earlier ones, and fields it lacks keep their values."""
    for i, existing in enumerate(rows):
        if existing.time == row.time and existing.series == row.series:
            if existing.order > row.order:  # a back-filled row older than the live one
                row, existing = existing, row
            rows[i] = _merged(existing, row)
            return True
    position = len(rows)
    while position and (rows[position - 1].time, rows[position - 1].order) < (row.time,
                                                                                row.order):
        position -= 1
    if position >= count:
        return False
    rows.insert(position, row)
    del rows[count:]
    return True


def _merged(earlier: _Row, later: _Row) -> _Row:
    values = {name: earlier.values[i] for name, i in earlier.layout.items()}
    values.update((name, later.values[i]) for name, i in later.layout.items()
                  if later.values[i] is not None)
    layout = {name: i for i, name in enumerate(values)}
    return _Row(later.time, later.order, later.arrival, layout, tuple(values.values()),
                later.series)


def _without_null_keys(data: pa.Table, keys: list[str]) -> pa.Table:
    mask = None
    for key in keys:
        column = data.column(key)
        if column.null_count:
            valid = pc.is_valid(column)
            mask = valid if mask is None else pc.and_(mask, valid)
    return data if mask is None else data.filter(mask)


def _latest_rows(data: pa.Table, keys: list[str], count: int) -> pa.Table:
    """At most `count` rows per key, the latest by time (later rows win ties), in row order."""
    index = data.select([*keys, "time"]).append_column("__row", pa.arange(0, data.num_rows))
    order = pc.sort_indices(index, [("time", "descending"), ("__row", "descending")])
    if keys:
        grouped = index.take(order).group_by(keys, use_threads=False).aggregate(
            [("__row", "list")])
        rows = pc.list_flatten(pc.list_slice(grouped.column("__row_list"), 0, count))
    else:
        rows = index.column("__row").take(order.slice(0, count))
    return data.take(pc.take(rows, pc.sort_indices(rows)))


def _pylist(column: pa.ChunkedArray | pa.Array) -> list:
    """Python values; tags as strings and timestamps as int nanoseconds."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    elif pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return column.to_pylist()
