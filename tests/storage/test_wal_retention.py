"""WAL files kept for write triggers past the snapshot that covers them, within a byte bound,
and handed back (to the engine only) at replay."""

from __future__ import annotations

import asyncio

import pyarrow as pa

from timewell.storage.objectstore import ObjectStore
from timewell.storage.wal import Wal, WalFlush
from timewell.storage.walfile import TableWrite


class Recorder:
    def __init__(self) -> None:
        self.sequences: list[int] = []

    def on_flush(self, flush: WalFlush) -> None:
        self.sequences.append(flush.sequence)


def _flushes(store: ObjectStore, count: int) -> None:
    async def scenario() -> None:
        wal = Wal(store, "node", 0.001)
        await wal.start()
        for n in range(count):
            await wal.write([TableWrite("db", "t", pa.table({"v": [float(n)]}))], False)
        await wal.close()

    asyncio.run(scenario())


def _on_store(store: ObjectStore) -> list[int]:
    return [int(m.path.rsplit("/", 1)[-1][:-4]) for m in store.list("node/wal/")]


def test_delete_through_keeps_what_triggers_need_within_the_bound(tmp_path):
    store = ObjectStore.file(tmp_path)
    _flushes(store, 6)
    wal = Wal(store, "node", 0.01)
    wal.retain_from = lambda: 3
    assert wal.delete_through(5) == 2  # 1 and 2; 3..5 wanted by a trigger
    assert _on_store(store) == [3, 4, 5, 6]
    assert wal.removed_through == 2
    size = store.size("node/wal/00000000000000000003.wal")
    wal.max_retained_bytes = 2 * size
    assert wal.delete_through(5) == 1  # the oldest kept one goes past the bound
    assert _on_store(store) == [4, 5, 6]
    assert wal.removed_through == 3
    wal.retain_from = lambda: None  # no trigger behind: the snapshot's files all go
    wal.delete_through(5)
    assert _on_store(store) == [6]


def test_replay_hands_snapshotted_but_retained_files_to_the_engine_only(tmp_path):
    store = ObjectStore.file(tmp_path)
    _flushes(store, 5)
    wal = Wal(store, "node", 0.01)
    everyone, engine = Recorder(), Recorder()
    wal.subscribe(everyone)
    wal.subscribe(engine)
    wal.subscribe_retained(engine)
    wal.retain_from = lambda: 2
    assert wal.replay(persisted_through=3) == 2
    assert everyone.sequences == [4, 5]
    assert engine.sequences == [2, 3, 4, 5]
    assert _on_store(store) == [2, 3, 4, 5]
    assert wal.read_flush(2).sequence == 2 and wal.read_flush(1) is None
