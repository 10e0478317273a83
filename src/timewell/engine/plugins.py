"""Plugin files: finding them safely under the plugin directory, loading them, and reloading
them when they change.

A plugin is loaded as a real module: in `sys.modules` under a name unique to its trigger (so
`dataclasses`, `enum.unique`, `typing.get_type_hints` and `pickle` find it), with `__file__`
and `__spec__`, one module per trigger so two triggers of one file never share globals. A
directory with `__init__.py` is imported as a package under that unique name too, so its
sibling modules import relatively and a package named `json` or `pyarrow` never replaces the
server's own module. A directory without `__init__.py` is upstream's multi-file plugin: its
`.py` files run in one module, the entry file (`__main__.py`) last. All are reloaded on the
next run after any of their files changes (modification time and size).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
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


MAIN_FILE = "__main__.py"  # the entry file of a multi-file plugin (a directory without
# __init__.py): upstream's convention
_DIR_PREFIX = "dir:"  # upstream's earlier form for one: dir:<directory>:<entry file>


def multi_file_entry(filename: str) -> str | None:
    """The entry file a `dir:<directory>:<entry file>` plugin name gives; None for other
    names (a multi-file directory named plainly has `__main__.py`)."""
    if not filename.startswith(_DIR_PREFIX):
        return None
    return filename[len(_DIR_PREFIX):].rpartition(":")[2] or None


class PluginDirectory:
    def __init__(self, root: Path | None) -> None:
        self.root = root.expanduser().resolve() if root is not None else None

    def resolve(self, filename: str) -> Path:
        """The plugin file or directory `filename` names, inside the plugin directory: a `.py`
        file, a package (a directory with `__init__.py`), or a multi-file plugin (a directory
        of `.py` files run in one namespace, entry `__main__.py`, or the entry file
        `dir:<directory>:<entry file>` names).

        InvalidRequest for names that would escape it (`..`, absolute paths elsewhere,
        symlinks pointing outside) and for a directory without its entry file; NotFound when
        nothing is there."""
        entry = None
        if filename.startswith(_DIR_PREFIX):
            directory, sep, entry = filename[len(_DIR_PREFIX):].rpartition(":")
            if not sep or not directory or not entry:
                raise InvalidRequest(f"plugin name '{filename}' is not "
                                     "dir:<directory>:<entry file>")
            filename = directory
        path = self.target(filename)
        if not path.exists():
            raise NotFound(f"plugin file '{filename}' not found in the plugin directory "
                           f"{self.root}")
        if path.is_dir():
            if entry is not None:
                if "/" in entry or "\\" in entry or not entry.endswith(".py"):
                    raise InvalidRequest(f"entry file '{entry}' must be a .py file directly "
                                         f"in plugin directory '{filename}'")
                if not (path / entry).is_file():
                    raise InvalidRequest(f"plugin directory '{filename}' has no entry file "
                                         f"{entry}")
            elif not (path / "__init__.py").is_file() and not (path / MAIN_FILE).is_file():
                raise InvalidRequest(f"plugin directory '{filename}' has neither __init__.py "
                                     f"(a package) nor {MAIN_FILE} (a multi-file plugin's "
                                     "entry file)")
        elif entry is not None:
            raise InvalidRequest(f"plugin '{filename}' is not a directory (dir:<directory>:"
                                 "<entry file>)")
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

    def __init__(self, path: Path, instance_name: str, entry: str | None = None) -> None:
        """`entry`: the entry file of a multi-file plugin directory (default: `__main__.py`
        when the directory has no `__init__.py`)."""
        self.path = path
        self._instance_name = instance_name
        self._fingerprint: tuple | None = None
        self._namespace: types.ModuleType | None = None
        self._is_package = path.is_dir()
        self._entry = entry if entry is not None or not self._is_package or (
            path / "__init__.py").is_file() else MAIN_FILE
        self._lock = threading.Lock()

    @property
    def files_root(self) -> Path:
        """The directory `read_plugin_file` reads from: the plugin's own directory."""
        return self.path if self._is_package else self.path.parent

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
        found = getattr(namespace, name, None)
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

    @property
    def module_name(self) -> str:
        """The name the plugin's module has in `sys.modules`: stable for a trigger across
        restarts (pickles of its classes name it), unique between triggers."""
        digest = hashlib.sha1(self._instance_name.encode()).hexdigest()[:8]
        return f"timewell_plugin_{_identifier(self._instance_name)}_{digest}"

    def _load(self) -> types.ModuleType:
        if self._is_package and self._entry is not None:
            return self._load_multi_file()
        if self._is_package:
            return self._import_package()
        try:
            source = self.path.read_bytes()
            # dont_inherit: this loader's own `from __future__ import annotations` must not
            # turn every plugin's annotations into strings.
            code = compile(source, str(self.path), "exec", dont_inherit=True)
        except (OSError, SyntaxError, ValueError) as e:
            raise PluginLoadError(f"plugin '{self.path.name}' cannot be loaded: "
                                  f"{type(e).__name__}: {e}") from None
        name = self.module_name
        spec = importlib.util.spec_from_file_location(name, self.path)
        module = importlib.util.module_from_spec(spec)
        previous = sys.modules.get(name)
        # In sys.modules while it executes: @dataclass and friends look their module up there.
        sys.modules[name] = module
        try:
            exec(code, module.__dict__)
        except BaseException as e:
            _restore_module(name, previous)
            if not isinstance(e, Exception):
                raise
            raise PluginLoadError(f"plugin '{self.path.name}' failed while loading: "
                                  f"{type(e).__name__}: {e}{_missing_hint(e, self.path)}") from e
        return module

    def _load_multi_file(self) -> types.ModuleType:
        """Upstream's multi-file plugin: the directory's other `.py` files (in name order),
        then its entry file, run in one namespace, so each sees what the others define
        without importing them. While they run, a sibling is importable by its plain name
        (`from helper import process_data`, as upstream's examples write), unless that name is
        a module the server has loaded: the import gives the shared namespace."""
        entry = self.path / self._entry
        others = sorted(p for p in self.path.glob("*.py")
                        if p.name != self._entry and p.is_file())
        name = self.module_name
        spec = importlib.util.spec_from_file_location(name, entry)
        module = importlib.util.module_from_spec(spec)
        previous = sys.modules.get(name)
        sys.modules[name] = module
        current = entry
        try:
            with self._import_lock:
                siblings = [p.stem for p in others if p.stem.isidentifier()
                            and p.stem not in sys.modules]
                sys.modules.update(dict.fromkeys(siblings, module))
                try:
                    for current in [*others, entry]:
                        code = compile(current.read_bytes(), str(current), "exec",
                                       dont_inherit=True)
                        exec(code, module.__dict__)
                finally:
                    for sibling in siblings:
                        sys.modules.pop(sibling, None)
        except BaseException as e:
            _restore_module(name, previous)
            if not isinstance(e, Exception):
                raise
            raise PluginLoadError(f"plugin '{self.path.name}' failed while loading "
                                  f"{current.name}: {type(e).__name__}: {e}"
                                  f"{_missing_hint(e, self.path)}") from e
        return module

    def _import_package(self) -> types.ModuleType:
        name = self.module_name
        with self._import_lock:
            stale = [m for m in sys.modules if m == name or m.startswith(name + ".")]
            saved = {m: sys.modules.pop(m) for m in stale}
            spec = importlib.util.spec_from_file_location(
                name, self.path / "__init__.py", submodule_search_locations=[str(self.path)])
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                importlib.invalidate_caches()
                spec.loader.exec_module(module)
            except BaseException as e:
                for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                    del sys.modules[m]
                sys.modules.update(saved)
                if not isinstance(e, Exception):
                    raise
                raise PluginLoadError(f"plugin package '{self.path.name}' failed to import: "
                                      f"{type(e).__name__}: {e}{_missing_hint(e, self.path)}"
                                      ) from e
            return module


def _restore_module(name: str, previous: types.ModuleType | None) -> None:
    if previous is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = previous


def _missing_hint(error: Exception, path: Path) -> str:
    if not isinstance(error, ImportError):
        return ""
    from timewell.engine.dependencies import missing_hint

    return missing_hint(path)


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)
