"""Which Parquet files hold which data: the durable index of snapshots.

The index changes in two steps: `persist(op)` makes a change durable (a log record on the
object store), `apply(op)` makes it visible. A snapshot is committed by its log record; files
written before a crash but never recorded are orphans, removed at start-up.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import asdict, dataclass

from timewell.storage.oplog import OpLog


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
    def __init__(self, log: OpLog) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._files: dict[str, ParquetFile] = {}
        self._by_table: dict[tuple[str, str], dict[str, ParquetFile]] = defaultdict(dict)
        self.wal_through = 0  # every WAL file up to this sequence is in Parquet files
        self.version = 0  # bumps on every change, for caches of derived data

    @classmethod
    def load(cls, log: OpLog) -> ParquetIndex:
        index = cls(log)
        state, commits = log.load()
        if state is not None:
            index.wal_through = state["wal_through"]
            for data in state["files"]:
                index._add(ParquetFile.from_json(data))
        for ops in commits:
            for op in ops:
                index.apply(op)
        return index

    def persist(self, op: dict) -> None:
        """Make `op` durable (blocking I/O); it becomes visible with `apply`."""
        self._log.append([op])

    def apply(self, op: dict) -> None:
        with self._lock:
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
                raise ValueError(f"unknown Parquet index operation {op['op']!r}")
            self.version += 1

    def checkpoint_if_due(self) -> None:
        if self._log.wants_checkpoint():
            with self._lock:
                state = {"wal_through": self.wal_through,
                         "files": [f.to_json() for f in self._files.values()]}
            self._log.checkpoint(state)

    def files(self, database: str | None = None, table: str | None = None) -> list[ParquetFile]:
        with self._lock:
            if database is not None and table is not None:
                return list(self._by_table.get((database, table), {}).values())
            return [f for f in self._files.values()
                    if database is None or f.database == database]

    def paths(self) -> set[str]:
        with self._lock:
            return set(self._files)

    def _add(self, file: ParquetFile) -> None:
        self._files[file.path] = file
        self._by_table[(file.database, file.table)][file.path] = file

    def _remove(self, path: str) -> None:
        file = self._files.pop(path, None)
        if file is not None:
            self._by_table[(file.database, file.table)].pop(path, None)
