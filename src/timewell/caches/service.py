"""A node's caches: definitions kept in the catalog, contents fed by WAL flushes.

The service is a WAL subscriber like the queryable buffer. It builds every cache the catalog
defines when it is constructed and, once the WAL is replayed into the buffer, fills them from
the stored data in write order (Parquet files, then the buffer). A cache created later is
back-filled the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

import pyarrow as pa

from timewell.caches import definitions
from timewell.caches.distinct import DistinctValueCache
from timewell.caches.last import LastValueCache
from timewell.catalog import Catalog, DistinctCacheDefinition, LastCacheDefinition, Table
from timewell.errors import AlreadyExists, InvalidRequest, NotFound
from timewell.storage.data import StoredData
from timewell.storage.wal import WalFlush

log = logging.getLogger(__name__)

Cache = LastValueCache | DistinctValueCache

_KINDS = {LastValueCache: "last_cache", DistinctValueCache: "distinct_cache"}
_LABELS = {"last_cache": "last cache", "distinct_cache": "distinct cache"}


class CacheNotFound(NotFound):
    def __init__(self, kind: str, database: str, table: str, name: str | None) -> None:
        label = _LABELS[kind]
        if name is None:
            super().__init__(f"table '{table}' in database '{database}' has no {label}; create "
                             f"one with POST /api/v3/configure/{kind}")
        else:
            super().__init__(f"{label} '{name}' not found for table '{table}' in database "
                             f"'{database}'")


class CacheService:
    def __init__(self, catalog: Catalog, data: StoredData,
                 evict_interval_s: float = 1.0) -> None:
        self._catalog = catalog
        self._data = data
        self._evict_interval_s = evict_interval_s
        self._lock = threading.Lock()
        self._caches: dict[tuple[str, str, str], Cache] = {}  # (kind, db, name)
        self._by_table: dict[tuple[str, str], tuple[Cache, ...]] = {}  # (db, table)
        self._task: asyncio.Task | None = None
        with catalog.lock:
            for db in catalog.databases.values():
                if db.deleted:
                    continue
                for last in db.last_caches.values():
                    self._attach(db.name, LastValueCache(last))
                for distinct in db.distinct_caches.values():
                    self._attach(db.name, DistinctValueCache(distinct))

    # -- the WAL subscriber

    def on_flush(self, flush: WalFlush) -> None:
        if flush.replayed:
            return  # `refill` takes the replayed rows from the buffer, after the files
        now = time.time_ns()
        for write in flush.writes:
            if not self._catalog.is_live_table(write.database, write.table, write.table_id):
                continue
            caches = self._by_table.get((write.database, write.table), ())
            data = write.data
            for cache in caches:
                try:
                    cache.update(data, now)
                except Exception:
                    log.exception("cache '%s' could not take a write to %s.%s",
                                  cache.definition.name, write.database, write.table)

    # -- background eviction

    async def start(self) -> None:
        """After the WAL replay: fill the caches from what is stored, the Parquet files first
        and then the buffer (the replayed writes), in write order, so a point rewritten since
        its snapshot shows its latest fields."""
        with self._lock:
            caches = list(self._caches.items())
        for (_, database, _), cache in caches:
            try:
                stored = await asyncio.to_thread(self._stored_data, database,
                                                 cache.definition, True)
                await asyncio.to_thread(_backfill, cache, stored)
            except Exception:
                log.exception("cache '%s' could not be refilled from stored data",
                              cache.definition.name)
        self._task = asyncio.create_task(self._evict_forever(), name="cache-eviction")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _evict_forever(self) -> None:
        while True:
            await asyncio.sleep(self._evict_interval_s)
            try:
                self.evict(time.time_ns())
            except Exception:  # the loop must survive anything one pass does
                log.exception("cache eviction failed")

    def evict(self, now_ns: int) -> None:
        """Drop expired entries, and caches whose table or database was deleted."""
        with self._lock:
            caches = list(self._caches.items())
        for (kind, database, name), cache in caches:
            if not self._defined(kind, database, name, cache.definition):
                self._detach(kind, database, name)
                continue
            cache.evict(now_ns)

    def _defined(self, kind: str, database: str, name: str, definition) -> bool:
        with self._catalog.lock:
            db = self._catalog.databases.get(database)
            if db is None or db.deleted:
                return False
            table = db.tables.get(definition.table)
            found = (db.last_caches if kind == "last_cache" else db.distinct_caches).get(name)
            return table is not None and not table.deleted and found == definition

    # -- management

    async def create_last_cache(self, database: str, table: str, name: str | None = None,
                                key_columns: list[str] | None = None,
                                value_columns: list[str] | None = None,
                                count: int | None = None,
                                ttl_s: int | None = None) -> tuple[LastCacheDefinition, bool]:
        """Define, fill and start a last cache; (definition, False) if it exists identically."""
        definition, created = await asyncio.to_thread(
            self._define, "last_cache", database, table,
            lambda t: definitions.last_cache(t, name, key_columns, value_columns, count, ttl_s))
        if created:
            await self._fill(database, LastValueCache(definition))
        return definition, created

    async def create_distinct_cache(self, database: str, table: str, name: str | None = None,
                                    columns: list[str] | None = None,
                                    max_cardinality: int | None = None,
                                    max_age_s: int | None = None,
                                    ) -> tuple[DistinctCacheDefinition, bool]:
        definition, created = await asyncio.to_thread(
            self._define, "distinct_cache", database, table,
            lambda t: definitions.distinct_cache(t, name, columns, max_cardinality, max_age_s))
        if created:
            await self._fill(database, DistinctValueCache(definition))
        return definition, created

    def delete_cache(self, kind: str, database: str, table: str, name: str) -> None:
        """Remove a cache and its definition; blocking (commits to the catalog)."""
        with self._catalog.lock:
            self._catalog.table(database, table)
            found = self._definitions(kind, database).get(name)
            if found is None or found.table != table:
                raise CacheNotFound(kind, database, table, name)
            self._catalog.commit([{"op": f"delete_{kind}", "db": database, "name": name}])
        self._detach(kind, database, name)

    def _define(self, kind: str, database: str, table_name: str,
                build: Callable[[Table], LastCacheDefinition | DistinctCacheDefinition]):
        with self._catalog.lock:
            table = self._catalog.table(database, table_name)
            definition = build(table)
            existing = self._definitions(kind, database).get(definition.name)
            if existing is not None:
                if existing == definition:
                    return existing, False
                what = (f"table '{existing.table}'" if existing.table != table_name else
                        "different " + ", ".join(definitions.differences(existing, definition)))
                raise AlreadyExists(f"{_LABELS[kind]} '{definition.name}' already exists in "
                                    f"database '{database}' with {what}; delete it first or "
                                    "choose another name")
            self._catalog.commit([{"op": f"put_{kind}", "db": database,
                                   "cache": definition.to_json()}])
        return definition, True

    async def _fill(self, database: str, cache: Cache) -> None:
        # Taking the stored data and attaching the cache happen together on the event loop, where
        # flushes are published, so every write is seen exactly once: in `stored` or by
        # `on_flush`. (Reading Parquet files blocks, but snapshots only move data between the
        # buffer and files under StoredData's lock, so the view stays complete.)
        stored = self._stored_data(database, cache.definition, True)
        self._attach(database, cache)
        await asyncio.to_thread(_backfill, cache, stored)

    def _stored_data(self, database: str, definition, with_buffer: bool) -> list[pa.Table]:
        """What is stored for the cache's table within its age limit, for back-fill."""
        with self._catalog.lock:
            schema = self._catalog.table(database, definition.table).arrow_schema()
        age_s = getattr(definition, "ttl_s", None) or getattr(definition, "max_age_s", None)
        since = time.time_ns() - int(age_s * 1e9) if age_s else None
        return self._data.read(database, definition.table, schema, since, with_buffer)

    def _attach(self, database: str, cache: Cache) -> None:
        kind = _KINDS[type(cache)]
        with self._lock:
            self._caches[(kind, database, cache.definition.name)] = cache
            key = (database, cache.definition.table)
            self._by_table[key] = (*self._by_table.get(key, ()), cache)

    def _detach(self, kind: str, database: str, name: str) -> None:
        with self._lock:
            cache = self._caches.pop((kind, database, name), None)
            if cache is None:
                return
            key = (database, cache.definition.table)
            rest = tuple(c for c in self._by_table.get(key, ()) if c is not cache)
            if rest:
                self._by_table[key] = rest
            else:
                self._by_table.pop(key, None)

    # -- lookups for queries and system tables

    def find(self, kind: str, database: str, table: str,
             name: str | None) -> tuple[Cache, Table]:
        """The cache `last_cache(table[, name])` or `distinct_cache(...)` reads."""
        with self._catalog.lock:
            table_def = self._catalog.table(database, table)
            candidates = [d for d in self._definitions(kind, database).values()
                          if d.table == table and (name is None or d.name == name)]
        if not candidates:
            raise CacheNotFound(kind, database, table, name)
        if len(candidates) > 1:
            raise InvalidRequest(
                f"table '{table}' has several {_LABELS[kind]}s; name one: "
                f"{kind}('{table}', '<name>') with a name among "
                + ", ".join(sorted(d.name for d in candidates)))
        cache = self._caches.get((kind, database, candidates[0].name))
        if cache is None:  # defined a moment ago and being attached
            raise CacheNotFound(kind, database, table, name)
        return cache, table_def

    def definitions(self, kind: str, database: str) -> list[tuple[object, Table]]:
        """Each cache of a live table in `database` with its table."""
        with self._catalog.lock:
            db = self._catalog.database(database)
            return [(d, db.tables[d.table]) for d in self._definitions(kind, database).values()
                    if d.table in db.tables and not db.tables[d.table].deleted]

    def _definitions(self, kind: str, database: str) -> dict:
        db = self._catalog.database(database)
        return db.last_caches if kind == "last_cache" else db.distinct_caches


def _realigned(data: pa.Table) -> pa.Table:
    """`data` in freshly allocated buffers. Tables decoded from a WAL file point into the file's
    bytes, not aligned as Arrow's Acero engine (used by `group_by`) wants."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return pa.ipc.open_stream(sink.getvalue()).read_all()


def _backfill(cache: Cache, stored: list[pa.Table]) -> None:
    now = time.time_ns()
    for chunk in stored:
        cache.update(_realigned(chunk), now, backfill=True)  # chunks may come from WAL files
