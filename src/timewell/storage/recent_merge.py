"""A table's recent Parquet files merged into one run, so that queries over data already
snapshotted cost what they cost over the buffer.

Every snapshot writes a file per table and time chunk, each sorted by series then time, and
the Parquet cache keeps their row groups decoded. Still, a panel over the last hour then reads
a few dozen small runs where the buffer had one: each is looked up, narrowed and gathered on
its own, and that, not decoding, is what an hour over Parquet costs more than an hour in the
buffer (2-2.5× for a region or `last()` per host). So once a table has several recent files
(those the Parquet cache keeps), a background thread merges them into one run, sorted by
series then time like the buffer's, and views take that run in their place.

It stands for exactly the files it was built from: a view uses it only while every one of
them is live and no other file overlaps one of them in time (late data for an old chunk
arrives as a new, overlapping file; until a new merge covers it too, the files are read one
by one and merged by last write wins as usual). Files are immutable, so the merged rows never
go stale; a merge whose files compaction, retention or a delete removed is dropped. Its bytes
count in the Parquet cache's budget (`--parquet-mem-cache-size`), whose row groups of the
same files it makes unneeded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from timewell.storage.buffer import Run
from timewell.storage.dedup import sort_and_deduplicate
from timewell.storage.parquet_cache import ParquetCache
from timewell.storage.parquet_index import ParquetFile

log = logging.getLogger(__name__)

MIN_FILES = 2  # one file's run is what the cache has already
REBUILD_AFTER_S = 5.0  # at most one merge per table this often (snapshots come in bursts)
GIVE_UP_FOR_S = 300.0  # after a merge too big for the budget


@dataclass(frozen=True)
class Merged:
    run: Run
    ranges: dict[str, tuple[int, int]]  # each file it stands for: its time range


class RecentMerges:
    def __init__(self, cache: ParquetCache,
                 read: Callable[[ParquetFile], list[Run]],
                 recent: Callable[[ParquetFile], bool]) -> None:
        self._cache = cache
        self._read = read  # a file's rows, as runs (from the cache when it is recent)
        self._recent = recent
        self._lock = threading.Lock()
        self._merged: dict[tuple[str, str], Merged] = {}
        self._building: dict[tuple[str, str], threading.Thread] = {}
        self._not_before: dict[tuple[str, str], float] = {}  # monotonic seconds
        self.min_interval_s = REBUILD_AFTER_S

    def apply(self, database: str, table: str, runs: list[Run],
              files: list[ParquetFile]) -> tuple[list[Run], list[ParquetFile]]:
        """The view's runs and files with the table's merge in place of its files, when it
        stands for live files nothing else overlaps; starts a new merge when due."""
        key = (database, table)
        with self._lock:
            merged = self._merged.get(key)
        if merged is not None and not _usable(merged, files):
            merged = None
        eligible = self._eligible(files)
        due = (any(f.path not in merged.ranges for f in eligible) if merged is not None
               else len(eligible) >= MIN_FILES)
        if due:
            self._start(key, eligible)
        if merged is None:
            return runs, files
        return [*runs, merged.run], [f for f in files if f.path not in merged.ranges]

    def forget(self, paths) -> None:
        """Drop the merges that stand for a file that no longer exists."""
        gone = set(paths)
        with self._lock:
            for key, merged in list(self._merged.items()):
                if gone & merged.ranges.keys():
                    del self._merged[key]
                    self._cache.release(merged.run.data.nbytes)

    def _eligible(self, files: list[ParquetFile]) -> list[ParquetFile]:
        """The recent files that overlap no other file, in time order."""
        recent = sorted((f for f in files if self._recent(f)), key=lambda f: f.min_time_ns)
        return [f for f in recent if not any(_overlap(f, g) for g in files if g is not f)]

    def merged_files(self) -> int:
        """How many files the merges in place stand for (/metrics)."""
        with self._lock:
            return sum(len(m.ranges) for m in self._merged.values())

    def wait(self) -> None:
        """Until the merges being built are in place (tests)."""
        with self._lock:
            threads = list(self._building.values())
        for thread in threads:
            thread.join()

    def _start(self, key: tuple[str, str], files: list[ParquetFile]) -> None:
        now = time.monotonic()
        with self._lock:
            if key in self._building or now < self._not_before.get(key, 0.0):
                return
            self._not_before[key] = now + self.min_interval_s
            thread = self._building[key] = threading.Thread(
                target=self._build, args=(key, files), daemon=True, name="recent-merge")
        thread.start()

    def _build(self, key: tuple[str, str], files: list[ParquetFile]) -> None:
        try:
            data = pa.concat_tables([run.data for f in files for run in self._read(f)],
                                    promote_options="permissive")
            if not self._cache.hold(data.nbytes):
                with self._lock:  # too big for the budget: the files stay read one by one
                    self._not_before[key] = time.monotonic() + GIVE_UP_FOR_S
                return
            # Sorted by every tag then time: each series contiguous, as in the buffer's runs.
            run = Run.of(sort_and_deduplicate(data, []), max(f.order for f in files))
            merged = Merged(run, {f.path: (f.min_time_ns, f.max_time_ns) for f in files})
            with self._lock:
                old = self._merged.get(key)
                self._merged[key] = merged
            if old is not None:
                self._cache.release(old.run.data.nbytes)
        except Exception:
            log.exception("merging the recent files of %s failed; they are read one by one",
                          "/".join(key))
        finally:
            with self._lock:
                self._building.pop(key, None)


def _usable(merged: Merged, files: list[ParquetFile]) -> bool:
    live = {f.path for f in files}
    if not merged.ranges.keys() <= live:
        return False
    return not any(f.path not in merged.ranges
                   and any(f.min_time_ns <= high and low <= f.max_time_ns
                           for low, high in merged.ranges.values())
                   for f in files)


def _overlap(a: ParquetFile, b: ParquetFile) -> bool:
    return a.min_time_ns <= b.max_time_ns and b.min_time_ns <= a.max_time_ns
