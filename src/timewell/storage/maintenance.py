"""Background upkeep of the Parquet files: retention, hard deletes, compaction, orphans.

Every change to the file set is an index record made durable before it is applied; files
leave the object store only afterwards, once no running query reads them (queries pin the
files they read, see `storage/data.py`). A crash anywhere leaves at worst unreferenced
files, which the next start removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

import pyarrow as pa

from timewell.catalog import Catalog
from timewell.storage import parquet_layout
from timewell.storage.data import StoredData
from timewell.storage.dedup import sort_and_deduplicate
from timewell.storage.heap import give_back_free_memory
from timewell.storage.objectstore import ObjectStore
from timewell.storage.parquet_index import ParquetFile, replace_op
from timewell.storage.series_index import SeriesIndex
from timewell.storage.snapshot import table_directory

log = logging.getLogger(__name__)

COMPACT_AT_FILES = 8  # a time chunk with this many files is merged
COMPACT_MAX_ROWS = 10_000_000  # bounds the memory one compaction needs


def compaction_candidates(files: list[ParquetFile]) -> list[ParquetFile]:
    """The files of one time chunk to merge now, oldest first: all of them (up to
    COMPACT_MAX_ROWS) when there are COMPACT_AT_FILES or more, or when two of them overlap in
    time (a point may then be in both, and every query would have to merge them).

    Always a run of files consecutive in order: a merged file takes the newest order of its
    inputs, which would wrongly rank it above a skipped file of an order in between."""
    files = sorted(files, key=lambda f: f.order)
    overlapping = any(a.min_time_ns <= b.max_time_ns and b.min_time_ns <= a.max_time_ns
                      for i, a in enumerate(files) for b in files[i + 1:])
    if len(files) < COMPACT_AT_FILES and not overlapping:
        return []
    chosen, rows = [], 0
    for file in files:
        if chosen and rows + file.row_count > COMPACT_MAX_ROWS:
            break
        chosen.append(file)
        rows += file.row_count
    return chosen


class Maintenance:
    def __init__(self, store: ObjectStore, prefix: str, catalog: Catalog, data: StoredData,
                 hard_delete_default_ns: int, interval_s: float) -> None:
        self._store = store
        self._prefix = prefix
        self._catalog = catalog
        self._data = data
        self.hard_delete_default_ns = hard_delete_default_ns
        self._interval_s = interval_s
        self._doomed: list[str] = []  # replaced files, removed once no query reads them
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        # Set by the node: the oldest WAL file still on the store (or None), and a way to ask
        # for a snapshot. A deleted database is purged only once no WAL file from before its
        # deletion is left, so a restart can never replay its rows into a new database of the
        # same name.
        self.oldest_wal_sequence = lambda: None
        self.request_snapshot = lambda: None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="storage-maintenance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> None:
        """One pass of every chore (also called by tests and the delete endpoints)."""
        async with self._lock:
            await asyncio.to_thread(self._expire_retention)
            await asyncio.to_thread(self._hard_delete)
            await asyncio.to_thread(self._compact)
            await asyncio.to_thread(self._delete_doomed)
            await asyncio.to_thread(give_back_free_memory)  # after merges freed their inputs

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.run_once()
            except Exception:
                log.exception("storage maintenance failed; it runs again in %ss",
                              self._interval_s)

    # -- chores (blocking; run in a worker thread)

    def remove_orphan_files(self) -> int:
        """At start-up: delete Parquet files the index does not name (a snapshot or compaction
        that crashed before its commit, or files whose removal was cut short)."""
        known = self._data.index.paths()
        orphans = [m.path for m in self._store.list(f"{self._prefix}/dbs/")
                   if m.path.endswith(".parquet") and m.path not in known]
        if orphans and self._data.index.skipped_records:
            # A damaged last index record was skipped: it may have named these files.
            log.warning("keeping %d Parquet files the index does not name, because a damaged "
                        "index record was skipped at start (%s); they are not queried",
                        len(orphans), ", ".join(self._data.index.skipped_records))
            return 0
        for path in orphans:
            log.info("removing orphaned Parquet file %s (written by a snapshot or compaction "
                     "that never committed)", path)
            self._store.delete(path)
        return len(orphans)

    def _expire_retention(self) -> None:
        now = time.time_ns()
        with self._catalog.lock:
            limits = {db.name: db.retention_period_ns for db in self._catalog.live_databases()
                      if db.retention_period_ns is not None}
        expired = [f for f in self._data.index.files()
                   if f.database in limits and f.max_time_ns < now - limits[f.database]]
        if expired:
            self._drop(expired, "past its database's retention period")

    def _hard_delete(self) -> None:
        now = time.time_ns()
        oldest_wal = self.oldest_wal_sequence()
        waiting = False
        purged_dbs, purged_tables = [], []
        with self._catalog.lock:
            for db in self._catalog.databases.values():
                if db.deleted and (db.hard_delete_at_ns or 0) <= now:
                    if oldest_wal is not None and oldest_wal <= (db.deleted_wal_sequence or 0):
                        waiting = True
                    else:
                        purged_dbs.append(db.name)
                    continue
                for t in db.tables.values():
                    if not t.deleted or (t.hard_delete_at_ns or 0) > now:
                        continue
                    # As for databases: not while a WAL file from before the deletion could
                    # replay its rows into a new table of the same name.
                    if oldest_wal is not None and oldest_wal <= (t.deleted_wal_sequence or 0):
                        waiting = True
                    else:
                        purged_tables.append((db.name, t.name))
        if waiting:
            self.request_snapshot()
        for database in purged_dbs:
            self._drop(self._data.index.files(database), f"database '{database}' deleted")
            self._catalog.commit([{"op": "purge_database", "name": database}])
            log.info("database '%s' hard-deleted", database)
        for database, table in purged_tables:
            self._drop(self._data.index.files(database, table),
                       f"table '{database}.{table}' deleted")
            self._catalog.commit([{"op": "purge_table", "db": database, "table": table}])
            log.info("table '%s.%s' hard-deleted", database, table)

    def _compact(self) -> None:
        groups: dict[tuple[str, str, int], list[ParquetFile]] = defaultdict(list)
        for file in self._data.index.files():
            groups[(file.database, file.table, file.chunk_start_ns)].append(file)
        for (database, table, chunk_start), files in groups.items():
            chosen = compaction_candidates(files)
            if len(chosen) > 1:
                self._merge(database, table, chunk_start, chosen)

    def _merge(self, database: str, table: str, chunk_start: int,
               files: list[ParquetFile]) -> None:
        """Replace `files` (consecutive in order) by one file, one row per (series, time)."""
        with self._catalog.lock:
            db = self._catalog.databases.get(database)
            definition = db.tables.get(table) if db else None
            if definition is None or definition.deleted or db.deleted:
                return
            schema = definition.arrow_schema()
            series_key = definition.series_key
        # Oldest first, so that the newer files' values win where they hold the same point.
        parts = [self._data.read_file(f, schema) for f in files]
        data = sort_and_deduplicate(pa.concat_tables(parts), series_key)
        path = (f"{table_directory(self._prefix, database, table)}/{chunk_start}/"
                f"c{time.time_ns()}.parquet")
        body = parquet_layout.encode(data)
        self._store.durable_put(path, body)
        merged = ParquetFile(path, database, table, chunk_start, len(body), data.num_rows,
                             min(f.min_time_ns for f in files), max(f.max_time_ns for f in files),
                             order=max(f.order for f in files))
        self._data.remember_series(merged, SeriesIndex.of(data).tags)
        op = replace_op([f.path for f in files], [merged])
        self._data.commit(op)
        self._doom(f.path for f in files)
        log.info("compacted %d files of %s.%s (%d rows) into one of %d rows", len(files),
                 database, table, sum(f.row_count for f in files), data.num_rows)

    def _drop(self, files: list[ParquetFile], reason: str) -> None:
        if not files:
            return
        op = replace_op([f.path for f in files], [])
        self._data.commit(op)
        self._doom(f.path for f in files)
        log.info("%d Parquet files dropped: %s", len(files), reason)

    def _doom(self, paths) -> None:
        self._doomed.extend(paths)

    def _delete_doomed(self) -> None:
        """Remove replaced files that no running query reads any more."""
        gone = set(self._data.unpinned(self._doomed))
        for path in gone:
            self._store.delete(path)
        self._doomed = [p for p in self._doomed if p not in gone]
