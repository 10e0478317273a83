"""A write trigger's delivery: overlapping runs advance the cursor only over a prefix of
finished flushes; the cursor is saved once the runs are done."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pyarrow as pa

from timewell.engine.delivery import WriteDelivery
from timewell.engine.flush_log import FlushLog
from timewell.engine.logs import EngineLog
from timewell.engine.stats import EngineStats
from timewell.storage.wal import WalFlush
from timewell.storage.walfile import TableWrite


class Runner:
    """Runs that end when the test says so."""

    def __init__(self, run_async: bool) -> None:
        self.database_name, self.name, self.stopped = "db", "t", False
        self.definition = SimpleNamespace(run_async=run_async, trigger_arguments=None)
        self.runs: list[tuple[object, asyncio.Future]] = []

    async def run_guarded(self, invocation) -> None:
        done = asyncio.get_running_loop().create_future()
        self.runs.append((invocation, done))
        await done


class Cursors:
    def __init__(self) -> None:
        self.saved: list[dict] = []

    def save(self, database: str, name: str, record: dict) -> None:
        self.saved.append(record)


def _flush(sequence: int) -> WalFlush:
    return WalFlush(sequence, [TableWrite("db", "a", pa.table({"v": [sequence]}))])


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)


def test_run_async_cursor_passes_a_flush_only_when_every_earlier_one_is_done():
    async def scenario() -> None:
        runner, cursors, flushes = Runner(run_async=True), Cursors(), FlushLog(lambda _s: None)
        delivery = WriteDelivery(runner, "a", flushes, None, cursors, EngineStats(),
                                 EngineLog(), cursor=0, attempted=0)
        delivery.start()
        for sequence in (1, 2, 3):
            flushes.add(_flush(sequence))
            delivery.wake()
            await _settle()
        assert len(runner.runs) == 3  # overlapping, one flush each
        runner.runs[1][1].set_result(None)
        await _settle()
        assert delivery.cursor == 0  # flush 1 still running
        runner.runs[0][1].set_result(None)
        await _settle()
        assert delivery.cursor == 2
        runner.runs[2][1].set_result(None)
        await _settle()
        assert delivery.cursor == 3
        await delivery.stop()  # saves where it got to
        assert cursors.saved[-1]["wal_sequence"] == 3

    asyncio.run(scenario())


def test_behind_one_run_takes_all_flushes_and_a_stopped_run_is_not_passed():
    async def scenario() -> None:
        runner, cursors, flushes = Runner(run_async=False), Cursors(), FlushLog(lambda _s: None)
        for sequence in (1, 2, 3):
            flushes.add(_flush(sequence))
        stats = EngineStats()
        delivery = WriteDelivery(runner, "a", flushes, None, cursors, stats,
                                 EngineLog(), cursor=0, attempted=2)
        delivery.start()
        await _settle()
        (invocation, done), = runner.runs
        assert [t.column("v").to_pylist() for _, t in invocation.event.tables] == [[1, 2, 3]]
        runner.stopped = True  # the trigger stops while the run is going
        done.set_result(None)
        await _settle()
        assert delivery.cursor == 0 and cursors.saved == []
        # runs had flushes 1 and 2 before the restart
        assert stats.of("db", "t").redelivered_flushes == 2
        await delivery.stop()

    asyncio.run(scenario())
