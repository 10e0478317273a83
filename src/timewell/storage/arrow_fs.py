"""A read-only pyarrow filesystem over an obstore store, so Parquet scans on S3 or in memory
fetch only the byte ranges they need (footers, row groups), through obstore."""

from __future__ import annotations

import io

import obstore
import pyarrow as pa
import pyarrow.fs as pafs


class ObstoreHandler(pafs.FileSystemHandler):
    def __init__(self, store) -> None:
        self._store = store

    def __eq__(self, other) -> bool:
        return isinstance(other, ObstoreHandler) and other._store is self._store

    def __ne__(self, other) -> bool:
        return not self == other

    def get_type_name(self) -> str:
        return "timewell-obstore"

    def normalize_path(self, path: str) -> str:
        return path.lstrip("/")

    def get_file_info(self, paths):
        infos = []
        for path in paths:
            try:
                meta = obstore.head(self._store, path.lstrip("/"))
            except FileNotFoundError:
                infos.append(pafs.FileInfo(path, pafs.FileType.NotFound))
                continue
            infos.append(pafs.FileInfo(path, pafs.FileType.File, size=int(meta["size"])))
        return infos

    def get_file_info_selector(self, selector):
        prefix = selector.base_dir.strip("/")
        return [pafs.FileInfo(m["path"], pafs.FileType.File, size=int(m["size"]))
                for chunk in obstore.list(self._store, prefix or None) for m in chunk]

    def open_input_file(self, path: str):
        path = path.lstrip("/")
        size = int(obstore.head(self._store, path)["size"])
        return pa.PythonFile(_RangeReader(self._store, path, size), mode="r")

    def open_input_stream(self, path: str):
        return self.open_input_file(path)

    # The engine only reads through this filesystem; writes go through ObjectStore.
    def create_dir(self, path, recursive):
        raise NotImplementedError("read-only filesystem")

    def delete_dir(self, path):
        raise NotImplementedError("read-only filesystem")

    def delete_dir_contents(self, path, missing_dir_ok=False):
        raise NotImplementedError("read-only filesystem")

    def delete_root_dir_contents(self):
        raise NotImplementedError("read-only filesystem")

    def delete_file(self, path):
        raise NotImplementedError("read-only filesystem")

    def move(self, src, dest):
        raise NotImplementedError("read-only filesystem")

    def copy_file(self, src, dest):
        raise NotImplementedError("read-only filesystem")

    def open_output_stream(self, path, metadata):
        raise NotImplementedError("read-only filesystem")

    def open_append_stream(self, path, metadata):
        raise NotImplementedError("read-only filesystem")


class _RangeReader(io.RawIOBase):
    """A seekable file whose reads are ranged GETs."""

    def __init__(self, store, path: str, size: int) -> None:
        self._store = store
        self._path = path
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._position + size)
        if end <= self._position:
            return b""
        data = bytes(obstore.get_range(self._store, self._path, start=self._position, end=end))
        self._position = end
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
