"""The distinct value cache: which combinations of values of some tag or string columns exist.

Combinations live in a `KeyTree` (one level per column, in the order given) and in an ordered
dict from least to most recently seen, which makes both bounds cheap: past `max_cardinality`
the least recently seen combinations go, and combinations not seen for `max_age` go.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import pyarrow as pa
import pyarrow.compute as pc

from timewell.caches.keytree import KeyTree
from timewell.catalog import DistinctCacheDefinition
from timewell.query.pushdown import Constraints


class DistinctValueCache:
    def __init__(self, definition: DistinctCacheDefinition) -> None:
        self.definition = definition
        self._columns = list(definition.columns)
        self._max_cardinality = definition.max_cardinality
        self._max_age_ns = int(definition.max_age_s * 1e9)
        self._tree: KeyTree[bool] = KeyTree(self._columns)
        self._last_seen: OrderedDict[tuple, int] = OrderedDict()
        self._lock = threading.Lock()
        self._version = 0
        self._snapshot: tuple | None = None  # (version, table, valid until ns)

    def update(self, data: pa.Table, seen_ns: int, backfill: bool = False) -> None:
        """Record the combinations in a write; rows missing any of the columns are ignored."""
        if data.num_rows == 0 or any(c not in data.column_names for c in self._columns):
            return
        combos = data.select(self._columns)
        mask = None
        for column in combos.columns:
            if column.null_count:
                valid = pc.is_valid(column)
                mask = valid if mask is None else pc.and_(mask, valid)
        if mask is not None:
            combos = combos.filter(mask)
        if combos.num_rows > 1:
            combos = combos.group_by(self._columns, use_threads=False).aggregate([])
        keys = list(zip(*(_strings(combos.column(c)) for c in self._columns), strict=True))
        with self._lock:
            before = self._version
            for key in keys:
                if key in self._last_seen:
                    if not backfill:  # a back-fill is older than what live writes brought
                        self._last_seen.move_to_end(key)
                        self._last_seen[key] = seen_ns
                    continue
                self._tree.leaf(key, bool)
                self._last_seen[key] = seen_ns
                self._version = before + 1  # only a new or dropped combination changes output
                if backfill:
                    self._last_seen.move_to_end(key, last=False)
            while len(self._last_seen) > self._max_cardinality:
                old, _ = self._last_seen.popitem(last=False)
                self._tree.remove(old)

    def evict(self, now_ns: int) -> int:
        """Drop combinations not seen for max_age; how many went."""
        cutoff = now_ns - self._max_age_ns
        removed = 0
        with self._lock:
            while self._last_seen:
                key, seen = next(iter(self._last_seen.items()))
                if seen > cutoff:
                    break
                del self._last_seen[key]
                self._tree.remove(key)
                removed += 1
            if removed:
                self._version += 1
        return removed

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c, pa.string()) for c in self._columns])

    def table(self, constraints: Constraints, now_ns: int) -> pa.Table:
        """The combinations that satisfy `constraints`, sorted column by column."""
        if not constraints:
            snapshot = self._snapshot
            if snapshot is not None and snapshot[0] == self._version and now_ns < snapshot[2]:
                return snapshot[1]
        cutoff = now_ns - self._max_age_ns
        with self._lock:
            version = self._version
            seen = self._last_seen
            keys = [key for key, _ in self._tree.items(constraints) if seen[key] > cutoff]
            oldest = next(iter(seen.values()), None)
        keys.sort()
        columns = list(zip(*keys, strict=True)) if keys else [() for _ in self._columns]
        table = pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns],
                                     schema=self.schema())
        if not constraints:
            valid_until = oldest + self._max_age_ns if oldest is not None else 2**63 - 1
            self._snapshot = (version, table, valid_until)
        return table

    def __len__(self) -> int:
        return len(self._last_seen)


def _strings(column: pa.ChunkedArray) -> list:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.to_pylist()
