"""One running timewell node: its object store, catalog, WAL, buffer, query and write services,
wired so that data flows one way (write -> WAL -> subscribers)."""

from __future__ import annotations

import asyncio
import logging
import time

import pyarrow as pa

from timewell.caches import CacheService
from timewell.caches import sql as cache_sql
from timewell.catalog import Catalog
from timewell.catalog.persistence import CatalogLog
from timewell.config import Settings
from timewell.engine import EngineSettings, NodeDatabase, ProcessingEngine
from timewell.query.engine import QueryEngine
from timewell.query.log import QueryLog
from timewell.storage.buffer import QueryableBuffer
from timewell.storage.objectstore import ObjectStore
from timewell.storage.wal import Wal
from timewell.write import WriteLimits, WriteService

log = logging.getLogger(__name__)


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = (ObjectStore.memory() if settings.object_store == "memory"
                      else ObjectStore.file(settings.data_dir))
        prefix = settings.node_id
        self.catalog = Catalog.load(CatalogLog(self.store, prefix))
        self.buffer = QueryableBuffer()
        self.wal = Wal(self.store, prefix, settings.wal_flush_interval_s)
        self.wal.subscribe(self.buffer)
        self.caches = CacheService(self.catalog, self.buffer)
        self.wal.subscribe(self.caches)
        self.writer = WriteService(self.catalog, self.wal, WriteLimits(
            max_columns_per_table=settings.max_columns_per_table,
            max_string_bytes=settings.max_string_bytes,
        ))
        self.query = QueryEngine(self.catalog, self.buffer, QueryLog())
        self.query.add_system_table("databases", self._databases_table)
        self.query.add_system_table("tables", self._tables_table)
        self.query.add_system_table("queries", lambda _db: self.query.log.table())
        cache_sql.register(self.query, self.caches)
        self.engine = ProcessingEngine(
            self.catalog, NodeDatabase(self.writer, self.query), self.store, prefix,
            EngineSettings(settings.plugin_dir, settings.plugin_timeout_s))
        self.wal.subscribe(self.engine)
        self.query.add_system_table("processing_engine_triggers", self.engine.triggers_table)
        self.query.add_system_table("processing_engine_trigger_arguments",
                                    self.engine.arguments_table)
        self.query.add_system_table("processing_engine_logs", self.engine.log.table)
        self.query.add_system_table("processing_engine_trigger_stats", self.engine.stats.table)

    async def start(self) -> None:
        started = time.perf_counter()
        replayed = self.wal.replay()
        await self.wal.start()
        await self.caches.start()
        await self.engine.start()
        log.info("timewell node '%s' ready on %s: %d WAL files replayed in %.3fs",
                 self.settings.node_id, self.store.description, replayed,
                 time.perf_counter() - started)

    async def stop(self) -> None:
        await self.caches.stop()
        await self.engine.stop()
        await self.wal.close()
        log.info("timewell node '%s' stopped; every acknowledged write is on disk",
                 self.settings.node_id)

    async def delete_database(self, name: str) -> None:
        """Soft-delete: refuse writes, hide from queries, stop its triggers, free its memory."""
        await asyncio.to_thread(self.catalog.delete_database, name)
        await self.engine.drop_database(name)
        self.buffer.drop_database(name)

    async def delete_table(self, database: str, table: str) -> None:
        await asyncio.to_thread(self.catalog.delete_table, database, table)
        self.buffer.drop_table(database, table)

    def _databases_table(self, _database: str) -> pa.Table:
        with self.catalog.lock:
            dbs = list(self.catalog.databases.values())
        return pa.table({
            "database_name": pa.array([d.name for d in dbs], pa.string()),
            "retention_period_ns": pa.array([d.retention_period_ns for d in dbs], pa.int64()),
            "deleted": pa.array([d.deleted for d in dbs], pa.bool_()),
        })

    def _tables_table(self, database: str) -> pa.Table:
        with self.catalog.lock:
            tables = list(self.catalog.database(database).live_tables().values())
        return pa.table({
            "table_name": pa.array([t.name for t in tables], pa.string()),
            "column_count": pa.array([len(t.columns) for t in tables], pa.int64()),
            "series_key": pa.array([",".join(t.series_key) for t in tables], pa.string()),
            "row_count": pa.array([self.buffer.row_count(database, t.name) for t in tables],
                                  pa.int64()),
        })
