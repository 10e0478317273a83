"""Plugin code over the API: listing the plugin directory, reading a file back, writing one
file at a time, or a whole package directory swapped in at once. Every path is checked to stay
inside the plugin directory."""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from stat import S_ISREG

from timewell.engine.plugins import PluginDirectory
from timewell.errors import InvalidRequest, NotFound

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
LIST_LIMIT = 10_000  # files listed at most
READ_LIMIT = 10 * 1024 * 1024  # bytes of one file sent back at most


class PluginFiles:
    def __init__(self, plugins: PluginDirectory) -> None:
        self.plugins = plugins

    def write(self, filename: str, content: str) -> Path:
        """Create or replace `filename` (relative to the plugin directory); readers see the
        old or the new content, never a part."""
        path = self.plugins.target(filename)
        if path == self.plugins.root or path.is_dir():
            raise InvalidRequest(f"'{filename}' is a directory, not a file")
        _check_source(filename, content)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_text(content)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def listing(self) -> tuple[list[dict], bool]:
        """Every file under the plugin directory (relative path, size, modified time), in
        path order, leaving out hidden files and directories, `__pycache__`, and symlinks
        leading outside; and whether the list was cut at LIST_LIMIT."""
        root = self.plugins.root
        found: list[dict] = []
        if root is None or not root.is_dir():
            return found, False
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders
                                   if not d.startswith(".") and d != "__pycache__")
            for name in sorted(names):
                if name.startswith("."):
                    continue
                relative = (Path(folder) / name).relative_to(root).as_posix()
                try:
                    stat = self.plugins.target(relative).stat()
                except (InvalidRequest, OSError):
                    continue  # a symlink leading outside, or gone meanwhile
                if not S_ISREG(stat.st_mode):
                    continue
                if len(found) == LIST_LIMIT:
                    return found, True
                found.append({"plugin_name": relative, "size_bytes": stat.st_size,
                              "modified": listed_time(stat.st_mtime_ns)})
        return found, False

    def read(self, filename: str) -> tuple[str, os.stat_result]:
        """The text of `filename` (relative to the plugin directory) and its stat."""
        path = self.plugins.target(filename)
        if path == self.plugins.root or path.is_dir():
            raise InvalidRequest(f"'{filename}' is a directory, not a file: GET "
                                 "/api/v3/plugins/files lists the files in it")
        try:
            stat = path.stat()
            if stat.st_size > READ_LIMIT:
                raise InvalidRequest(f"'{filename}' has {stat.st_size} bytes, more than the "
                                     f"{READ_LIMIT} sent back")
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"plugin file '{filename}' not found in the plugin directory: GET "
                           "/api/v3/plugins/files lists the files there") from None
        try:
            return data.decode("utf-8"), stat
        except UnicodeDecodeError:
            raise InvalidRequest(f"'{filename}' is not a UTF-8 text file") from None

    def replace_directory(self, directory: Path, files: list[tuple[str, str]]) -> None:
        """Make `directory` hold exactly `files` (relative path, content), switched in with one
        atomic exchange where the OS has one (Linux), else two renames."""
        if directory == self.plugins.root or (self.plugins.root is not None
                                              and self.plugins.root not in directory.parents):
            raise InvalidRequest(f"{directory} is not a plugin directory")
        if directory.exists() and not directory.is_dir():
            raise InvalidRequest(f"the trigger's plugin {directory.name} is a file: replace it "
                                 "with PUT /api/v3/plugins/files")
        names = [_relative(name) for name, _ in files]
        if len(set(names)) != len(names):
            raise InvalidRequest("the same relative_path is given twice")
        if not {PurePosixPath("__init__.py"), PurePosixPath("__main__.py")} & set(names):
            raise InvalidRequest("a plugin directory needs an __init__.py (a package) or a "
                                 "__main__.py (a multi-file plugin's entry file)")
        for name, (_, content) in zip(names, files, strict=True):
            _check_source(str(name), content)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}.new")
        try:
            for name, (_, content) in zip(names, files, strict=True):
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
            if not directory.exists():
                os.rename(staging, directory)
            elif _exchange(staging, directory):
                pass  # staging now holds the old directory
            else:
                old = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}.old")
                os.rename(directory, old)
                os.rename(staging, directory)
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def listed_time(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat().replace("+00:00", "Z")


def _relative(name: str) -> PurePosixPath:
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise InvalidRequest(f"invalid relative_path {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] == ".":
        raise InvalidRequest(f"relative_path '{name}' must stay inside the plugin directory")
    return path


def _check_source(name: str, content: str) -> None:
    if not isinstance(content, str):
        raise InvalidRequest(f"the content of '{name}' must be a string")
    if name.endswith(".py"):
        try:
            compile(content, name, "exec")
        except (SyntaxError, ValueError) as e:
            raise InvalidRequest(f"'{name}' is not valid Python: {e}") from None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                     _RENAME_EXCHANGE) == 0
