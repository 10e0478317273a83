"""A table's data as queries see it: buffered runs plus Parquet files, read consistently.

A snapshot moves data from the buffer to Parquet files; `commit` makes the files visible and
releases the buffer under one lock, so a reader never sees the data twice or not at all.

Readers hold a `Lease` while they read: the files of every view taken through it are pinned,
and files that compaction, retention or a delete replaced are removed from the object store
only once no lease pins them (`unpinned`), however long the query runs.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from timewell.storage.buffer import Generation, QueryableBuffer, Run
from timewell.storage.objectstore import ObjectStore
from timewell.storage.parquet_cache import ParquetCache
from timewell.storage.parquet_index import ParquetFile, ParquetIndex
from timewell.storage.parquet_layout import ParquetLayout
from timewell.storage.recent_merge import RecentMerges
from timewell.storage.series_index import SeriesIndex

_TIME = pa.timestamp("ns")


@dataclass(frozen=True)
class TableView:
    runs: list[Run]  # buffered, oldest first
    files: list[ParquetFile]


@dataclass
class Lease:
    """The files a reader is reading; `release` when done (or use it as a context manager)."""

    data: StoredData
    pinned: list[str] = field(default_factory=list)

    def view(self, database: str, table: str) -> TableView:
        return self.data.view(database, table, self)

    def release(self) -> None:
        self.data.unpin(self.pinned)
        self.pinned = []

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


class StoredData:
    def __init__(self, buffer: QueryableBuffer, index: ParquetIndex, store: ObjectStore,
                 cache: ParquetCache | None = None) -> None:
        self.buffer = buffer
        self.cache = cache  # decoded row groups of recent files; None: always read
        self.index = index
        self.store = store
        # The index's own lock: a reader taking a view sees a committed change and the buffer
        # generations it released together, or neither.
        self._lock = index.lock
        self._pins: Counter[str] = Counter()
        # Counts committed changes: what was derived from the sources before one (merged
        # overlaps) names runs and files that may be gone, and is dropped.
        self.generation = 0
        self._layouts: dict[str, ParquetLayout] = {}  # footers read once, by path
        self._file_series: dict[str, pa.Table] = {}  # each file's series, read once, by path
        self._series: dict[tuple[str, str], tuple[list, pa.Table]] = {}  # (parts, distinct)
        self._filesystem, self._root = store.arrow_filesystem()
        # Recent files merged into one run per table (storage/recent_merge.py).
        self.merges = (RecentMerges(cache, lambda f: self.row_groups(f, None), self.cached)
                       if cache is not None else None)

    def lease(self) -> Lease:
        return Lease(self)

    def view(self, database: str, table: str, lease: Lease) -> TableView:
        """The table's buffered runs and files; the files stay on the store until `lease` is
        released. Sorts what was buffered since the last read (in the caller's thread)."""
        with self._lock:
            buffers = self.buffer.table_buffers(database, table)
            files = self.index.files(database, table)
            paths = [f.path for f in files]
            self._pins.update(paths)
            lease.pinned.extend(paths)
        runs = [run for b in buffers for run in b.runs()]
        if self.merges is not None:
            runs, files = self.merges.apply(database, table, runs, files)
        return TableView(runs, files)

    def unpin(self, paths: list[str]) -> None:
        if not paths:
            return
        with self._lock:
            pins = self._pins
            for path in paths:
                pins[path] -= 1
                if pins[path] <= 0:
                    del pins[path]

    def unpinned(self, paths: list[str]) -> list[str]:
        """Those of `paths` no reader is reading."""
        with self._lock:
            return [p for p in paths if not self._pins.get(p)]

    def commit(self, op: dict, generations: list[Generation] | None = None) -> None:
        """Make an index change durable and apply it, releasing the buffer generations it
        covers in the same step (blocking I/O)."""

        def applied() -> None:
            self.generation += 1
            if generations:
                self.buffer.release(generations)
            for path in op.get("removed", ()):
                self._layouts.pop(path, None)
                self._file_series.pop(path, None)
            if self.cache is not None:
                self.cache.forget(op.get("removed", ()))
            if self.merges is not None:
                self.merges.forget(op.get("removed", ()))

        self.index.commit(op, applied)

    def layout(self, file: ParquetFile) -> ParquetLayout:
        """The file's row groups and their statistics (its footer is read once)."""
        layout = self._layouts.get(file.path)
        if layout is None:
            fragment = ds.ParquetFileFormat().make_fragment(self._root + file.path,
                                                            self._filesystem)
            layout = self._layouts[file.path] = ParquetLayout.of(fragment)
        return layout

    def row_groups(self, file: ParquetFile, groups: list[int] | None,
                   columns: list[str] | None = None) -> list[Run]:
        """Row groups of `file` (None: all) as runs, from the cache or read (blocking I/O):
        all columns when the file is cached, else `columns` (None: all). Every row group of
        our files is sorted by series key then time, one row per point."""
        layout = self.layout(file)
        wanted = range(len(layout.row_groups)) if groups is None else groups
        cache = self.cache if self.cached(file) else None
        if cache is None and columns is not None:
            present = set(layout.fragment.physical_schema.names)
            columns = [c for c in columns if c in present]
        else:
            columns = None
        runs: list[Run] = []
        missing: list[int] = []
        for group in wanted:
            run = cache.get(file.path, group) if cache is not None else None
            runs.append(run)
            if run is None:
                missing.append(group)
        if not missing:
            return runs
        source = self._filesystem.open_input_file(self._root + file.path)
        with pq.ParquetFile(source, metadata=layout.fragment.metadata) as reader:
            data = reader.read_row_groups(missing, columns=columns)
        if cache is None:  # read for this query only: one run, filtered rather than indexed
            return [Run.of(data, file.order, transient=True)]
        offset = 0
        for group in missing:
            rows = layout.row_groups[group].rows
            run = Run.of(data.slice(offset, rows), file.order)
            offset += rows
            cache.put(file.path, group, run)
            runs[runs.index(None)] = run
        return runs

    def cached(self, file: ParquetFile) -> bool:
        """Whether what queries read of `file` is kept in the cache (it is recent enough)."""
        return (self.cache is not None
                and file.max_time_ns >= time.time_ns() - self.cache.recent_ns)

    def remember_series(self, file: ParquetFile, series: pa.Table) -> None:
        """The series of a file just written (its writer knows them: no need to read)."""
        self._file_series[file.path] = series

    def series(self, database: str, table: str) -> pa.Table:
        """The table's distinct series: one row per tag set stored (buffer and files), tags
        as strings, null where a series lacks the tag. Kept per source, so that metadata
        queries (`SHOW TAG VALUES`) read no data but the tag columns of a file never seen."""
        with self.lease() as lease:
            view = self.view(database, table, lease)
            parts = [run.series.tags for run in view.runs]
            parts += [self._series_of_file(f) for f in view.files]
        cached = self._series.get((database, table))
        if cached is not None and len(cached[0]) == len(parts) and all(
                a is b for a, b in zip(cached[0], parts, strict=True)):
            return cached[1]
        parts = [p for p in parts if p.num_columns]
        if not parts:
            distinct = pa.table({})
        else:
            combined = pa.concat_tables(parts, promote_options="default")
            distinct = combined.group_by(combined.column_names, use_threads=False).aggregate([])
        self._series[(database, table)] = (parts, distinct)
        return distinct

    def _series_of_file(self, file: ParquetFile) -> pa.Table:
        series = self._file_series.get(file.path)
        if series is None:
            fragment = self.layout(file).fragment
            tags = [f.name for f in fragment.physical_schema
                    if pa.types.is_dictionary(f.type)]
            data = fragment.to_table(columns=tags) if tags else pa.table({})
            series = self._file_series[file.path] = SeriesIndex.of(data).tags
        return series

    def read_file(self, file: ParquetFile, schema: pa.Schema,
                  filter: pc.Expression | None = None) -> pa.Table:  # noqa: A002
        """One file's rows as `schema` (blocking I/O)."""
        return self.layout(file).fragment.to_table(schema=schema, filter=filter)

    def read(self, database: str, table: str, schema: pa.Schema, since_ns: int | None = None,
             with_buffer: bool = True) -> list[pa.Table]:
        """What is stored for a table in write order (Parquet files oldest first, then the
        buffer unless told not to), rows from `since_ns` on; for rebuilding caches, which
        apply the rows in order. Blocking I/O."""
        lease = self.lease()
        with self._lock:
            buffers = self.buffer.table_buffers(database, table) if with_buffer else []
            files = self.index.files(database, table)
            self._pins.update(f.path for f in files)
            lease.pinned.extend(f.path for f in files)
        with lease:
            buffered = [data for b in buffers for data in b.tables()]
            if since_ns is not None:
                # Every buffered row is taken; the files are cut no later than the oldest of
                # them, so that a point rewritten in the buffer gets its older fields too.
                since_ns = min([since_ns, *(_min_time(data) for data in buffered
                                            if data.num_rows)])
                files = [f for f in files if f.max_time_ns >= since_ns]
            cut = None if since_ns is None else pc.field("time") >= _timestamp(since_ns)
            parts = [self.read_file(f, schema, cut)
                     for f in sorted(files, key=lambda f: f.order)]
            return parts + buffered


def _min_time(data: pa.Table) -> int:
    return pc.min(data.column("time")).cast(pa.int64()).as_py()


def _timestamp(ns: int) -> pa.Scalar:
    return pa.scalar(ns, _TIME)
