"""A table's data as queries see it: buffered chunks plus Parquet files, read consistently.

A snapshot moves data from the buffer to Parquet files; `commit` makes the files visible and
releases the buffer under one lock, so a reader never sees the data twice or not at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from timewell.storage.buffer import Generation, QueryableBuffer
from timewell.storage.objectstore import ObjectStore
from timewell.storage.parquet_index import ParquetFile, ParquetIndex

_TIME = pa.timestamp("ns")


@dataclass(frozen=True)
class TableView:
    chunks: list[pa.Table]
    files: list[ParquetFile]


class StoredData:
    def __init__(self, buffer: QueryableBuffer, index: ParquetIndex, store: ObjectStore) -> None:
        self.buffer = buffer
        self.index = index
        self.store = store
        self._lock = threading.Lock()
        self._filesystem, self._root = store.arrow_filesystem()

    def view(self, database: str, table: str) -> TableView:
        with self._lock:
            return TableView(self.buffer.chunks(database, table), self.index.files(database, table))

    def commit(self, op: dict, generations: list[Generation] | None = None) -> None:
        """Apply a durable index change and release the generations it covers, atomically."""
        with self._lock:
            self.index.apply(op)
            if generations:
                self.buffer.release(generations)

    def parquet_dataset(self, files: list[ParquetFile], schema: pa.Schema) -> ds.Dataset:
        """The files as one dataset of `schema`. Each file's time range is its partition
        expression, so a scan filtered on time never opens a file outside the range."""
        fmt = ds.ParquetFileFormat()
        fragments = [
            fmt.make_fragment(self._root + f.path, self._filesystem,
                              partition_expression=time_range(f.min_time_ns, f.max_time_ns))
            for f in files
        ]
        return ds.FileSystemDataset(fragments, schema, fmt, self._filesystem)

    def read(self, database: str, table: str, schema: pa.Schema, since_ns: int | None = None,
             with_buffer: bool = True) -> list[pa.Table]:
        """What is stored for a table (Parquet files, then the buffer unless told not to),
        rows from `since_ns` on; for rebuilding caches. Blocking I/O."""
        view = self.view(database, table)
        files = [f for f in view.files if since_ns is None or f.max_time_ns >= since_ns]
        parts = []
        if files:
            found = self.parquet_dataset(files, schema).to_table(
                filter=None if since_ns is None else pc.field("time") >= _timestamp(since_ns))
            parts.append(found)
        return parts + view.chunks if with_buffer else parts


def time_range(min_ns: int, max_ns: int) -> pc.Expression:
    return (pc.field("time") >= _timestamp(min_ns)) & (pc.field("time") <= _timestamp(max_ns))


def _timestamp(ns: int) -> pa.Scalar:
    return pa.scalar(ns, _TIME)
