"""Snapshots: buffered data written to Parquet files, then the WAL files it came from removed.

One file per (database, table, time chunk of --gen1-duration) per snapshot, rows sorted by
series key then time, with column statistics. The steps, and why a crash at any of them loses
nothing and duplicates nothing:

1. freeze the buffer: the data stays queryable while it is written;
2. write the Parquet files (durably): a crash leaves orphans the index never names, removed at
   the next start; the WAL still has the data and replays it;
3. persist the index record naming the files and `wal_through` — the commit point: after it,
   a restart uses the files and skips (removes) the WAL files up to `wal_through`;
4. make the files visible and release the frozen buffer, under one lock;
5. remove the covered WAL files.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc

from timewell.catalog import Catalog
from timewell.storage import parquet_layout
from timewell.storage.buffer import Generation, align
from timewell.storage.data import StoredData
from timewell.storage.dedup import sort_and_deduplicate
from timewell.storage.heap import give_back_free_memory
from timewell.storage.objectstore import ObjectStore
from timewell.storage.parquet_index import ParquetFile, snapshot_op
from timewell.storage.series_index import SeriesIndex
from timewell.storage.wal import Wal, WalFlush

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotSettings:
    gen1_duration_ns: int = 10 * 60 * 1_000_000_000
    every_flushes: int = 600
    memory_threshold_bytes: int = 1 << 30


class Snapshotter:
    """A WAL subscriber that snapshots when enough flushes or enough memory have piled up."""

    def __init__(self, store: ObjectStore, prefix: str, catalog: Catalog, data: StoredData,
                 wal: Wal, settings: SnapshotSettings) -> None:
        self._store = store
        self._prefix = prefix
        self._catalog = catalog
        self._data = data
        self._wal = wal
        self.settings = settings
        self._flushes = 0
        self._task: asyncio.Task | None = None
        self.last_error: str | None = None  # why the last snapshot failed; None after a success

    def on_flush(self, flush: WalFlush) -> None:
        self._flushes += 1
        if not flush.replayed and self.due():
            self.start()

    def due(self) -> bool:
        return (self._flushes >= self.settings.every_flushes
                or self._data.buffer.nbytes >= self.settings.memory_threshold_bytes)

    def start(self) -> None:
        """Start a snapshot unless one is running."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.snapshot(), name="snapshot")

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def snapshot(self) -> list[ParquetFile]:
        """Write everything buffered to Parquet and drop the WAL files it covers."""
        generations = self._data.buffer.freeze()
        if not generations:
            # Everything published is in Parquet files already: the WAL files are redundant.
            await asyncio.to_thread(self._wal.delete_through, self._data.buffer.last_sequence)
            return []
        self._flushes = 0
        started = time.perf_counter()
        wal_through = max(g.wal_through for g in generations)
        try:
            files = await asyncio.to_thread(self._write_files, generations, wal_through)
            _fault_point("files-written")
            op = snapshot_op(files, wal_through)
            # The commit point: the files are named durably, become visible and the buffer
            # generations they hold are released, in one step.
            await asyncio.to_thread(self._data.commit, op, generations)
            _fault_point("index-persisted")
        except Exception as e:
            self.last_error = str(e) or type(e).__name__
            # The generations stay frozen and queryable; the next snapshot retries them.
            log.exception("snapshot through WAL file %d failed; the data stays in the WAL and "
                          "the buffer, and the next snapshot retries", wal_through)
            return []
        self.last_error = None
        removed = await asyncio.to_thread(self._wal.delete_through, wal_through)
        _fault_point("wal-removed")
        await asyncio.to_thread(give_back_free_memory)  # the released buffer's pages
        log.info("snapshot through WAL file %d: %d Parquet files, %d rows, %d WAL files removed "
                 "in %.2fs", wal_through, len(files), sum(f.row_count for f in files), removed,
                 time.perf_counter() - started)
        return files

    def _write_files(self, generations: list[Generation], wal_through: int) -> list[ParquetFile]:
        keys = {key for g in generations for key in g.tables}
        files = []
        for database, table in sorted(keys):
            # In write order (older generations first); one sort makes them a run.
            rows = [data for g in generations if (database, table) in g.tables
                    for data in g.tables[(database, table)].tables()]
            files.extend(self._write_table(database, table, rows, wal_through))
        return files

    def _write_table(self, database: str, table: str, rows: list[pa.Table],
                     wal_through: int) -> list[ParquetFile]:
        """Files of the table's rows (given in write order), one per time chunk, each sorted
        by series key then time with one row per (series, time)."""
        with self._catalog.lock:
            db = self._catalog.databases.get(database)
            definition = db.tables.get(table) if db else None
            if db is None or db.deleted or definition is None or definition.deleted:
                return []  # deleted: its data is not kept
            schema = definition.arrow_schema()
            series_key = definition.series_key
            retention_ns = db.retention_period_ns
        if not rows:
            return []
        data = sort_and_deduplicate(
            align(pa.concat_tables(rows, promote_options="default"), schema), series_key)
        times = data.column("time").cast(pa.int64())
        if retention_ns is not None:
            keep = pc.greater_equal(times, time.time_ns() - retention_ns)
            data, times = data.filter(keep), times.filter(keep)
        if data.num_rows == 0:
            return []
        gen1 = self.settings.gen1_duration_ns
        # Integer division truncates toward zero; step back one chunk for times before 1970.
        chunk_starts = pc.multiply(pc.divide(times, gen1), gen1)
        chunk_starts = pc.if_else(pc.less(times, chunk_starts),
                                  pc.subtract(chunk_starts, gen1), chunk_starts)
        files = []
        for start in pc.unique(chunk_starts).to_pylist():
            part = data.filter(pc.equal(chunk_starts, start))
            # Filtering keeps the rows' order: each file is sorted and deduplicated.
            files.append(self._write_file(database, table, start, part, wal_through))
        return files

    def _write_file(self, database: str, table: str, chunk_start: int, data: pa.Table,
                    wal_through: int) -> ParquetFile:
        path = (f"{table_directory(self._prefix, database, table)}/{chunk_start}/"
                f"{wal_through:020d}.parquet")
        body = parquet_layout.encode(data)
        self._store.durable_put(path, body)
        times = data.column("time").cast(pa.int64())
        file = ParquetFile(path, database, table, chunk_start, len(body), data.num_rows,
                           pc.min(times).as_py(), pc.max(times).as_py(), order=wal_through)
        self._data.remember_series(file, SeriesIndex.of(data).tags)
        return file


def _fault_point(name: str) -> None:
    """Crash here if TIMEWELL_FAULT_SNAPSHOT names this step: the crash-safety tests kill the
    process between the steps of a snapshot this way (as `kill -9` would)."""
    if os.environ.get("TIMEWELL_FAULT_SNAPSHOT") == name:
        os._exit(137)


def table_directory(prefix: str, database: str, table: str) -> str:
    return f"{prefix}/dbs/{quote(database, safe='')}/{quote(table, safe='')}"


def parse_memory_threshold(text: str) -> int:
    """`30%` of this machine's memory, or a size such as `512MiB`, `2GB`, `1073741824`."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%|[kKmMgGtT]i?[bB]?|[bB])?\s*", text)
    if not match:
        raise ValueError(f"'{text}' is not a size: write e.g. 20%, 512MiB or 2GB")
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    if unit == "%":
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return int(total * number / 100)
    powers = {"b": 0, "k": 1, "m": 2, "g": 3, "t": 4}
    base = 1024 if unit.endswith("ib") or unit in ("k", "m", "g", "t") else 1000
    return int(number * base ** powers[unit[0]])

