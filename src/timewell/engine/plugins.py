"""Plugin files: finding them safely under the plugin directory, loading them, and reloading
them when they change.

A single `.py` file is compiled and executed into a fresh module namespace per trigger, so two
triggers of one file never share globals; a directory with `__init__.py` is imported as a
package (its name is the directory's, as upstream), so its sibling modules import. Both are
reloaded on the next run after any of their files changes (modification time and size).
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import os
import re
import sys
import threading
import types
from pathlib import Path

from timewell.errors import InvalidRequest, NotFound

ENTRY_POINTS = {
    "process_writes": "process_writes(influxdb3_local, table_batches, args)",
    "process_scheduled_call": "process_scheduled_call(influxdb3_local, call_time, args)",
    "process_request": ("process_request(influxdb3_local, query_parameters, request_headers, "
                        "request_body, args)"),
}


class PluginLoadError(Exception):
    """The plugin cannot be loaded or lacks its entry function; the message says why."""


class PluginDirectory:
    def __init__(self, root: Path | None) -> None:
        self.root = root.expanduser().resolve() if root is not None else None

    def resolve(self, filename: str) -> Path:
        """The plugin file or package directory `filename` names, inside the plugin directory.

        InvalidRequest for names that would escape it (`..`, absolute paths elsewhere,
        symlinks pointing outside); NotFound when nothing is there."""
        path = self.target(filename)
        if not path.exists():
            raise NotFound(f"plugin file '{filename}' not found in the plugin directory "
                           f"{self.root}")
        if path.is_dir() and not (path / "__init__.py").is_file():
            raise InvalidRequest(f"plugin directory '{filename}' has no __init__.py")
        if path.is_file() and path.suffix != ".py":
            raise InvalidRequest(f"plugin file '{filename}' is not a .py file")
        return path

    def target(self, filename: str) -> Path:
        """Where `filename` lies inside the plugin directory, whether it exists or not;
        InvalidRequest for names that would escape it."""
        if self.root is None:
            raise InvalidRequest("the server has no plugin directory: start it with "
                                 "--plugin-dir DIR (or TIMEWELL_PLUGIN_DIR)")
        if not filename or "\x00" in filename:
            raise InvalidRequest("plugin filename is empty")
        candidate = Path(filename)
        if candidate.is_absolute():
            try:
                candidate = candidate.resolve().relative_to(self.root)
            except ValueError:
                raise InvalidRequest(f"plugin path '{filename}' is outside the plugin "
                                     f"directory {self.root}") from None
        if ".." in candidate.parts:
            raise InvalidRequest(f"plugin path '{filename}' may not contain '..'")
        path = (self.root / candidate).resolve()
        if path != self.root and self.root not in path.parents:
            raise InvalidRequest(f"plugin path '{filename}' leads outside the plugin directory "
                                 "(through a symlink)")
        return path


class LoadedPlugin:
    """One trigger's instance of a plugin: its own namespace, reloaded when files change."""

    _import_lock = threading.Lock()  # sys.path and sys.modules are process-wide

    def __init__(self, path: Path, instance_name: str) -> None:
        self.path = path
        self._instance_name = instance_name
        self._fingerprint: tuple | None = None
        self._namespace: dict | types.ModuleType | None = None
        self._is_package = path.is_dir()
        self._lock = threading.Lock()

    def function(self, name: str):
        """The entry function `name`, loading or reloading the plugin first if needed."""
        # The check runs on every call without the lock, so concurrent runs don't queue;
        # only a (re)load takes it.
        fingerprint = self._current_fingerprint()
        namespace = self._namespace
        if fingerprint != self._fingerprint or namespace is None:
            with self._lock:
                if fingerprint != self._fingerprint or self._namespace is None:
                    self._namespace = self._load()
                    self._fingerprint = fingerprint
                namespace = self._namespace
        found = (namespace.get(name) if isinstance(namespace, dict)
                 else getattr(namespace, name, None))
        if not callable(found):
            raise PluginLoadError(f"plugin '{self.path.name}' has no function "
                                  f"{ENTRY_POINTS.get(name, name)}")
        return found

    def _current_fingerprint(self) -> tuple:
        try:
            if self._is_package:
                return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                                    for p in self.path.rglob("*.py")))
            stat = self.path.stat()
            return (stat.st_mtime_ns, stat.st_size)
        except OSError as e:
            raise PluginLoadError(f"plugin '{self.path}' cannot be read: {e}") from None

    def _load(self):
        if self._is_package:
            return self._import_package()
        try:
            source = self.path.read_bytes()
            code = compile(source, str(self.path), "exec")
        except (OSError, SyntaxError, ValueError) as e:
            raise PluginLoadError(f"plugin '{self.path.name}' cannot be loaded: "
                                  f"{type(e).__name__}: {e}") from None
        namespace = {"__name__": f"timewell_plugin_{_identifier(self._instance_name)}",
                     "__file__": str(self.path), "__builtins__": builtins}
        try:
            exec(code, namespace)
        except Exception as e:
            raise PluginLoadError(f"plugin '{self.path.name}' failed while loading: "
                                  f"{type(e).__name__}: {e}{_missing_hint(e, self.path)}") from e
        return namespace

    def _import_package(self):
        name = self.path.name
        with self._import_lock:
            for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[module]
            sys.path.insert(0, str(self.path.parent))
            try:
                importlib.invalidate_caches()
                return importlib.import_module(name)
            except Exception as e:
                raise PluginLoadError(f"plugin package '{name}' failed to import: "
                                      f"{type(e).__name__}: {e}{_missing_hint(e, self.path)}"
                                      ) from e
            finally:
                sys.path.remove(str(self.path.parent))


def _missing_hint(error: Exception, path: Path) -> str:
    if not isinstance(error, ImportError):
        return ""
    from timewell.engine.dependencies import missing_hint

    return missing_hint(path)


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)


def export_plugin_dir(root: Path | None) -> None:
    """Plugins find their own files through $PLUGIN_DIR, as on upstream."""
    if root is not None:
        os.environ["PLUGIN_DIR"] = str(root)
