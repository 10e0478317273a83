"""The queryable buffer: every flushed write, kept in memory as Arrow, ready for queries.

It is a WAL subscriber. Each table keeps a list of Arrow tables as they were flushed (each with
only the columns its lines wrote); queries see them aligned to the table's current schema. Small
flushes are merged now and then so that a table never holds thousands of tiny chunks.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pyarrow as pa

from timewell.storage.wal import WalFlush

_MERGE_AFTER_CHUNKS = 64


class QueryableBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[tuple[str, str], list[pa.Table]] = defaultdict(list)

    def on_flush(self, flush: WalFlush) -> None:
        with self._lock:
            for write in flush.writes:
                chunks = self._tables[(write.database, write.table)]
                chunks.append(write.data)
                if len(chunks) >= _MERGE_AFTER_CHUNKS:
                    merged = pa.concat_tables(chunks, promote_options="default")
                    chunks[:] = [merged]

    def chunks(self, database: str, table: str) -> list[pa.Table]:
        """The table's data as flushed, each chunk with its own subset of columns."""
        with self._lock:
            return list(self._tables.get((database, table), ()))

    def batches(self, database: str, table: str, schema: pa.Schema) -> list[pa.RecordBatch]:
        """The table's data as record batches of exactly `schema` (missing columns are null)."""
        return [
            batch
            for chunk in self.chunks(database, table)
            for batch in align(chunk, schema).to_batches()
        ]

    def row_count(self, database: str, table: str) -> int:
        return sum(chunk.num_rows for chunk in self.chunks(database, table))

    def drop_database(self, database: str) -> None:
        with self._lock:
            for key in [k for k in self._tables if k[0] == database]:
                del self._tables[key]

    def drop_table(self, database: str, table: str) -> None:
        with self._lock:
            self._tables.pop((database, table), None)


def align(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """`data` with exactly `schema`'s columns in its order; absent columns become nulls."""
    if data.schema.equals(schema):
        return data
    columns = []
    for field in schema:
        index = data.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(data.num_rows, field.type))
        else:
            column = data.column(index)
            columns.append(column if column.type == field.type else column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)
