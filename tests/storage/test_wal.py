from __future__ import annotations

import asyncio

import pyarrow as pa

from timewell.storage.objectstore import ObjectStore
from timewell.storage.wal import Wal, WalFlush
from timewell.storage.walfile import TableWrite


class Recorder:
    def __init__(self) -> None:
        self.flushes: list[WalFlush] = []

    def on_flush(self, flush: WalFlush) -> None:
        self.flushes.append(flush)


def write(table: str, value: float) -> TableWrite:
    return TableWrite("db", table, pa.table({"v": [value],
                                             "time": pa.array([1], pa.timestamp("ns"))}))


def test_flush_merges_per_table_and_replays(tmp_path):
    store = ObjectStore.file(tmp_path)
    recorder = Recorder()

    async def scenario() -> None:
        wal = Wal(store, "node", 0.01)
        wal.subscribe(recorder)
        await wal.start()
        await asyncio.gather(wal.write([write("a", 1)], False), wal.write([write("a", 2)], False),
                             wal.write([write("b", 3)], False))
        await wal.close()

    asyncio.run(scenario())
    assert len(recorder.flushes) == 1
    merged = {w.table: w.data.column("v").to_pylist() for w in recorder.flushes[0].writes}
    assert merged == {"a": [1.0, 2.0], "b": [3.0]}

    replayed = Recorder()
    wal = Wal(store, "node", 0.01)
    wal.subscribe(replayed)
    assert wal.replay() == 1
    assert replayed.flushes[0].sequence == recorder.flushes[0].sequence


def test_failing_subscriber_does_not_stop_others(tmp_path):
    class Broken:
        def on_flush(self, flush: WalFlush) -> None:
            raise RuntimeError("boom")

    recorder = Recorder()

    async def scenario() -> None:
        wal = Wal(ObjectStore.memory(), "node", 0.01)
        wal.subscribe(Broken())
        wal.subscribe(recorder)
        await wal.start()
        await wal.write([write("a", 1)], False)
        await wal.close()

    asyncio.run(scenario())
    assert len(recorder.flushes) == 1
