"""What the engine knows of the WAL flushes its write triggers have not all passed: pointers
(sequence number, rows per table, when it was published), never a queue of copies. The data
of the most recent flushes stays reachable (the same Arrow tables the queryable buffer holds)
so that a trigger keeping up never reads a file; a trigger behind reads the WAL files."""

from __future__ import annotations

import bisect
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from timewell.engine.events import WriteEvent
from timewell.engine.rows import flush_tables
from timewell.storage.wal import WalFlush

RECENT_BYTES = 64 << 20  # data of the newest flushes kept reachable for triggers keeping up


@dataclass
class FlushInfo:
    sequence: int
    rows: dict[tuple[str, str], int]  # (database, table) -> rows in the flush
    created: float = field(default_factory=time.perf_counter)  # activation latency from here
    published_at: float = field(default_factory=time.time)  # lag_seconds from here

    def rows_for(self, database: str, table: str | None) -> int:
        return sum(n for (db, name), n in self.rows.items()
                   if db == database and (table is None or name == table))


@dataclass
class Lag:
    flushes: int
    rows: int
    seconds: float


class FlushLog:
    def __init__(self, read_flush: Callable[[int], WalFlush | None]) -> None:
        self._read = read_flush  # blocking: from the WAL file
        self._sequences: list[int] = []
        self._info: dict[int, FlushInfo] = {}
        self._recent: OrderedDict[int, WalFlush] = OrderedDict()
        self._recent_bytes = 0
        # One WriteEvent per (sequence, database, table) while some run holds it: in process
        # mode its data is copied to shared memory once for every trigger that takes it.
        self._events: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.last_sequence = 0  # the newest flush published

    def add(self, flush: WalFlush) -> None:
        self.last_sequence = max(self.last_sequence, flush.sequence)
        if flush.sequence in self._info:
            return
        rows: dict[tuple[str, str], int] = {}
        nbytes = 0
        for write in flush.writes:
            key = (write.database, write.table)
            rows[key] = rows.get(key, 0) + write.data.num_rows
            nbytes += write.data.nbytes
        self._info[flush.sequence] = FlushInfo(flush.sequence, rows)
        if not self._sequences or flush.sequence > self._sequences[-1]:
            self._sequences.append(flush.sequence)
        else:
            bisect.insort(self._sequences, flush.sequence)
        self._recent[flush.sequence] = flush
        self._recent_bytes += nbytes
        while self._recent_bytes > RECENT_BYTES and len(self._recent) > 1:
            _, old = self._recent.popitem(last=False)
            self._recent_bytes -= sum(w.data.nbytes for w in old.writes)

    def next_batch(self, after: int, database: str, table: str | None, max_flushes: int,
                   max_rows: int) -> tuple[list[FlushInfo], int]:
        """The flushes after `after` holding rows for the trigger, oldest first, at most
        `max_flushes` / about `max_rows`; and the sequence the batch reaches (flushes with
        nothing for the trigger up to there are passed too)."""
        batch: list[FlushInfo] = []
        rows = 0
        through = after
        for index in range(bisect.bisect_right(self._sequences, after), len(self._sequences)):
            info = self._info[self._sequences[index]]
            count = info.rows_for(database, table)
            if count and batch and (len(batch) >= max_flushes or rows + count > max_rows):
                return batch, through
            if count:
                batch.append(info)
                rows += count
            through = info.sequence
        return batch, max(through, self.last_sequence) if not batch else through

    def pending(self, after: int, database: str, table: str | None) -> list[FlushInfo]:
        # .get: the stats table asks from a query thread while the loop may prune
        return [info for seq in self._sequences[bisect.bisect_right(self._sequences, after):]
                if (info := self._info.get(seq)) is not None
                and info.rows_for(database, table)]

    def lag(self, after: int, database: str, table: str | None) -> Lag:
        pending = self.pending(after, database, table)
        return Lag(len(pending), sum(i.rows_for(database, table) for i in pending),
                   time.time() - pending[0].published_at if pending else 0.0)

    def is_recent(self, sequence: int) -> bool:
        return sequence in self._recent

    def load(self, sequence: int) -> WalFlush | None:
        """The flush's data: in memory when recent, else from its WAL file (blocking I/O);
        None when neither has it any more."""
        flush = self._recent.get(sequence)
        return flush if flush is not None else self._read(sequence)

    def event(self, flush: WalFlush, database: str, table: str | None) -> WriteEvent:
        key = (flush.sequence, database, table)
        event = self._events.get(key)
        if event is None:
            event = WriteEvent(flush_tables(flush, database, table))
            self._events[key] = event
        return event

    def prune(self, through: int) -> None:
        """Forget flushes up to `through`: every write trigger has passed them."""
        cut = bisect.bisect_right(self._sequences, through)
        for seq in self._sequences[:cut]:
            del self._info[seq]
            flush = self._recent.pop(seq, None)
            if flush is not None:
                self._recent_bytes -= sum(w.data.nbytes for w in flush.writes)
        del self._sequences[:cut]


def combined_event(flushes: list[WalFlush], database: str, table: str | None) -> WriteEvent:
    """Several flushes as one run's `table_batches`: one entry per table, rows in WAL order."""
    parts: dict[str, list[pa.Table]] = {}
    for flush in flushes:
        for name, data in flush_tables(flush, database, table):
            parts.setdefault(name, []).append(data)
    return WriteEvent([(name, tables[0] if len(tables) == 1
                        else pa.concat_tables(tables, promote_options="default"))
                       for name, tables in parts.items()])
