"""Power-loss crash tests: the power cut at seeded store operations while a node writes,
snapshots, compacts, expires and deletes; every acknowledged write must survive, once, whole.

The model of what survives is in `powercut.py`, the workload and invariants in
`powercut_harness.py`; `bench/crash.py` runs the same at thousands of points.
"""

from __future__ import annotations

import contextlib
import random
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.storage import powercut_harness as harness
from tests.storage.powercut import PowerCut, PowerCutStore
from timewell.storage.oplog import OpLog

POINTS = 60  # about 0.4 s each on a shared 2-core machine
SEED = 7_000_000


def test_power_cuts_keep_every_acknowledged_write_once() -> None:
    dedup = harness.dedup_implemented()
    started = time.perf_counter()
    results = [harness.run_point(SEED + i, dedup=dedup) for i in range(POINTS)]
    summary = harness.summarize(results)
    print(f"{summary}\n({'last write wins' if dedup else 'every line a row'}, "
          f"{time.perf_counter() - started:.1f}s)")
    assert len(results) == POINTS
    assert sum(r.phase != "idle" for r in results) >= POINTS * 3 // 4  # cuts mid-workload
    assert not [r for r in results if r.failures], summary


def test_purged_table_rows_do_not_return_in_a_table_of_the_same_name() -> None:
    now = time.time_ns()
    t = (now - 3 * harness.HOUR_NS) // harness.HOUR_NS * harness.HOUR_NS
    host = lambda name: (("host", name),)  # noqa: E731
    steps = [
        harness.Step("write", "main", lines=(harness.Line("scratch", host("h0"),
                                                          (("v", 1.25),), t),)),
        harness.Step("delete_table", "main", "scratch"),
        # Hard delete due at once, but the purge waits until no WAL file from before the
        # delete is left: the first pass asks for a snapshot, a later one purges.
        harness.Step("maintenance"),
        harness.Step("maintenance"),
        harness.Step("maintenance"),
        harness.Step("write", "main", lines=(harness.Line("scratch", host("h1"),
                                                          (("v", 2.25),), t),)),
    ]
    # No torn or lost writes needed: the power goes out after everything was acknowledged
    # (a clean restart does the same, since the WAL files are replayed either way).
    run, failures = harness.run_steps(steps, now, dedup=harness.dedup_implemented())
    assert failures == []
    assert run.statuses[len(steps) - 1] == "acked"  # the name was free again


def test_a_checkpoint_cut_short_leaves_a_loadable_log() -> None:
    def run(cut_at: int | None) -> PowerCutStore:
        store = PowerCutStore(cut_at=cut_at)
        log = OpLog(store, "x", checkpoint_every=2)
        with contextlib.suppress(PowerCut):
            for n in range(1, 5):
                log.append([{"n": n}])
                if log.wants_checkpoint():
                    log.checkpoint({"through": n})
        return store

    # operations: 2 appends, a checkpoint, 2 deletes, 2 appends, the second checkpoint
    assert run(None).operations >= 8
    store = run(8)
    assert store.interrupted is not None and store.interrupted.path == "x/checkpoint.json"
    for seed in range(50):
        # the state is the first checkpoint's plus records 3 and 4, or the second checkpoint's
        OpLog(PowerCutStore(initial=store.cut(random.Random(seed))), "x").load()


# -- the model itself


def test_durable_puts_survive_and_volatile_ones_may_not() -> None:
    store = PowerCutStore()
    store.durable_put("d/a", b"durable")
    store.put("d/b", b"volatile")
    outcomes = {store.cut(random.Random(seed)).get("d/b") for seed in range(200)}
    assert all(store.cut(random.Random(seed))["d/a"] == b"durable" for seed in range(20))
    assert None in outcomes and b"volatile" in outcomes  # dropped, kept
    assert any(o is not None and o != b"volatile" and b"volatile".startswith(o)
               for o in outcomes)  # torn
    atomic = PowerCutStore(torn_writes=False)
    atomic.put("d/b", b"volatile")
    assert {atomic.cut(random.Random(s)).get("d/b") for s in range(50)} == {None, b"volatile"}


def test_a_durable_put_cut_short_is_torn_unless_durable_puts_are_atomic() -> None:
    for atomic, torn_seen in ((False, True), (True, False)):
        store = PowerCutStore(cut_at=1, atomic_durable_put=atomic)
        with pytest.raises(PowerCut):
            store.durable_put("d/a", b"0123456789")
        outcomes = {store.cut(random.Random(s)).get("d/a") for s in range(100)}
        assert {None, b"0123456789"} <= outcomes
        assert (len(outcomes) > 2) == torn_seen


def test_a_delete_is_durable_once_its_directory_is_synced() -> None:
    store = PowerCutStore(initial={"d/a": b"1", "e/a": b"1"})
    store.delete("d/a")
    store.delete("e/a")
    assert {"d/a" in store.cut(random.Random(s)) for s in range(50)} == {True, False}
    store.durable_put("d/b", b"2")  # fsyncs d/, not e/
    states = [store.cut(random.Random(s)) for s in range(50)]
    assert not any("d/a" in state for state in states)
    assert {"e/a" in state for state in states} == {True, False}


def test_the_cut_interrupts_one_operation_and_refuses_all_after_it() -> None:
    store = PowerCutStore(cut_at=3)
    cuts = []
    store.on_cut.append(lambda: cuts.append(True))
    store.durable_put("d/a", b"1")
    store.durable_put("d/b", b"2")
    with pytest.raises(PowerCut):
        store.durable_put("d/c", b"3")  # interrupted: volatile
    assert not isinstance(PowerCut(), Exception)  # server code cannot swallow it
    for operation in (lambda: store.get("d/a"), lambda: store.list("d/"),
                      lambda: store.put("d/x", b""), lambda: store.delete("d/a")):
        with pytest.raises(PowerCut):
            operation()
    assert cuts == [True] and store.operations == 3
    assert store.interrupted is not None and store.interrupted.path == "d/c"
    assert {store.cut(random.Random(s)).get("d/c") is None for s in range(50)} == {True, False}
    assert all(store.cut(random.Random(s))["d/b"] == b"2" for s in range(20))


def test_a_new_boot_reads_the_surviving_objects_through_arrow_too() -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": [1, 2, 3]}), sink)
    store = PowerCutStore(initial={"dbs/f.parquet": sink.getvalue().to_pybytes()})
    assert [m.path for m in store.list("dbs/")] == ["dbs/f.parquet"]
    filesystem, root = store.arrow_filesystem()
    assert pq.read_table(root + "dbs/f.parquet", filesystem=filesystem)["x"].to_pylist() == [
        1, 2, 3]
