"""The change log + checkpoint under the catalog and the Parquet index: checksums, damage,
failed appends."""

from __future__ import annotations

import orjson
import pytest

from tests.storage.faulty_store import FaultyStore, InjectedFault
from timewell.storage.objectstore import ObjectStore
from timewell.storage.oplog import MAGIC, CorruptLog, OpLog

LOG = "node/x/log/"


def op(n: int) -> list[dict]:
    return [{"op": "set", "n": n}]


def record(n: int) -> str:
    return f"{LOG}{n:020d}.json"


def written(store: ObjectStore, count: int, every: int = 100) -> OpLog:
    log = OpLog(store, "node/x", every)
    log.load()
    for n in range(1, count + 1):
        log.append(op(n))
    return log


def loaded(store: ObjectStore, every: int = 100) -> tuple[dict | None, list]:
    return OpLog(store, "node/x", every).load()


def test_records_and_checkpoints_are_framed_and_round_trip():
    store = ObjectStore.memory()
    log = written(store, 3)
    log.checkpoint({"upto": 3})
    log.append(op(4))
    assert store.get(record(4)).startswith(MAGIC)
    assert store.get("node/x/checkpoint.json").startswith(MAGIC)
    assert loaded(store) == ({"upto": 3}, [op(4)])


def test_unframed_json_from_earlier_versions_still_loads():
    store = ObjectStore.memory()
    store.put("node/x/checkpoint.json", orjson.dumps({"sequence": 2, "state": {"old": True}}))
    store.put(record(2), orjson.dumps(op(2)))  # covered by the checkpoint
    store.put(record(3), orjson.dumps(op(3)))
    assert loaded(store) == ({"old": True}, [op(3)])


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],  # torn
    lambda b: b[:5],  # torn inside the magic
    lambda b: b"",
    lambda b: b[:-2] + bytes([b[-2] ^ 0x01]) + b[-1:],  # a flipped bit
])
def test_damaged_last_record_is_skipped_set_aside_and_not_in_the_way(damage):
    store = ObjectStore.memory()
    written(store, 3)
    good = store.get(record(3))
    store.put(record(3), damage(good))
    log = OpLog(store, "node/x")
    assert log.load() == (None, [op(1), op(2)])
    assert log.skipped == [record(3)]
    assert store.list("node/x/damaged/")[0].path.endswith(f"{3:020d}.json")
    # the next record goes after it; the damaged one is no longer "in the middle"
    log.append(op(4))
    assert loaded(store) == (None, [op(1), op(2), op(4)])


def test_damaged_record_followed_by_others_stops_loading():
    store = ObjectStore.memory()
    written(store, 3)
    data = bytearray(store.get(record(2)))
    data[-3] ^= 0x01  # still JSON, but not what was written
    store.put(record(2), bytes(data))
    with pytest.raises(CorruptLog, match=f"{record(2)}.*newer records follow"):
        loaded(store)


def test_unframed_torn_record_in_the_middle_stops_loading():
    store = ObjectStore.memory()
    store.put(record(1), b'[{"op": "se')
    store.put(record(2), orjson.dumps(op(2)))
    with pytest.raises(CorruptLog, match=record(1)):
        loaded(store)


def test_damaged_checkpoint_stops_loading():
    store = ObjectStore.memory()
    log = written(store, 2)
    log.checkpoint({"upto": 2})
    data = store.get("node/x/checkpoint.json")
    store.put("node/x/checkpoint.json", data[:-4])
    with pytest.raises(CorruptLog, match="checkpoint.json.*backup"):
        loaded(store)


def test_failed_append_leaves_no_record(tmp_path):
    store = FaultyStore.file(tmp_path)
    log = written(store, 1)
    store.fail_put_after_write = True
    with pytest.raises(InjectedFault):
        log.append(op(2))
    store.fail_put_after_write = False
    assert not store.exists(record(2))
    log.append(op(3))
    assert loaded(store) == (None, [op(1), op(3)])


def test_failed_append_whose_delete_fails_is_removed_before_the_next(tmp_path):
    store = FaultyStore.file(tmp_path)
    log = written(store, 1)
    store.fail_put_after_write = store.fail_delete = True
    with pytest.raises(InjectedFault):
        log.append(op(2))
    store.fail_put_after_write = False
    with pytest.raises(InjectedFault):  # still cannot delete it: nothing newer is committed
        log.append(op(3))
    assert loaded(store)[1] == [op(1), op(2)]  # a crash now: "possibly applied"
    store.fail_delete = False
    log.append(op(4))
    assert loaded(store) == (None, [op(1), op(4)])


def test_checkpoint_is_due_after_every_n_appends_even_after_a_failed_one(tmp_path):
    store = FaultyStore.file(tmp_path)
    log = written(store, 2, every=3)
    store.fail_put_before_write = True
    with pytest.raises(InjectedFault):
        log.append(op(3))  # sequence 3 is used up
    store.fail_put_before_write = False
    log.append(op(4))  # callers ask after a successful append: this one must say "due"
    assert log.wants_checkpoint()
    log.checkpoint({"upto": 4})
    assert not log.wants_checkpoint()
    assert loaded(store, every=3) == ({"upto": 4}, [])
