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
import pyarrow.fs as pafs
from obstore.store import LocalStore, MemoryStore, S3Store

from timewell.storage.arrow_fs import ObstoreHandler


@dataclass(frozen=True)
class ObjectMeta:
    path: str
    size: int


class ObjectStore:
    """Paths are `/`-separated keys relative to the store's root."""

    def __init__(self, store, local_root: Path | None = None) -> None:
        self._store = store
        self._local_root = local_root
        self._description = f"file:{local_root}" if local_root else "memory"

    @classmethod
    def file(cls, root: str | Path) -> ObjectStore:
        root = Path(root).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(LocalStore(str(root), mkdir=True), local_root=root)

    @classmethod
    def memory(cls) -> ObjectStore:
        return cls(MemoryStore())

    @classmethod
    def s3(cls, bucket: str, *, endpoint: str | None = None, access_key_id: str | None = None,
           secret_access_key: str | None = None, region: str | None = None,
           allow_http: bool = False) -> ObjectStore:
        """An S3 (or S3-compatible) bucket; credentials fall back to the usual AWS_* variables."""
        config = {key: value for key, value in {
            "endpoint": endpoint, "access_key_id": access_key_id,
            "secret_access_key": secret_access_key, "region": region,
        }.items() if value}
        store = S3Store(bucket, client_options={"allow_http": allow_http}, **config)
        instance = cls(store)
        instance._description = f"s3://{bucket}" + (f" at {endpoint}" if endpoint else "")
        return instance

    @property
    def description(self) -> str:
        return self._description

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem reading this store, and the prefix to put before our paths
        (Parquet scans need random access; the local disk is read directly)."""
        if self._local_root is not None:
            return pafs.LocalFileSystem(), f"{self._local_root}/"
        return pafs.PyFileSystem(ObstoreHandler(self._store)), ""

    def size(self, path: str) -> int:
        return int(obstore.head(self._store, path)["size"])

    def get_range(self, path: str, start: int, end: int) -> bytes:
        return bytes(obstore.get_range(self._store, path, start=start, end=end))

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
