"""One running timewell node: its object store, catalog, WAL, buffer, query and write services,
wired so that data flows one way (write -> WAL -> subscribers)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pyarrow as pa

from timewell.auth import TokenFile, Tokens
from timewell.caches import CacheService
from timewell.caches import sql as cache_sql
from timewell.catalog import Catalog
from timewell.catalog.persistence import CatalogLog
from timewell.config import Settings
from timewell.engine import EngineSettings, NodeDatabase, ProcessingEngine
from timewell.engine.limits import engine_limits
from timewell.engine.repository import DEFAULT_PLUGIN_REPO
from timewell.query.engine import INTERNAL_DATABASE, QueryEngine
from timewell.query.log import QueryLog
from timewell.storage.buffer import QueryableBuffer
from timewell.storage.data import StoredData
from timewell.storage.maintenance import Maintenance
from timewell.storage.objectstore import ObjectStore
from timewell.storage.oplog import OpLog
from timewell.storage.parquet_cache import ParquetCache
from timewell.storage.parquet_index import ParquetIndex
from timewell.storage.snapshot import SnapshotSettings, Snapshotter
from timewell.storage.wal import Wal
from timewell.write import WriteLimits, WriteService
from timewell.write.backpressure import BackPressure

log = logging.getLogger(__name__)


class Node:
    def __init__(self, settings: Settings, *, store: ObjectStore | None = None) -> None:
        self.settings = settings
        self.started_at_ns = time.time_ns()  # reset by start()
        self._started = time.monotonic()
        self.store = store or _object_store(settings)  # tests inject one (power cuts)
        prefix = settings.node_id
        self.catalog = Catalog.load(CatalogLog(self.store, prefix))
        self.tokens = Tokens(self.catalog)
        if settings.admin_token_file is not None and not settings.without_auth:
            self.tokens.preset(TokenFile.read(settings.admin_token_file))
        self.buffer = QueryableBuffer(self._series_key, self.catalog.is_live_table)
        self.index = ParquetIndex.load(OpLog(self.store, f"{prefix}/index"))
        storage = settings.storage
        self.parquet_cache = (ParquetCache(storage.parquet_cache_bytes,
                                           storage.parquet_cache_recent_ns)
                              if storage.parquet_cache_bytes else None)
        self.data = StoredData(self.buffer, self.index, self.store, self.parquet_cache)
        self.wal = Wal(self.store, prefix, settings.wal_flush_interval_s)
        self.wal.on_superseded = self._superseded
        # Set by whoever runs the node: stop it, because another server took the store over.
        self.on_fatal: Callable[[str], None] = lambda reason: None
        self.wal.subscribe(self.buffer)
        self.snapshots = Snapshotter(self.store, prefix, self.catalog, self.data, self.wal,
                                     SnapshotSettings(storage.gen1_duration_ns,
                                                      storage.wal_snapshot_size,
                                                      storage.snapshot_memory_threshold_bytes))
        self.wal.subscribe(self.snapshots)
        self.maintenance = Maintenance(self.store, prefix, self.catalog, self.data,
                                       storage.hard_delete_default_duration_ns,
                                       storage.maintenance_interval_s)
        self.maintenance.oldest_wal_sequence = self.wal.oldest_sequence
        self.caches = CacheService(self.catalog, self.data)
        self.wal.subscribe(self.caches)
        self.backpressure = BackPressure(  # writes refused (503) past --buffer-mem-limit
            settings.buffer_memory_limit, lambda: self.buffer.nbytes, self.snapshots.start,
            lambda: self.snapshots.last_error, settings.wal_flush_interval_s)
        self.writer = WriteService(self.catalog, self.wal, WriteLimits(
            max_columns_per_table=settings.max_columns_per_table,
            max_string_bytes=settings.max_string_bytes,
        ), self.backpressure)
        self.query = QueryEngine(self.catalog, self.data, QueryLog())
        self.query.add_system_table("parquet_files", self._parquet_files_table)
        self.query.add_system_table("databases", self._databases_table)
        self.query.add_system_table("tables", self._tables_table)
        self.query.add_system_table("queries", lambda _db: self.query.log.table())
        cache_sql.register(self.query, self.caches)
        self.engine = ProcessingEngine(
            self.catalog, NodeDatabase(self.writer, self.query), self.store, prefix,
            EngineSettings(settings.plugin_dir, settings.plugin_timeout_s,
                           state_dir=settings.data_dir / settings.node_id,
                           plugin_repo=settings.plugin_repo or DEFAULT_PLUGIN_REPO,
                           package_manager=settings.package_manager,
                           **engine_limits(settings)), wal=self.wal)
        self.wal.subscribe(self.engine)
        self.wal.subscribe_retained(self.engine)
        self.query.add_system_table("processing_engine_triggers", self.engine.triggers_table)
        self.query.add_system_table("processing_engine_trigger_arguments",
                                    self.engine.arguments_table)
        self.query.add_system_table("processing_engine_logs", self.engine.log.table)
        self.query.add_system_table("processing_engine_trigger_stats", self.engine.stats.table)
        self.query.add_system_table("plugin_files", self.engine.plugin_files_table)
        self.query.add_system_table("tokens", self.tokens.table)
        self.query.max_result_bytes = settings.max_query_result_bytes
        self.query.timeout_s = settings.query_timeout_s
        self.query.memory_pool_bytes = settings.exec_mem_pool_bytes

    async def start(self) -> None:
        self.started_at_ns, self._started = time.time_ns(), time.monotonic()
        started = time.perf_counter()
        orphans = await asyncio.to_thread(self.maintenance.remove_orphan_files)
        replayed = self.wal.replay(self.index.wal_through)
        await self.wal.start()
        if self.snapshots.due():
            self.snapshots.start()
        loop = asyncio.get_running_loop()
        self.maintenance.request_snapshot = lambda: loop.call_soon_threadsafe(
            self.snapshots.start)
        await self.maintenance.start()
        await self.caches.start()
        await self.engine.start()
        log.info("timewell node '%s' ready on %s in %.3fs: %d Parquet files, %d WAL files "
                 "replayed, %d orphaned files removed", self.settings.node_id,
                 self.store.description, time.perf_counter() - started,
                 len(self.index.paths()), replayed, orphans)

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self._started

    def _superseded(self, reason: str) -> None:
        self.store.fence(reason)  # from now on this node writes nothing to the store
        self.on_fatal(reason)

    async def stop(self) -> None:
        await self.maintenance.stop()
        await self.caches.stop()
        await self.engine.stop()
        await self.wal.close()
        await self.snapshots.wait()
        log.info("timewell node '%s' stopped; every acknowledged write is on disk",
                 self.settings.node_id)

    async def delete_database(self, name: str, hard_delete_at_ns: int | None = None) -> None:
        """Soft-delete: refuse writes, hide from queries, stop its triggers, free its memory;
        its files go at `hard_delete_at_ns` (default: after --hard-delete-default-duration)."""
        when = hard_delete_at_ns if hard_delete_at_ns is not None else (
            time.time_ns() + self.maintenance.hard_delete_default_ns)
        await asyncio.to_thread(self.catalog.delete_database, name, when,
                                self.wal.last_sequence)
        await self.engine.drop_database(name)
        self.buffer.drop_database(name)

    async def delete_table(self, database: str, table: str,
                           hard_delete_at_ns: int | None = None) -> None:
        when = hard_delete_at_ns if hard_delete_at_ns is not None else (
            time.time_ns() + self.maintenance.hard_delete_default_ns)
        await asyncio.to_thread(self.catalog.delete_table, database, table, when,
                                self.wal.last_sequence)
        self.buffer.drop_table(database, table)

    def _series_key(self, database: str, table: str) -> list[str]:
        with self.catalog.lock:
            db = self.catalog.databases.get(database)
            definition = db.tables.get(table) if db is not None else None
            return list(definition.series_key) if definition is not None else []

    def _parquet_files_table(self, database: str) -> pa.Table:
        files = sorted(self.index.files(database), key=lambda f: (f.table, f.min_time_ns))
        return pa.table({
            "table_name": pa.array([f.table for f in files], pa.string()),
            "path": pa.array([f.path for f in files], pa.string()),
            "size_bytes": pa.array([f.size_bytes for f in files], pa.int64()),
            "row_count": pa.array([f.row_count for f in files], pa.int64()),
            "min_time": pa.array([f.min_time_ns for f in files], pa.timestamp("ns")),
            "max_time": pa.array([f.max_time_ns for f in files], pa.timestamp("ns")),
        })

    def _databases_table(self, _database: str) -> pa.Table:
        with self.catalog.lock:
            dbs = list(self.catalog.databases.values())
        return pa.table({
            "database_name": pa.array([d.name for d in dbs], pa.string()),
            "retention_period_ns": pa.array([d.retention_period_ns for d in dbs], pa.int64()),
            "deleted": pa.array([d.deleted for d in dbs], pa.bool_()),
        })

    def _tables_table(self, database: str) -> pa.Table:
        with self.catalog.lock:  # `_internal` holds no tables (query/engine.py)
            tables = [] if database == INTERNAL_DATABASE else list(
                self.catalog.database(database).live_tables().values())
        return pa.table({
            "table_name": pa.array([t.name for t in tables], pa.string()),
            "column_count": pa.array([len(t.columns) for t in tables], pa.int64()),
            "series_key": pa.array([",".join(t.series_key) for t in tables], pa.string()),
            "row_count": pa.array([self.buffer.row_count(database, t.name) for t in tables],
                                  pa.int64()),
        })


def _object_store(settings: Settings) -> ObjectStore:
    if settings.object_store == "memory":
        return ObjectStore.memory()
    if settings.object_store == "s3":
        storage = settings.storage
        return ObjectStore.s3(storage.bucket, endpoint=storage.aws_endpoint,
                              access_key_id=storage.aws_access_key_id,
                              secret_access_key=storage.aws_secret_access_key,
                              region=storage.aws_default_region,
                              allow_http=storage.aws_allow_http)
    return ObjectStore.file(settings.data_dir)
