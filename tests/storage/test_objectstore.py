"""durable_put on the local disk: the file, its directory, and every directory it created."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from timewell.storage.objectstore import ObjectStore


def recording(monkeypatch) -> list:
    """Every fsync (of a path) and rename the store does, in order."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def replace(source, target) -> None:
        events.append(("rename", Path(source).name.split("#")[0], Path(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def synced(events: list) -> list[Path]:
    return [e[1] for e in events if e[0] == "fsync"]


def test_durable_put_fsyncs_the_parent_of_every_new_directory(tmp_path, monkeypatch):
    root = tmp_path / "root"
    store = ObjectStore.file(root)
    events = recording(monkeypatch)
    store.durable_put("node/dbs/db/t/0/1.parquet", b"data")
    assert (root / "node/dbs/db/t/0/1.parquet").read_bytes() == b"data"
    # each new directory's entry lives in its parent: root, node, dbs, db, t must be synced
    for parent in ["", "node", "node/dbs", "node/dbs/db", "node/dbs/db/t"]:
        assert root / parent in synced(events), parent
    assert events[-1] == ("fsync", root / "node/dbs/db/t/0")


def test_durable_put_syncs_the_bytes_before_the_rename_then_the_directory(tmp_path,
                                                                         monkeypatch):
    store = ObjectStore.file(tmp_path)
    store.durable_put("node/wal/1.wal", b"a")
    events = recording(monkeypatch)
    store.durable_put("node/wal/2.wal", b"b")
    [(fsync, temporary), rename, last] = events
    assert fsync == "fsync" and temporary.name.startswith("2.wal#")  # the bytes, then...
    assert rename == ("rename", "2.wal", tmp_path / "node/wal/2.wal")  # ...into place
    assert last == ("fsync", tmp_path / "node/wal")
    assert [m.path for m in store.list("node/")] == ["node/wal/1.wal", "node/wal/2.wal"]
    assert store.get("node/wal/2.wal") == b"b"


def test_an_interrupted_durable_put_leaves_the_old_object_whole(tmp_path, monkeypatch):
    store = ObjectStore.file(tmp_path)
    store.durable_put("x/checkpoint.json", b"old")

    def power_cut(source, target) -> None:
        raise OSError("power cut before the rename")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError):
        store.durable_put("x/checkpoint.json", b"new and longer")
    assert store.get("x/checkpoint.json") == b"old"
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["checkpoint.json"]


def test_durable_delete_syncs_the_directory(tmp_path, monkeypatch):
    store = ObjectStore.file(tmp_path)
    store.durable_put("node/wal/1.wal", b"a")
    events = recording(monkeypatch)
    store.durable_delete("node/wal/1.wal")
    store.durable_delete("node/wal/1.wal")  # already gone: fine
    assert events == [("fsync", tmp_path / "node/wal")] * 2
    assert store.list("node/") == []


def test_put_into_a_new_directory_leaves_it_durable_for_a_later_durable_put(tmp_path,
                                                                            monkeypatch):
    store = ObjectStore.file(tmp_path)
    events = recording(monkeypatch)
    store.put("node/engine/cache.pickle", b"x")
    assert tmp_path / "node" in synced(events) and tmp_path in synced(events)


def test_concurrent_puts_into_one_new_directory(tmp_path, monkeypatch):
    store = ObjectStore.file(tmp_path)
    events = recording(monkeypatch)
    threads = [threading.Thread(target=store.durable_put, args=(f"a/b/{n}", b"x"))
               for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in (tmp_path / "a/b").iterdir()) == [str(n) for n in range(8)]
    assert tmp_path / "a" in synced(events) and tmp_path in synced(events)
