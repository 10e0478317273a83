"""The plugin cache across restarts: restored at start, saved every minute and at shutdown."""

from __future__ import annotations

import asyncio
import logging

from timewell.engine.cache import PluginCache
from timewell.storage.objectstore import Fenced, ObjectStore

log = logging.getLogger(__name__)

SAVE_INTERVAL_S = 60.0


class CacheStore:
    def __init__(self, cache: PluginCache, store: ObjectStore, path: str) -> None:
        self._cache = cache
        self._store = store
        self._path = path
        self._task: asyncio.Task | None = None

    def restore(self) -> None:
        try:
            lost = self._cache.restore(self._store.get(self._path))
        except FileNotFoundError:
            return
        except Exception as e:
            log.warning("plugin cache not restored (%s); starting with an empty cache", e)
            return
        for key in lost:
            log.warning("plugin cache entry %s could not be restored (its class may be gone)",
                        key)

    def save(self) -> None:
        try:
            data, dropped = self._cache.dump()
            for key in dropped:
                log.warning("plugin cache entry %s cannot be pickled; it is not kept across a "
                            "restart", key)
            self._store.durable_put(self._path, data)
        except Fenced:
            log.warning("plugin cache not saved: another server owns the store now")
        except Exception:
            log.exception("could not save the plugin cache")

    def start(self) -> None:
        """Evict expired entries and save, every SAVE_INTERVAL_S."""
        self._task = asyncio.create_task(self._keep(), name="plugin-cache")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.save()

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL_S)
            self._cache.evict_expired()
            await asyncio.to_thread(self.save)
