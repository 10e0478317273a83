"""The object store everything durable lives in: WAL files, the catalog, later Parquet files.

A thin layer over obstore so that the rest of the server sees one small interface whatever the
backend. obstore's local store writes through a temporary file and a rename but never fsyncs, so
`durable_put` adds the fsync of the file and of its directory that a database needs before it
answers a write.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import obstore
from obstore.store import LocalStore, MemoryStore


@dataclass(frozen=True)
class ObjectMeta:
    path: str
    size: int


class ObjectStore:
    """Paths are `/`-separated keys relative to the store's root."""

    def __init__(self, store, local_root: Path | None = None) -> None:
        self._store = store
        self._local_root = local_root

    @classmethod
    def file(cls, root: str | Path) -> ObjectStore:
        root = Path(root).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(LocalStore(str(root), mkdir=True), local_root=root)

    @classmethod
    def memory(cls) -> ObjectStore:
        return cls(MemoryStore())

    @property
    def description(self) -> str:
        return f"file:{self._local_root}" if self._local_root else "memory"

    def put(self, path: str, data: bytes) -> None:
        obstore.put(self._store, path, data)

    def durable_put(self, path: str, data: bytes) -> None:
        """Put, and return only once the object survives a power loss."""
        obstore.put(self._store, path, data)
        if self._local_root is not None:
            full = self._local_root / path
            _fsync_path(full)
            _fsync_path(full.parent)

    def get(self, path: str) -> bytes:
        """The object's bytes; FileNotFoundError when it does not exist."""
        return bytes(obstore.get(self._store, path).bytes())

    def list(self, prefix: str) -> list[ObjectMeta]:
        """Every object under `prefix`, sorted by path."""
        metas = [
            ObjectMeta(m["path"], m["size"])
            for chunk in obstore.list(self._store, prefix)
            for m in chunk
        ]
        return sorted(metas, key=lambda m: m.path)

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            obstore.delete(self._store, path)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
