"""The write-ahead log: writes wait in a buffer until the next flush makes them durable.

Every flush interval the buffered writes are merged per table, written as one WAL file and
fsync'd, then published to the subscribers (queryable buffer, caches, processing engine), and
only then are the writers who asked for a durable write answered. The WAL does not know who its
subscribers are.

A flush whose write fails may still have left its file on the store (written, then the fsync
failed; an S3 PUT that timed out after it landed). Each failure ends in one of two states:

- not applied: the file is deleted (durably), and the writers are answered 503 "not applied,
  retry". A retry lands in a later file, once (the failed sequence number is skipped).
- applied later: if the delete fails too, the file may be on the store and a restart would
  replay it, so the flush is kept in memory ("unsettled") and its file written again at every
  flush interval; once that succeeds it is published and its writers are answered 204. Until
  then newer writes are refused with 503 (not applied) and writes already buffered wait, so
  files are still published in sequence order. At shutdown a last attempt is made to write,
  else to delete, the file; only if both fail are its writers told the outcome is unknown
  (the file, if present, is replayed at the next start).

Write triggers read the WAL as their queue (engine/delivery.py): `retain_from` names the
oldest file some enabled write trigger has not processed yet, and files from there on outlive
the snapshot that covers them, up to `max_retained_bytes` (--trigger-max-lag); past that the
oldest go anyway and the trigger behind them reports the gap.

`no_sync` writes were answered when buffered; those in a flush that was not applied are lost,
as they are in a crash.

Two servers on one store with one node id (a replacement started before the old one stopped)
would write the same WAL file names. A WAL file is only ever created, never replaced
(`create_only`), so the second to write a sequence number finds it taken: that server has
been superseded. It answers the writes of that flush 503 (not applied; the other server has
the data directory now), refuses every later write, and calls `on_superseded` (the node
fences the store and stops the server). The newest server wins, as in InfluxDB 3.

Shutdown never abandons a flush halfway: a flush runs as its own task that the flush loop
awaits shielded, so cancelling the loop cannot cut it off between taking the buffered writes
and answering their writers; `close` waits for it, then flushes what is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from timewell.errors import Unavailable
from timewell.storage.objectstore import ObjectExists, ObjectStore
from timewell.storage.walfile import CorruptWalFile, TableWrite, decode_with_cursors, encode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WalFlush:
    """One durable WAL file's contents: at most one TableWrite per (database, table, table_id).

    `replayed` is true when the file is read again at start-up: state rebuilt from it (buffer,
    caches) wants it, reactions to new data (write triggers) do not."""

    sequence: int
    writes: list[TableWrite]
    replayed: bool = False
    # write triggers' cursors committed in this file with their runs' output (exactly-once)
    cursors: dict[str, int] = field(default_factory=dict)


class FlushSubscriber(Protocol):
    def on_flush(self, flush: WalFlush) -> None:
        """Called on the event loop after each durable flush; must be quick and not raise."""


class WalSuperseded(Exception):
    """Another process wrote the WAL file this one was about to write."""


@dataclass
class _Unsettled:
    """A flush whose file may or may not be on the store: writing it failed, so did deleting."""

    sequence: int
    writes: list[TableWrite]
    waiters: list[asyncio.Future]
    cursors: dict[str, int]


class Wal:
    def __init__(self, store: ObjectStore, prefix: str, flush_interval_s: float) -> None:
        self._store = store
        self._prefix = f"{prefix}/wal/"
        self._interval = flush_interval_s
        self._subscribers: list[FlushSubscriber] = []
        self._pending: list[TableWrite] = []
        self._pending_cursors: dict[str, int] = {}  # committed with the pending writes
        self._waiters: list[asyncio.Future] = []
        self._next_sequence = 1
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal")
        self._task: asyncio.Task | None = None  # the flush loop
        self._flushing: asyncio.Task | None = None  # the flush the loop runs now
        self._unsettled: _Unsettled | None = None
        self._closed = False
        self.last_flush_seconds = 0.0
        # Write triggers' hold on snapshotted files: the oldest sequence still wanted (None:
        # none), and how many bytes of such files may be kept for them.
        self.retain_from: Callable[[], int | None] = lambda: None
        self.max_retained_bytes = 1 << 30
        self._retained_readers: list[FlushSubscriber] = []
        self.removed_through = 0  # every WAL file up to here has been removed
        self.superseded: str | None = None  # why writes are refused for good, once they are
        self.on_superseded: Callable[[str], None] = lambda reason: None

    def subscribe(self, subscriber: FlushSubscriber) -> None:
        self._subscribers.append(subscriber)

    def subscribe_retained(self, reader: FlushSubscriber) -> None:
        """`reader` also gets, at replay, the files kept only for write triggers (already in
        Parquet files: the other subscribers must not see them again)."""
        self._retained_readers.append(reader)

    def replay(self, persisted_through: int = 0) -> int:
        """Publish every WAL file on the store to the subscribers, oldest first; return how many.

        Files up to `persisted_through` are already in Parquet files (a crash came between a
        snapshot and the removal of its WAL files): they are removed, not replayed. A torn or
        corrupt file is logged and skipped; the files around it are kept."""
        replayed = 0
        self._next_sequence = max(self._next_sequence, persisted_through + 1)
        keep_from = self.retain_from()
        for sequence_in_name, path in self._files():
            self._next_sequence = max(self._next_sequence, sequence_in_name + 1)
            persisted = sequence_in_name <= persisted_through
            if persisted and (keep_from is None or sequence_in_name < keep_from):
                self._store.delete(path)
                self.removed_through = max(self.removed_through, sequence_in_name)
                continue
            try:
                sequence, writes, cursors = decode_with_cursors(self._store.get(path))
            except CorruptWalFile as e:
                log.error("skipping corrupt WAL file %s (%s): its writes were never "
                          "acknowledged or the file was damaged", path, e)
                continue
            flush = WalFlush(sequence, writes, replayed=True, cursors=cursors)
            if persisted:  # kept for a write trigger only
                for reader in self._retained_readers:
                    reader.on_flush(flush)
                continue
            self._publish(flush)
            replayed += 1
        return replayed

    def read_flush(self, sequence: int) -> WalFlush | None:
        """A published flush read back from its file (blocking I/O); None when the file is
        gone (removed after a snapshot) or damaged."""
        try:
            number, writes, cursors = decode_with_cursors(self._store.get(self._path(sequence)))
        except FileNotFoundError:
            return None
        except CorruptWalFile as e:
            log.error("WAL file %d is damaged (%s)", sequence, e)
            return None
        return WalFlush(number, writes, replayed=True, cursors=cursors)

    async def barrier(self) -> None:
        """Return once everything buffered so far (no_sync writes included) is durable;
        Unavailable if its flush failed."""
        if self._pending or self._unsettled is not None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        elif self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)

    @property
    def last_sequence(self) -> int:
        """The sequence number of the last WAL file assigned."""
        return self._next_sequence - 1

    def oldest_sequence(self) -> int | None:
        """The oldest WAL file on the store (blocking I/O), None when there is none."""
        return min((sequence for sequence, _ in self._files()), default=None)

    def delete_through(self, sequence: int) -> int:
        """Remove the WAL files a snapshot has made redundant (blocking I/O), except those
        an enabled write trigger has not processed yet, within `max_retained_bytes` (the
        oldest go first past it); how many were removed."""
        redundant = [(number, path, size) for number, path, size in self._sized_files()
                     if number <= sequence]
        keep_from = self.retain_from()
        if keep_from is not None:
            kept = [f for f in redundant if f[0] >= keep_from]
            kept_bytes = sum(size for _, _, size in kept)
            while kept and kept_bytes > self.max_retained_bytes:
                kept_bytes -= kept.pop(0)[2]
            redundant = [f for f in redundant if f not in kept]
        for number, path, _ in redundant:
            self._store.delete(path)
            self.removed_through = max(self.removed_through, number)
        return len(redundant)

    def _files(self) -> list[tuple[int, str]]:
        """(sequence, path) of every WAL file on the store, oldest first (blocking I/O)."""
        return [(number, path) for number, path, _ in self._sized_files()]

    def _sized_files(self) -> list[tuple[int, str, int]]:
        """(sequence, path, size) of every WAL file on the store, oldest first."""
        found = []
        for meta in self._store.list(self._prefix):
            name = meta.path.rsplit("/", 1)[-1]
            if name.endswith(".wal"):
                found.append((int(name[:-4]), meta.path, meta.size))
        return sorted(found)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wal-flush")

    async def write(self, writes: list[TableWrite], no_sync: bool,
                    cursors: dict[str, int] | None = None) -> None:
        """Buffer `writes`; unless `no_sync`, return once they are durable and published.
        Unavailable when they were not applied (retry), or, at shutdown only, when the
        outcome could not be made sure of. `cursors` (write triggers' positions) land in the
        same WAL file as `writes`: both are durable, or neither."""
        if self.superseded is not None:
            raise Unavailable(self.superseded)
        if self._closed:
            raise Unavailable("the server is shutting down; retry the write on another node")
        if self._unsettled is not None:
            raise Unavailable("the write-ahead log cannot be written at the moment; the write "
                              "was not applied, retry")
        self._pending.extend(writes)
        for key, sequence in (cursors or {}).items():
            self._pending_cursors[key] = max(sequence, self._pending_cursors.get(key, 0))
        if no_sync:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    async def close(self) -> None:
        """Flush what is buffered (no_sync writes included), answer every writer, and stop."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        if self._flushing is not None:
            # The loop's last flush carries on after the loop is cancelled: let it finish.
            await asyncio.wait([self._flushing])
        await self._flush()
        if self._unsettled is not None:
            await self._give_up()
        if self._pending:
            # Only behind an unsettled flush: these were never written anywhere.
            log.error("%d buffered writes could not be written before shutdown",
                      len(self._pending))
            self._pending, self._pending_cursors = [], {}
            _fail(self._waiters, "the write-ahead log could not be written before shutdown; "
                                 "the write was not applied, retry")
            self._waiters = []
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if not self._pending and self._unsettled is None:
                continue
            if self._flushing is None or self._flushing.done():
                self._flushing = asyncio.create_task(self._flush_logged(), name="wal-flush-once")
            # Shielded: cancelling the loop must not cut a flush off after it took the
            # buffered writes and before it answered their writers.
            await asyncio.shield(self._flushing)

    async def _flush_logged(self) -> None:
        try:
            await self._flush()
        except Exception:  # the loop must survive anything one flush does
            log.exception("WAL flush failed")

    async def _flush(self) -> None:
        if self._unsettled is not None and not await self._settle():
            return  # buffered writes wait behind it, so files are published in order
        if not self._pending:
            return
        writes, waiters, cursors = self._pending, self._waiters, self._pending_cursors
        self._pending, self._waiters, self._pending_cursors = [], [], {}
        sequence = self._next_sequence
        self._next_sequence += 1  # never reused, whatever happens to this flush
        started = time.perf_counter()
        try:
            merged = await self._in_executor(self._persist, sequence, writes, cursors)
        except WalSuperseded:
            self._supersede(sequence, waiters)
            return
        except Exception as e:
            log.exception("could not write WAL file %d", sequence)
            if await self._in_executor(self._remove, sequence):
                _fail(waiters, f"the write-ahead log could not be written ({e}); the write was "
                               f"not applied, retry")
            else:
                self._unsettled = _Unsettled(sequence, writes, waiters, cursors)
                log.error("WAL file %d may be on the store: its writes are kept and the file "
                          "written again at every flush; new writes are refused until then",
                          sequence)
            return
        self.last_flush_seconds = time.perf_counter() - started
        self._complete(sequence, merged, waiters, cursors)

    async def _settle(self) -> bool:
        """Write the unsettled flush's file again; True once it is durable and published."""
        unsettled = self._unsettled
        try:
            merged = await self._in_executor(self._persist, unsettled.sequence, unsettled.writes,
                                             unsettled.cursors)
        except WalSuperseded:
            self._unsettled = None
            self._supersede(unsettled.sequence, unsettled.waiters)
            return False
        except Exception as e:
            log.warning("WAL file %d still cannot be written (%s); retrying at the next flush",
                        unsettled.sequence, e)
            return False
        self._unsettled = None
        log.info("WAL file %d written on retry; its writes are applied", unsettled.sequence)
        self._complete(unsettled.sequence, merged, unsettled.waiters, unsettled.cursors)
        return True

    async def _give_up(self) -> None:
        """At shutdown: the unsettled file could not be written; delete it if we can."""
        unsettled, self._unsettled = self._unsettled, None
        if await self._in_executor(self._remove, unsettled.sequence):
            _fail(unsettled.waiters, "the write-ahead log could not be written before "
                                     "shutdown; the write was not applied, retry")
        else:
            log.error("WAL file %d could be neither written nor removed before shutdown; if it "
                      "is on the store its writes are replayed at the next start",
                      unsettled.sequence)
            _fail(unsettled.waiters, "the server is shutting down and could not make sure "
                                     "whether the write was applied; query before retrying")

    def _supersede(self, sequence: int, waiters: list[asyncio.Future]) -> None:
        """Another server wrote WAL file `sequence`: refuse every write from now on (the file
        is theirs: it is not removed), and say so."""
        self.superseded = (
            f"another process has written to the WAL ahead of this one (WAL file {sequence} "
            f"exists): two servers are running on the same data directory or bucket with the "
            f"same node id, and the other one now owns it. This server stops; the write was not "
            f"applied: send it to the other server")
        log.error("%s", self.superseded)
        _fail(waiters, self.superseded)
        _fail(self._waiters, self.superseded)
        self._pending, self._waiters, self._pending_cursors = [], [], {}
        self.on_superseded(self.superseded)

    def _complete(self, sequence: int, merged: list[TableWrite],
                  waiters: list[asyncio.Future], cursors: dict[str, int]) -> None:
        self._publish(WalFlush(sequence, merged, cursors=cursors))
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _in_executor(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _path(self, sequence: int) -> str:
        return f"{self._prefix}{sequence:020d}.wal"

    def _persist(self, sequence: int, writes: list[TableWrite],
                 cursors: dict[str, int]) -> list[TableWrite]:
        merged = _merge(writes)
        data = encode(sequence, merged, cursors)
        try:
            self._store.durable_put(self._path(sequence), data, create_only=True)
        except ObjectExists:
            # Our own earlier attempt (it landed, then failed), or another server's file.
            if self._store.get(self._path(sequence)) != data:
                raise WalSuperseded(sequence) from None
        return merged

    def _remove(self, sequence: int) -> bool:
        """Delete a WAL file whose write failed; whether it is sure to be gone."""
        try:
            self._store.durable_delete(self._path(sequence))
        except Exception:
            log.exception("could not remove WAL file %d after its write failed", sequence)
            return False
        return True

    def _publish(self, flush: WalFlush) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber.on_flush(flush)
            except Exception:
                log.exception("WAL subscriber %r failed on flush %d", subscriber, flush.sequence)


def _fail(waiters: list[asyncio.Future], message: str) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(Unavailable(message))


def _merge(writes: list[TableWrite]) -> list[TableWrite]:
    """One TableWrite per (database, table, table id), rows in arrival order. Writes to a table
    deleted and created again under the same name meanwhile stay apart (their ids differ)."""
    grouped: dict[tuple[str, str, int | None], list[pa.Table]] = defaultdict(list)
    for write in writes:
        grouped[(write.database, write.table, write.table_id)].append(write.data)
    return [
        TableWrite(db, table, parts[0] if len(parts) == 1
                   else pa.concat_tables(parts, promote_options="default"), table_id)
        for (db, table, table_id), parts in grouped.items()
    ]
