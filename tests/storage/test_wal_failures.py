"""What a failed or interrupted WAL flush leaves behind: one well-defined state, never a write
reported failed that comes back after a restart, never a writer left unanswered."""

from __future__ import annotations

import asyncio
import threading

import pyarrow as pa
import pytest
from obstore.store import MemoryStore

from tests.storage.faulty_store import FaultyStore
from tests.storage.test_wal import Recorder, write
from timewell.errors import Unavailable
from timewell.storage.wal import Wal
from timewell.storage.walfile import TableWrite

INTERVAL = 0.01


def run(scenario) -> None:
    """Run a scenario; a writer left unanswered fails it instead of hanging the test."""
    asyncio.run(asyncio.wait_for(scenario, 20))


def wal_files(store: FaultyStore) -> list[str]:
    return [m.path for m in store.list("node/wal/")]


def replayed_values(store: FaultyStore) -> list[float]:
    recorder = Recorder()
    wal = Wal(store, "node", INTERVAL)
    wal.subscribe(recorder)
    wal.replay()
    return [v for f in recorder.flushes for w in f.writes for v in w.data.column("v").to_pylist()]


def faulty(tmp_path) -> FaultyStore:
    store = FaultyStore.file(tmp_path)
    store.only = "/wal/"
    return store


def test_failed_flush_is_deleted_reported_not_applied_and_a_retry_lands_once(tmp_path):
    store = faulty(tmp_path)
    recorder = Recorder()

    async def scenario() -> None:
        wal = Wal(store, "node", INTERVAL)
        wal.subscribe(recorder)
        await wal.start()
        store.fail_put_after_write = True  # written, then the fsync fails
        with pytest.raises(Unavailable, match="not applied, retry"):
            await wal.write([write("a", 1)], False)
        assert store.failed_puts and wal_files(store) == []
        store.fail_put_after_write = False
        await wal.write([write("a", 1)], False)  # the client's retry
        await wal.close()

    run(scenario())
    assert [f.sequence for f in recorder.flushes] == [2]  # the failed sequence is not reused
    assert replayed_values(store) == [1.0]  # once, not twice


def test_failed_flush_that_cannot_be_deleted_is_written_again_and_then_applied(tmp_path):
    store = faulty(tmp_path)
    recorder = Recorder()

    async def scenario() -> None:
        wal = Wal(store, "node", INTERVAL)
        wal.subscribe(recorder)
        await wal.start()
        store.fail_put_after_write = store.fail_delete = True
        writer = asyncio.create_task(wal.write([write("a", 1)], False))
        while len(store.failed_puts) < 3:  # the first try, then retries at each flush
            await asyncio.sleep(INTERVAL)
        assert not writer.done()  # outcome unknown: the writer is not answered yet
        assert recorder.flushes == []
        with pytest.raises(Unavailable, match="not applied"):  # newer writes refused
            await wal.write([write("a", 2)], False)
        store.fail_put_after_write = store.fail_delete = False
        await asyncio.wait_for(writer, 5)  # applied: answered 204
        await wal.write([write("a", 3)], False)
        await wal.close()

    run(scenario())
    assert [f.sequence for f in recorder.flushes] == [1, 2]
    assert replayed_values(store) == [1.0, 3.0]


@pytest.mark.parametrize("delete_works_at_shutdown", [True, False])
def test_shutdown_with_an_unsettled_flush_answers_its_writers(tmp_path,
                                                              delete_works_at_shutdown):
    store = faulty(tmp_path)

    async def scenario() -> None:
        wal = Wal(store, "node", INTERVAL)
        await wal.start()
        store.fail_put_after_write = store.fail_delete = True
        writer = asyncio.create_task(wal.write([write("a", 1)], False))
        while not store.failed_deletes:
            await asyncio.sleep(INTERVAL)
        store.fail_delete = not delete_works_at_shutdown
        await wal.close()
        expected = "not applied" if delete_works_at_shutdown else "could not make sure"
        with pytest.raises(Unavailable, match=expected):
            await asyncio.wait_for(writer, 5)

    run(scenario())
    store.fail_delete = False
    assert wal_files(store) == ([] if delete_works_at_shutdown else
                                ["node/wal/00000000000000000001.wal"])


def test_close_during_a_flush_finishes_it_and_answers_its_writers(tmp_path):
    store = faulty(tmp_path)
    recorder = Recorder()

    async def scenario() -> None:
        wal = Wal(store, "node", INTERVAL)
        wal.subscribe(recorder)
        await wal.start()
        store.hold_puts()
        writer = asyncio.create_task(wal.write([write("a", 1)], False))
        await asyncio.to_thread(store.put_started.wait, 5)  # the flush is in the executor
        # Released from another thread: a close that blocked the loop would still finish.
        threading.Timer(0.2, store.release_puts).start()
        await asyncio.wait_for(wal.close(), 10)
        assert writer.done()
        await writer  # answered 204, not cut off

    run(scenario())
    assert [f.sequence for f in recorder.flushes] == [1]
    assert replayed_values(store) == [1.0]


def test_writes_to_a_table_recreated_under_the_same_name_stay_apart(tmp_path):
    store = faulty(tmp_path)
    recorder = Recorder()

    def with_id(value: float, table_id: int) -> TableWrite:
        data = pa.table({"v": [value], "time": pa.array([1], pa.timestamp("ns"))})
        return TableWrite("db", "a", data, table_id)

    async def scenario() -> None:
        wal = Wal(store, "node", INTERVAL)
        wal.subscribe(recorder)
        await wal.start()
        await asyncio.gather(wal.write([with_id(1, 7)], False),
                             wal.write([with_id(2, 9)], False),
                             wal.write([with_id(3, 7)], False))
        await wal.close()

    run(scenario())
    [flush] = recorder.flushes
    assert {w.table_id: w.data.column("v").to_pylist() for w in flush.writes} == {
        7: [1.0, 3.0], 9: [2.0]}
    replay = Recorder()
    wal = Wal(store, "node", INTERVAL)
    wal.subscribe(replay)
    wal.replay()
    assert sorted(w.table_id for w in replay.flushes[0].writes) == [7, 9]


def test_a_landed_file_written_again_is_recognised_as_this_flush(tmp_path):
    """A put that landed and then reported failure, retried: the file found is this flush's
    own (same bytes), so the flush is applied, not taken for another server's."""
    store = faulty(tmp_path)
    recorder = Recorder()

    async def scenario() -> None:
        wal = Wal(store, "node", INTERVAL)
        wal.subscribe(recorder)
        await wal.start()
        store.fail_put_after_write = store.fail_delete = True
        writer = asyncio.create_task(wal.write([write("a", 1)], False))
        while len(store.failed_puts) < 2:
            await asyncio.sleep(INTERVAL)
        store.fail_put_after_write = store.fail_delete = False  # the retry finds the file
        await asyncio.wait_for(writer, 5)
        assert wal.superseded is None
        await wal.close()

    run(scenario())
    assert [f.sequence for f in recorder.flushes] == [1]
    assert replayed_values(store) == [1.0]


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_a_second_server_on_the_same_store_supersedes_the_first(tmp_path, kind):
    """Two WALs on one store and prefix: the one that finds its next file written by the
    other stops taking writes, leaves that file alone and says why."""
    store = FaultyStore.file(tmp_path) if kind == "file" else FaultyStore(MemoryStore())
    told: list[str] = []

    async def scenario() -> None:
        first = Wal(store, "node", INTERVAL)
        first.on_superseded = told.append
        await first.start()
        await first.write([write("a", 1)], False)  # file 1
        second = Wal(store, "node", INTERVAL)  # a replacement starts on the same store
        assert second.replay() == 1
        await second.start()
        await second.write([write("a", 2)], False)  # file 2
        with pytest.raises(Unavailable, match="another process has written to the WAL ahead "
                                              "of this one"):
            await first.write([write("a", 3)], False)  # would be file 2: taken
        with pytest.raises(Unavailable, match="another process"):  # and so every later one
            await first.write([write("a", 4)], False)
        await second.write([write("a", 5)], False)  # the second carries on
        await first.close()
        await second.close()

    run(scenario())
    assert len(told) == 1 and "WAL file 2 exists" in told[0]
    assert replayed_values(store) == [1.0, 2.0, 5.0]  # the second's file 2 is intact
