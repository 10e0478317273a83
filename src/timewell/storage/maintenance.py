"""Background upkeep of the Parquet files: retention, hard deletes, compaction, orphans.

Every change to the file set is an index record made durable before it is applied; files
leave the object store only afterwards, and only after a grace period, so a query that
started before the change can still read them. A crash anywhere leaves at worst unreferenced
files, which the next start removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq

from timewell.catalog import Catalog
from timewell.storage.data import StoredData
from timewell.storage.objectstore import ObjectStore
from timewell.storage.parquet_index import ParquetFile, replace_op
from timewell.storage.snapshot import sort_rows, table_directory

log = logging.getLogger(__name__)

COMPACT_AT_FILES = 8  # a time chunk with this many files is merged
COMPACT_MAX_ROWS = 10_000_000  # bounds the memory one compaction needs
# Queries planned before a change may still read the old files for a while; with a short
# maintenance interval (tests) the grace shrinks with it.
DELETE_GRACE_S = 60.0


class Maintenance:
    def __init__(self, store: ObjectStore, prefix: str, catalog: Catalog, data: StoredData,
                 hard_delete_default_ns: int, interval_s: float) -> None:
        self._store = store
        self._prefix = prefix
        self._catalog = catalog
        self._data = data
        self.hard_delete_default_ns = hard_delete_default_ns
        self._interval_s = interval_s
        self._doomed: list[tuple[float, str]] = []  # (delete after, path)
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
            await asyncio.to_thread(self._delete_doomed, False)

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
        for path in orphans:
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
                purged_tables += [(db.name, t.name) for t in db.tables.values()
                                  if t.deleted and (t.hard_delete_at_ns or 0) <= now]
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
            if len(files) < COMPACT_AT_FILES:
                continue
            chosen, rows = [], 0
            for file in sorted(files, key=lambda f: f.row_count):
                if chosen and rows + file.row_count > COMPACT_MAX_ROWS:
                    break
                chosen.append(file)
                rows += file.row_count
            if len(chosen) > 1:
                self._merge(database, table, chunk_start, chosen)

    def _merge(self, database: str, table: str, chunk_start: int,
               files: list[ParquetFile]) -> None:
        with self._catalog.lock:
            db = self._catalog.databases.get(database)
            definition = db.tables.get(table) if db else None
            if definition is None or definition.deleted or db.deleted:
                return
            schema = definition.arrow_schema()
            series_key = definition.series_key
        data = self._data.parquet_dataset(files, schema).to_table()
        data = sort_rows(data, series_key)
        path = (f"{table_directory(self._prefix, database, table)}/{chunk_start}/"
                f"c{time.time_ns()}.parquet")
        sink = pa.BufferOutputStream()
        pq.write_table(data, sink, compression="zstd", write_statistics=True,
                       row_group_size=1_000_000)
        body = sink.getvalue().to_pybytes()
        self._store.durable_put(path, body)
        merged = ParquetFile(path, database, table, chunk_start, len(body), data.num_rows,
                             min(f.min_time_ns for f in files), max(f.max_time_ns for f in files))
        op = replace_op([f.path for f in files], [merged])
        self._data.index.persist(op)
        self._data.commit(op)
        self._doom(f.path for f in files)
        log.info("compacted %d files of %s.%s into one of %d rows", len(files), database, table,
                 data.num_rows)

    def _drop(self, files: list[ParquetFile], reason: str) -> None:
        if not files:
            return
        op = replace_op([f.path for f in files], [])
        self._data.index.persist(op)
        self._data.commit(op)
        self._doom(f.path for f in files)
        log.info("%d Parquet files dropped: %s", len(files), reason)

    def _doom(self, paths) -> None:
        when = time.monotonic() + min(DELETE_GRACE_S, 5 * self._interval_s)
        self._doomed.extend((when, path) for path in paths)

    def _delete_doomed(self, everything: bool) -> None:
        now = time.monotonic()
        keep = []
        for when, path in self._doomed:
            if everything or when <= now:
                self._store.delete(path)
            else:
                keep.append((when, path))
        self._doomed = keep
        self._data.index.checkpoint_if_due()
