"""Writing plugin code over the API: one file at a time, or a whole package directory swapped
in at once. Every path is checked to stay inside the plugin directory."""

from __future__ import annotations

import ctypes
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

from timewell.engine.plugins import PluginDirectory
from timewell.errors import InvalidRequest

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


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
        if PurePosixPath("__init__.py") not in names:
            raise InvalidRequest("a plugin directory needs an __init__.py")
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
