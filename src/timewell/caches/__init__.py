"""The last value cache and the distinct value cache: answers in well under a millisecond to
"what is the latest value per series?" and "which values exist?", kept current by WAL flushes
and queried with the SQL table functions `last_cache()` and `distinct_cache()`."""

from __future__ import annotations

from timewell.caches.distinct import DistinctValueCache
from timewell.caches.last import LastValueCache
from timewell.caches.service import CacheNotFound, CacheService

__all__ = ["CacheNotFound", "CacheService", "DistinctValueCache", "LastValueCache"]
