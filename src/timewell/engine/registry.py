"""The plugin registry: every plugin file the triggers use, where it came from and which
version runs (`system.plugin_files`, `timewell show plugins`)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from timewell.catalog import TriggerDefinition
from timewell.engine.repository import content_version
from timewell.engine.sources import PLUGIN_RECORD, PluginSources, describe_source

_SKIPPED_DIRS = {"__pycache__", ".git"}


@dataclass(frozen=True)
class PluginFile:
    trigger: str
    database: str
    file_name: str
    path: Path
    size_bytes: int
    last_modified_ms: int
    source: str
    version: str


class ContentHashes:
    """Content versions of local plugins, recomputed only when a file's size or mtime moves."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def version(self, path: Path) -> str:
        if path.is_file():
            return self._file(path)
        digest = hashlib.sha256()
        for file in plugin_files(path):
            digest.update(f"{file.relative_to(path).as_posix()}\0{self._file(file)}\0".encode())
        return "sha256:" + digest.hexdigest()[:16]

    def _file(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            known = self._known.get(key)
        if known is None:
            known = content_version(path.read_bytes())
            with self._lock:
                self._known[key] = known
        return known


def plugin_files(path: Path) -> list[Path]:
    """The files of a plugin: itself, or every file of its package directory."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix != ".pyc"
                  and not _SKIPPED_DIRS.intersection(p.relative_to(path).parts))


def registry_rows(triggers: list[tuple[str, TriggerDefinition]], sources: PluginSources,
                  hashes: ContentHashes) -> list[PluginFile]:
    rows = []
    for database, trigger in triggers:
        record = trigger.extra.get(PLUGIN_RECORD)
        try:
            if record is not None:
                path = sources.snapshots.path(record)
                source, version = describe_source(record), record["version"]
            else:
                path = sources.plugins.resolve(trigger.plugin_filename)
                source = f"plugin-dir:{trigger.plugin_filename}"
                version = hashes.version(path)
            for file in plugin_files(path):
                stat = file.stat()
                name = file.name if file == path else file.relative_to(path).as_posix()
                rows.append(PluginFile(trigger.name, database, name, file, stat.st_size,
                                       stat.st_mtime_ns // 1_000_000, source, version))
        except Exception:  # a missing or unreadable plugin has no files to show
            continue
    return rows


def registry_table(rows: list[PluginFile]) -> pa.Table:
    users: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        users.setdefault((row.source, row.version), set()).add(f"{row.database}.{row.trigger}")
    return pa.table({
        "plugin_name": pa.array([r.trigger for r in rows], pa.string()),
        "file_name": pa.array([r.file_name for r in rows], pa.string()),
        "file_path": pa.array([str(r.path) for r in rows], pa.string()),
        "size_bytes": pa.array([r.size_bytes for r in rows], pa.int64()),
        "last_modified": pa.array([r.last_modified_ms for r in rows], pa.int64()),
        "source": pa.array([r.source for r in rows], pa.string()),
        "version": pa.array([r.version for r in rows], pa.string()),
        "triggers": pa.array([",".join(sorted(users[(r.source, r.version)])) for r in rows],
                             pa.string()),
        "database_name": pa.array([r.database for r in rows], pa.string()),
    })
