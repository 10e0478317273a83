"""The queryable buffer: every flushed write, kept in memory as Arrow, ready for queries.

It is a WAL subscriber. Each table keeps a list of Arrow tables as they were flushed (each with
only the columns its lines wrote); queries see them aligned to the table's current schema.
Small flushes are merged now and then so that a table never holds thousands of tiny chunks.

A snapshot `freeze`s what is buffered into a generation that stays queryable while it is
written to Parquet, and `release`s it once the Parquet files are in the index.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa

from timewell.storage.wal import WalFlush

_MERGE_AFTER_CHUNKS = 64

Key = tuple[str, str]  # (database, table)


@dataclass
class Generation:
    """Buffered data covering the WAL files up to `wal_through`, frozen for a snapshot."""

    wal_through: int
    tables: dict[Key, list[pa.Table]] = field(default_factory=dict)
    nbytes: int = 0


class QueryableBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[Key, list[pa.Table]] = defaultdict(list)
        self._active_bytes = 0
        self._frozen: list[Generation] = []
        self.last_sequence = 0

    def on_flush(self, flush: WalFlush) -> None:
        with self._lock:
            for write in flush.writes:
                chunks = self._active[(write.database, write.table)]
                chunks.append(write.data)
                self._active_bytes += write.data.nbytes
                if len(chunks) >= _MERGE_AFTER_CHUNKS:
                    merged = pa.concat_tables(chunks, promote_options="default")
                    chunks[:] = [merged]
            self.last_sequence = max(self.last_sequence, flush.sequence)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._active_bytes + sum(g.nbytes for g in self._frozen)

    def freeze(self) -> list[Generation]:
        """Every generation waiting for a snapshot, the active data frozen into a new one."""
        with self._lock:
            if self._active:
                self._frozen.append(Generation(self.last_sequence, dict(self._active),
                                               self._active_bytes))
                self._active = defaultdict(list)
                self._active_bytes = 0
            return list(self._frozen)

    def release(self, generations: list[Generation]) -> None:
        """Forget generations that are now in Parquet files (call with the data lock held)."""
        with self._lock:
            self._frozen = [g for g in self._frozen if g not in generations]

    def chunks(self, database: str, table: str) -> list[pa.Table]:
        """The table's buffered data as flushed, each chunk with its own subset of columns."""
        key = (database, table)
        with self._lock:
            frozen = [chunk for g in self._frozen for chunk in g.tables.get(key, ())]
            return frozen + list(self._active.get(key, ()))

    def row_count(self, database: str, table: str) -> int:
        return sum(chunk.num_rows for chunk in self.chunks(database, table))

    def drop_database(self, database: str) -> None:
        with self._lock:
            for key in [k for k in self._active if k[0] == database]:
                self._active_bytes -= sum(c.nbytes for c in self._active.pop(key))

    def drop_table(self, database: str, table: str) -> None:
        with self._lock:
            self._active_bytes -= sum(c.nbytes for c in self._active.pop((database, table), ()))


def align(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """`data` with exactly `schema`'s columns in its order; absent columns become nulls."""
    if data.schema.equals(schema):
        return data
    columns = []
    for field_ in schema:
        index = data.schema.get_field_index(field_.name)
        if index < 0:
            columns.append(pa.nulls(data.num_rows, field_.type))
        else:
            column = data.column(index)
            columns.append(column if column.type == field_.type else column.cast(field_.type))
    return pa.Table.from_arrays(columns, schema=schema)
