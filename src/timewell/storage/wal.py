"""The write-ahead log: writes wait in a buffer until the next flush makes them durable.

Every flush interval the buffered writes are merged per table, written as one WAL file and
fsync'd, then published to the subscribers (queryable buffer, caches, processing engine), and
only then are the writers who asked for a durable write answered. The WAL does not know who its
subscribers are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from timewell.errors import Unavailable
from timewell.storage.objectstore import ObjectStore
from timewell.storage.walfile import CorruptWalFile, TableWrite, decode, encode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WalFlush:
    """One durable WAL file's contents: at most one TableWrite per (database, table).

    `replayed` is true when the file is read again at start-up: state rebuilt from it (buffer,
    caches) wants it, reactions to new data (write triggers) do not."""

    sequence: int
    writes: list[TableWrite]
    replayed: bool = False


class FlushSubscriber(Protocol):
    def on_flush(self, flush: WalFlush) -> None:
        """Called on the event loop after each durable flush; must be quick and not raise."""


class Wal:
    def __init__(self, store: ObjectStore, prefix: str, flush_interval_s: float) -> None:
        self._store = store
        self._prefix = f"{prefix}/wal/"
        self._interval = flush_interval_s
        self._subscribers: list[FlushSubscriber] = []
        self._pending: list[TableWrite] = []
        self._waiters: list[asyncio.Future] = []
        self._next_sequence = 1
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal")
        self._task: asyncio.Task | None = None
        self._closed = False
        self.last_flush_seconds = 0.0

    def subscribe(self, subscriber: FlushSubscriber) -> None:
        self._subscribers.append(subscriber)

    def replay(self, persisted_through: int = 0) -> int:
        """Publish every WAL file on the store to the subscribers, oldest first; return how many.

        Files up to `persisted_through` are already in Parquet files (a crash came between a
        snapshot and the removal of its WAL files): they are removed, not replayed. A torn or
        corrupt file is logged and skipped; the files around it are kept."""
        replayed = 0
        self._next_sequence = max(self._next_sequence, persisted_through + 1)
        for meta in self._store.list(self._prefix):
            name = meta.path.rsplit("/", 1)[-1]
            if not name.endswith(".wal"):
                continue
            sequence_in_name = int(name[:-4])
            self._next_sequence = max(self._next_sequence, sequence_in_name + 1)
            if sequence_in_name <= persisted_through:
                self._store.delete(meta.path)
                continue
            try:
                sequence, writes = decode(self._store.get(meta.path))
            except CorruptWalFile as e:
                log.error("skipping corrupt WAL file %s (%s): its writes were never "
                          "acknowledged or the file was damaged", meta.path, e)
                continue
            self._publish(WalFlush(sequence, writes, replayed=True))
            replayed += 1
        return replayed

    @property
    def last_sequence(self) -> int:
        """The sequence number of the last WAL file assigned."""
        return self._next_sequence - 1

    def oldest_sequence(self) -> int | None:
        """The oldest WAL file on the store (blocking I/O), None when there is none."""
        names = [m.path.rsplit("/", 1)[-1] for m in self._store.list(self._prefix)]
        sequences = [int(n[:-4]) for n in names if n.endswith(".wal")]
        return min(sequences) if sequences else None

    def delete_through(self, sequence: int) -> int:
        """Remove the WAL files a snapshot has made redundant (blocking I/O); how many."""
        removed = 0
        for meta in self._store.list(self._prefix):
            name = meta.path.rsplit("/", 1)[-1]
            if name.endswith(".wal") and int(name[:-4]) <= sequence:
                self._store.delete(meta.path)
                removed += 1
        return removed

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wal-flush")

    async def write(self, writes: list[TableWrite], no_sync: bool) -> None:
        """Buffer `writes`; unless `no_sync`, return once they are durable and published."""
        if self._closed:
            raise Unavailable("the server is shutting down; retry the write on another node")
        self._pending.extend(writes)
        if no_sync:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    async def close(self) -> None:
        """Flush what is buffered (no_sync writes included) and stop."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._flush()
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._flush()
            except Exception:  # the loop must survive anything one flush does
                log.exception("WAL flush failed")

    async def _flush(self) -> None:
        if not self._pending:
            return
        writes, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        sequence = self._next_sequence
        self._next_sequence += 1
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            merged = await loop.run_in_executor(self._executor, self._persist, sequence, writes)
        except Exception as e:
            log.exception("could not write WAL file %d", sequence)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(Unavailable(f"the write-ahead log could not be written "
                                                     f"({e}); the write was not applied, retry"))
            return
        self.last_flush_seconds = time.perf_counter() - started
        self._publish(WalFlush(sequence, merged))
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _persist(self, sequence: int, writes: list[TableWrite]) -> list[TableWrite]:
        merged = _merge(writes)
        self._store.durable_put(f"{self._prefix}{sequence:020d}.wal", encode(sequence, merged))
        return merged

    def _publish(self, flush: WalFlush) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber.on_flush(flush)
            except Exception:
                log.exception("WAL subscriber %r failed on flush %d", subscriber, flush.sequence)


def _merge(writes: list[TableWrite]) -> list[TableWrite]:
    """One TableWrite per (database, table), rows in arrival order."""
    grouped: dict[tuple[str, str], list[pa.Table]] = defaultdict(list)
    for write in writes:
        grouped[(write.database, write.table)].append(write.data)
    return [
        TableWrite(db, table, parts[0] if len(parts) == 1
                   else pa.concat_tables(parts, promote_options="default"))
        for (db, table), parts in grouped.items()
    ]
