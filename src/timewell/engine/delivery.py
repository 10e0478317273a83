"""At-least-once delivery of WAL flushes to one write trigger: the WAL is the queue.

The trigger's cursor is the last flush it has fully processed (run returned, its queued
writes buffered in the WAL); it is saved durably (cursors.py) only once those writes are
durable too, so after a crash the trigger resumes from a point whose effects are on disk and
runs the flushes after it again. Memory holds pointers (flush_log.py); a trigger that is
behind reads several flushes into one run. A run_async trigger's runs overlap, but the cursor
passes a flush only when every earlier one is done.

A flush that is gone (its WAL file removed past --trigger-max-lag) is skipped: the trigger is
marked lagging and the gap is logged as an error and counted, never silent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from timewell.engine.cursors import CursorStore, cursor_key
from timewell.engine.events import Invocation
from timewell.engine.flush_log import FlushInfo, FlushLog, combined_event
from timewell.engine.logs import EngineLog
from timewell.engine.runner import ASYNC_LIMIT, TriggerRunner
from timewell.engine.stats import EngineStats
from timewell.storage.wal import Wal

log = logging.getLogger(__name__)

BATCH_FLUSHES = 1000  # flushes one run takes at most when the trigger is behind
BATCH_ROWS = 250_000  # about this many rows per run at most (a single flush may hold more)
SAVE_RETRY_S = 1.0
# At most ten durable cursor saves a second per trigger: a trigger keeping up with 10 ms
# flushes must not cost an fsync per flush. The runs' output commits the cursor in the WAL
# anyway (exactly-once); the saved record bounds redelivery after a crash and WAL retention.
SAVE_INTERVAL_S = 0.1


class WriteDelivery:
    def __init__(self, runner: TriggerRunner, table: str | None, flushes: FlushLog,
                 wal: Wal | None, cursors: CursorStore, stats: EngineStats,
                 engine_log: EngineLog, cursor: int, attempted: int) -> None:
        self._runner = runner
        self.database = runner.database_name
        self.name = runner.name
        self.table = table
        self._key = cursor_key(self.database, self.name)
        self._flushes = flushes
        self._wal = wal
        self._cursors = cursors
        self._stats = stats
        self._log = engine_log
        self.cursor = cursor  # processed through here (in memory)
        self.saved_cursor = cursor  # processed through here, durably
        self._dispatched = cursor  # handed to runs through here
        self._redeliver_through = attempted  # runs had these before the restart
        self._attempted = max(attempted, cursor)
        self._saved_attempted = attempted
        self._in_flight: list[int] = []  # the `through` of each dispatched batch, in order
        self._finished: set[int] = set()
        self._wake = asyncio.Event()
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._runs: set[asyncio.Task] = set()
        self._overlap = asyncio.Semaphore(ASYNC_LIMIT)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._deliver(), name=f"deliver-{self.name}"),
                       asyncio.create_task(self._save_loop(), name=f"cursor-{self.name}")]
        self._wake.set()  # flushes after the cursor may be waiting (a restart)

    def wake(self) -> None:
        self._wake.set()

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def stop(self) -> None:
        """After the runner stopped: save where the trigger got to."""
        self.cancel()
        for task in self._runs:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._runs, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._save_once()

    # -- delivering

    async def _deliver(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while not self._runner.stopped:
                batch, through = self._flushes.next_batch(
                    self._dispatched, self.database, self.table, BATCH_FLUSHES, BATCH_ROWS)
                if through <= self._dispatched:
                    break
                if not batch:  # nothing for this trigger up to `through`: pass it
                    self._dispatch(through)
                    self._finish(through)
                    continue
                invocation = await self._invocation(batch, through)
                if invocation is None:
                    continue  # a gap was skipped; look again
                self._dispatch(through)
                if self._runner.definition.run_async:
                    await self._overlap.acquire()
                    task = asyncio.create_task(self._run(invocation, through, self._overlap))
                    self._runs.add(task)
                    task.add_done_callback(self._runs.discard)
                else:
                    await self._run(invocation, through, None)

    async def _run(self, invocation: Invocation, through: int,
                   slot: asyncio.Semaphore | None) -> None:
        try:
            await self._runner.run_guarded(invocation)
        finally:
            if slot is not None:
                slot.release()
        # A run cut off by the trigger stopping did not process its flushes: not passed.
        if not self._runner.stopped:
            self._finish(through)

    async def _invocation(self, batch: list[FlushInfo], through: int) -> Invocation | None:
        newest = batch[-1]
        removed = self._wal.removed_through if self._wal is not None else 0
        if batch[0].sequence <= removed:
            # Its file is gone (past --trigger-max-lag), even if memory still has the data:
            # what a trigger gets must not depend on what happens to be in memory.
            await self._skip_gap(removed)
            return None
        if len(batch) == 1 and self._flushes.is_recent(newest.sequence):
            flush = self._flushes.load(newest.sequence)
            event = self._flushes.event(flush, self.database, self.table)
        else:
            flushes = await asyncio.to_thread(
                lambda: [self._flushes.load(info.sequence) for info in batch])
            missing = [info for info, flush in zip(batch, flushes, strict=True) if flush is None]
            if missing:
                await self._skip_gap(missing[-1].sequence)
                return None
            event = combined_event(flushes, self.database, self.table)
        redelivered = sum(1 for info in batch if info.sequence <= self._redeliver_through)
        if redelivered:
            self._stats.add(self.database, self.name, "redelivered_flushes", redelivered)
        # Keeping up: the latency counts from the flush; catching up: from now.
        created = newest.created if through >= self._flushes.last_sequence else time.perf_counter()
        # Exactly-once for the run's queued writes: they carry the cursor past this batch
        # into the WAL. Not for run_async: an earlier batch may still be running.
        commits = None if self._runner.definition.run_async else {self._key: through}
        # "wal plugin": the log line upstream writes
        return Invocation("process_writes", event, self._runner.definition.trigger_arguments,
                          "wal plugin", created=created, commits=commits)

    async def _skip_gap(self, missing_through: int) -> None:
        """Flushes up to at least `missing_through` are gone from the WAL: skip to the oldest
        one still there, loudly."""
        skip_through = missing_through
        if self._wal is not None:
            oldest = await asyncio.to_thread(self._wal.oldest_sequence)
            skip_through = max(skip_through, self._wal.removed_through,
                               (oldest - 1) if oldest is not None else 0)
        skipped = [info for info in self._flushes.pending(self._dispatched, self.database,
                                                          self.table)
                   if info.sequence <= skip_through]
        rows = sum(info.rows_for(self.database, self.table) for info in skipped)
        self._stats.add(self.database, self.name, "skipped_rows", rows)
        self._stats.add(self.database, self.name, "skipped_flushes", len(skipped))
        self._stats.set_lagging(self.database, self.name, True)
        message = (f"trigger fell behind past --trigger-max-lag: {len(skipped)} WAL flushes "
                   f"({rows} rows) after flush {self._dispatched} were removed before it "
                   f"processed them and are skipped; it resumes after flush {skip_through}")
        self._log.add(self.database, self.name, "ERROR", message)
        log.error("trigger '%s' in database '%s': %s", self.name, self.database, message)
        self._dispatch(skip_through)
        self._finish(skip_through)

    def _dispatch(self, through: int) -> None:
        self._dispatched = through
        self._in_flight.append(through)
        self._attempted = max(self._attempted, through)

    def _finish(self, through: int) -> None:
        self._finished.add(through)
        advanced = False
        while self._in_flight and self._in_flight[0] in self._finished:
            self._finished.discard(self._in_flight[0])
            self.cursor = self._in_flight.pop(0)
            advanced = True
        if advanced:
            if self.cursor >= self._flushes.last_sequence:
                self._stats.set_lagging(self.database, self.name, False)
            self._dirty.set()

    # -- saving the cursor

    async def _save_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._save_once()
            except Exception as e:
                log.warning("trigger '%s': saving its cursor failed (%s); retrying",
                            self.name, e)
                await asyncio.sleep(SAVE_RETRY_S)
                self._dirty.set()
                continue
            await asyncio.sleep(SAVE_INTERVAL_S)

    async def _save_once(self) -> None:
        cursor, attempted = self.cursor, self._attempted
        if cursor == self.saved_cursor and attempted == self._saved_attempted:
            return
        if self._wal is not None:
            # The runs' queued writes up to the cursor must be durable before it says so.
            await self._wal.barrier()
        await asyncio.to_thread(self._cursors.save, self.database, self.name,
                                {"wal_sequence": cursor, "attempted_through": attempted})
        self.saved_cursor = max(self.saved_cursor, cursor)
        self._saved_attempted = attempted

    def lag(self):
        return self._flushes.lag(self.cursor, self.database, self.table)
