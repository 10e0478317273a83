"""The object store everything durable lives in: WAL files, the catalog, later Parquet files.

A thin layer over obstore so that the rest of the server sees one small interface whatever the
backend. obstore's local store writes through a temporary file and a rename but never fsyncs, so
on the local disk `durable_put` writes the file itself: a temporary file, fsync'd, renamed into
place, then the directory fsync'd. That is what a database needs before it answers a write, and
it makes an overwritten object whole or old after a power cut, never torn. A new file in a new
directory is lost on power loss unless the directory's own entry is durable too, so on the
local disk this layer creates missing directories itself (rather than letting obstore do it)
and fsyncs the parent of each one it creates.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import obstore
import pyarrow.fs as pafs
from obstore.exceptions import AlreadyExistsError
from obstore.store import LocalStore, MemoryStore, S3Store

from timewell.storage.arrow_fs import ObstoreHandler


class Fenced(Exception):
    """This server no longer owns the store (another took it over): nothing may be written."""


class ObjectExists(Exception):
    """A create-only put found its path taken (by another process, or an earlier attempt)."""


@dataclass(frozen=True)
class ObjectMeta:
    path: str
    size: int


class ObjectStore:
    """Paths are `/`-separated keys relative to the store's root."""

    def __init__(self, store, local_root: Path | None = None) -> None:
        self._store = store
        self._local_root = local_root
        # Held while directories are created and made durable: a put that finds a directory
        # in place knows that its entry is on disk, not just created by a concurrent put.
        self._mkdir_lock = threading.Lock()
        self._description = f"file:{local_root}" if local_root else "memory"
        self._fenced: str | None = None

    def fence(self, reason: str) -> None:
        """Refuse every later write and delete (Fenced): another server owns the store now,
        and anything this one wrote could damage what that one writes."""
        self._fenced = reason

    def _check_writable(self) -> None:
        if self._fenced is not None:
            raise Fenced(self._fenced)

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
        self._check_writable()
        if self._local_root is not None:
            # Even here, so that no directory exists whose entry a durable_put cannot rely on.
            self._make_directories((self._local_root / path).parent)
        obstore.put(self._store, path, data)

    def durable_put(self, path: str, data: bytes, *, create_only: bool = False) -> None:
        """Put, and return only once the object survives a power loss. After a crash the
        object is whole or, if this had not returned, possibly its earlier version or absent;
        never torn. `create_only`: raise ObjectExists, writing nothing, if the path is taken
        (atomically: of two processes putting the same path, exactly one succeeds)."""
        self._check_writable()
        if self._local_root is None:
            try:  # S3 and memory: a put is atomic; "create" is S3's If-None-Match: *
                obstore.put(self._store, path, data, mode="create" if create_only else None)
            except AlreadyExistsError:
                raise ObjectExists(path) from None
            return
        # Not obstore's put: it renames its temporary file into place before anything is
        # fsync'd, so a power cut can leave a torn object under the final name, replacing a
        # good one (a checkpoint). Here the bytes are durable before the rename.
        full = self._local_root / path
        self._make_directories(full.parent)
        # "<name>#<digits>" is obstore's own temporary name, which its listings skip.
        temporary = full.with_name(f"{full.name}#{os.getpid()}{next(_temporary_numbers)}")
        try:
            _write_durably(temporary, data)
            if create_only:
                try:
                    os.link(temporary, full)  # fails, atomically, if `full` exists
                except FileExistsError:
                    raise ObjectExists(path) from None
                temporary.unlink()
            else:
                os.replace(temporary, full)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
        _fsync_path(full.parent)

    def _make_directories(self, directory: Path) -> None:
        """Create `directory` and its missing ancestors, each made durable (its parent fsync'd)
        before this returns."""
        with self._mkdir_lock:
            missing = []
            while not directory.is_dir():  # stops at the root, which exists
                missing.append(directory)
                directory = directory.parent
            for new in reversed(missing):
                with contextlib.suppress(FileExistsError):  # made by someone else meanwhile
                    new.mkdir()
                _fsync_path(new.parent)

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
        self._check_writable()
        with contextlib.suppress(FileNotFoundError):
            obstore.delete(self._store, path)

    def durable_delete(self, path: str) -> None:
        """Delete, and return only once the deletion survives a power loss (a file whose
        write was reported failed must not come back)."""
        self.delete(path)
        if self._local_root is not None:
            directory = (self._local_root / path).parent
            if directory.is_dir():
                _fsync_path(directory)


_temporary_numbers = itertools.count()


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
