"""Which Parquet files hold which data: the durable index of snapshots.

A change is committed by `commit(op)`: made durable (a log record on the object store), then
applied (visible), then checkpointed when due, all under one lock. A snapshot is committed by
its log record; files written before a crash but never recorded are orphans, removed at
start-up. Because the three steps hold one lock, a checkpoint never claims a change whose
files it lacks.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass

from timewell.storage.oplog import OpLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParquetFile:
    path: str
    database: str
    table: str
    chunk_start_ns: int
    size_bytes: int
    row_count: int
    min_time_ns: int
    max_time_ns: int
    # The newest WAL sequence among its rows: where two files (or a file and the buffer) hold
    # the same point, the higher order wins. Files are sorted by series key then time and hold
    # one row per (series, time).
    order: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ParquetFile:
        return cls(**data)


def snapshot_op(files: list[ParquetFile], wal_through: int) -> dict:
    """Files written by a snapshot that covers WAL files up to `wal_through`."""
    return {"op": "snapshot", "wal_through": wal_through,
            "files": [f.to_json() for f in files]}


def replace_op(removed: list[str], added: list[ParquetFile]) -> dict:
    """Compaction, retention and deletes: drop some files, maybe add others, atomically."""
    return {"op": "replace", "removed": removed, "added": [f.to_json() for f in added]}


class ParquetIndex:
    """Thread-safe. `commit` is the way to change it: the change is made durable, applied and,
    when due, checkpointed under one lock, so a checkpoint always holds every change its log
    position covers. Hold `lock` to read a consistent state across several calls."""

    def __init__(self, log: OpLog) -> None:
        self._log = log
        # Serialises log appends, applies and checkpoints (held across the blocking I/O).
        self._commit_lock = threading.Lock()
        # The in-memory state; held only briefly, never across I/O.
        self.lock = threading.RLock()
        self._files: dict[str, ParquetFile] = {}
        self._by_table: dict[tuple[str, str], dict[str, ParquetFile]] = defaultdict(dict)
        self.wal_through = 0  # every WAL file up to this sequence is in Parquet files
        # Damaged last log records skipped by `load`: files they named are not in the index,
        # so start-up must not take such files for orphans and delete them.
        self.skipped_records: list[str] = []

    @classmethod
    def load(cls, log: OpLog) -> ParquetIndex:
        """The index as its log and checkpoint hold it; CorruptLog when they are damaged."""
        index = cls(log)
        state, commits = log.load()
        if state is not None:
            index.wal_through = state["wal_through"]
            for data in state["files"]:
                index._add(ParquetFile.from_json(data))
        for ops in commits:
            for op in ops:
                index._apply(op)
        index.skipped_records = list(log.skipped)
        return index

    def commit(self, op: dict, on_applied: Callable[[], None] | None = None) -> None:
        """Make `op` durable, apply it, then checkpoint if one is due (blocking I/O).

        `on_applied` runs right after the apply with `lock` held, so a reader holding `lock`
        sees the change and the callback's effect together or neither (e.g. releasing the
        buffer generations a snapshot wrote). It must not wait for a lock that is held by
        someone calling into the index, and no one may call `commit` while holding `lock`.
        If `op` cannot be made durable this raises and nothing is applied."""
        _check(op)  # before it is durable: a record that cannot be applied would stop start-up
        with self._commit_lock:
            self._log.append([op])
            with self.lock:
                self._apply(op)
                if on_applied is not None:
                    on_applied()
            self._checkpoint_if_due()

    def _checkpoint_if_due(self) -> None:
        """Call with the commit lock held."""
        if not self._log.wants_checkpoint():
            return
        with self.lock:
            state = {"wal_through": self.wal_through,
                     "files": [f.to_json() for f in self._files.values()]}
        try:
            self._log.checkpoint(state)
        except Exception:  # the change is committed all the same; the log still holds it
            log.exception("could not checkpoint the Parquet index; retried at the next change")

    def _apply(self, op: dict) -> None:
        with self.lock:
            if op["op"] == "snapshot":
                for data in op["files"]:
                    self._add(ParquetFile.from_json(data))
                self.wal_through = max(self.wal_through, op["wal_through"])
            elif op["op"] == "replace":
                for path in op["removed"]:
                    self._remove(path)
                for data in op["added"]:
                    self._add(ParquetFile.from_json(data))
            else:
                _check(op)

    def files(self, database: str | None = None, table: str | None = None) -> list[ParquetFile]:
        with self.lock:
            if database is not None and table is not None:
                return list(self._by_table.get((database, table), {}).values())
            return [f for f in self._files.values()
                    if database is None or f.database == database]

    def paths(self) -> set[str]:
        with self.lock:
            return set(self._files)

    def _add(self, file: ParquetFile) -> None:
        self._files[file.path] = file
        self._by_table[(file.database, file.table)][file.path] = file

    def _remove(self, path: str) -> None:
        file = self._files.pop(path, None)
        if file is not None:
            self._by_table[(file.database, file.table)].pop(path, None)


def _check(op: dict) -> None:
    if op.get("op") not in ("snapshot", "replace"):
        raise ValueError(f"unknown Parquet index operation {op.get('op')!r}")
