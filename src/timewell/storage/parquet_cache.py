"""Row groups of recent Parquet files kept decoded in memory, so that a dashboard's repeated
queries over data already snapshotted cost what they cost over the buffer.

Reading a row group from Parquet (decompress, decode, build Arrow arrays) costs 0.3-0.5 ms
however few of its rows a query wants, and a one-host panel over an hour touches a row group
in each of several files. A cached row group is a `Run` like the buffer's: sorted by series key
then time, with its series index, so a tag filter takes only the matching rows.

What is cached (as InfluxDB 3's Parquet cache, whose flags these are): row groups that queries
read from files whose newest row is within `--parquet-mem-cache-query-path-duration` of now
(older history is read from Parquet each time), least recently used first out once the cache
holds `--parquet-mem-cache-size` bytes. Files are immutable, so an entry never goes stale; the
entries of a file that compaction, retention or a delete removed are dropped with it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from timewell.storage.buffer import Run

Key = tuple[str, int]  # (file path, row group)


class ParquetCache:
    def __init__(self, max_bytes: int, recent_ns: int) -> None:
        self.max_bytes = max_bytes
        self.recent_ns = recent_ns  # files with rows newer than now - this are cached
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, Run] = OrderedDict()
        self._by_path: dict[str, set[int]] = {}
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, path: str, group: int) -> Run | None:
        with self._lock:
            run = self._entries.get((path, group))
            if run is None:
                self.misses += 1
                return None
            self._entries.move_to_end((path, group))
            self.hits += 1
            return run

    def put(self, path: str, group: int, run: Run) -> None:
        size = run.data.nbytes
        if size > self.max_bytes:
            return
        with self._lock:
            if (path, group) in self._entries:
                return
            self._entries[(path, group)] = run
            self._by_path.setdefault(path, set()).add(group)
            self.nbytes += size
            while self.nbytes > self.max_bytes and self._entries:
                (old_path, old_group), old = self._entries.popitem(last=False)
                self._forget_entry(old_path, old_group, old)

    def hold(self, nbytes: int) -> bool:
        """Count `nbytes` held elsewhere (a merge of recent files) in the budget, making room
        by dropping the least recently used row groups; False (nothing counted) if it would
        take more than half the budget."""
        if nbytes > self.max_bytes // 2:
            return False
        with self._lock:
            self.nbytes += nbytes
            while self.nbytes > self.max_bytes and self._entries:
                (old_path, old_group), old = self._entries.popitem(last=False)
                self._forget_entry(old_path, old_group, old)
        return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.nbytes -= nbytes

    def forget(self, paths) -> None:
        """Drop the entries of files that no longer exist."""
        with self._lock:
            for path in paths:
                for group in self._by_path.get(path, set()).copy():
                    self._forget_entry(path, group, self._entries.pop((path, group)))

    def _forget_entry(self, path: str, group: int, run: Run) -> None:
        self.nbytes -= run.data.nbytes
        groups = self._by_path[path]
        groups.discard(group)
        if not groups:
            del self._by_path[path]
