"""`influxdb3_local`: what a plugin can do while it runs (contract §7.4)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from timewell.engine.logs import RunLogger
from timewell.engine.rows import query_rows

INTERNAL_DATABASE = "_internal"
CANCEL_MESSAGE = "timewell is shutting down; aborting plugin execution"


class Database(Protocol):
    """The engine's view of the database: the same write and query paths HTTP uses."""

    def write_now(self, database: str, lines: str, no_sync: bool) -> None:
        """Write line protocol and return when done (durable unless `no_sync`); raise on any
        rejected line."""

    def query(self, database: str, sql: str, params: dict | None) -> pa.Table: ...


class PluginError(Exception):
    """A plugin used the API wrongly; raised into the plugin."""


class QueryError(PluginError):
    """A plugin's query failed (upstream raises `QueryError` too)."""


class PluginApi:
    """`cancelled()` turns true when the trigger is disabled or deleted or the server stops:
    the plugin's next call then raises KeyboardInterrupt (upstream's behaviour), which a
    plugin's `except Exception:` does not swallow."""

    def __init__(self, database: Database, database_name: str, logger: RunLogger, cache,
                 capture_sync_writes: bool = False,
                 cancelled: Callable[[], bool] | None = None,
                 files_root: Path | None = None) -> None:
        """`files_root`: the directory `read_plugin_file` reads (the plugin's own)."""
        self._database = database
        self._files_root = files_root
        self._database_name = database_name
        self._logger = logger
        self._cache = cache
        self._capture_sync_writes = capture_sync_writes
        self._cancelled = cancelled
        self.pending_writes: dict[str, list[str]] = defaultdict(list)

    def _checkpoint(self) -> None:
        if self._cancelled is not None and self._cancelled():
            raise KeyboardInterrupt(CANCEL_MESSAGE)

    # logging

    def info(self, *args) -> None:
        self._checkpoint()
        self._logger.log("INFO", _join(args))

    def warn(self, *args) -> None:
        self._checkpoint()
        self._logger.log("WARN", _join(args))

    def error(self, *args) -> None:
        self._checkpoint()
        self._logger.log("ERROR", _join(args))

    # writing

    def write(self, line_builder) -> None:
        """Queue `line_builder.build()` for the trigger's database, written after the run."""
        self.write_to_db(self._database_name, line_builder)

    def write_to_db(self, db_name: str, line_builder) -> None:
        self._checkpoint()
        _refuse_internal(db_name)
        self.pending_writes[db_name].append(_build(line_builder))

    def write_sync(self, line_builder, no_sync: bool = False) -> None:
        """Write now, to the trigger's database; raises if the server refuses the line."""
        self.write_sync_to_db(self._database_name, line_builder, no_sync)

    def write_sync_to_db(self, db_name: str, line_builder, no_sync: bool = False) -> None:
        self._checkpoint()
        _refuse_internal(db_name)
        lines = _build(line_builder)
        if self._capture_sync_writes:
            self.pending_writes[db_name].append(lines)
            return
        try:
            self._database.write_now(db_name, lines, no_sync)
        except Exception as e:
            raise PluginError(f"error writing line protocol to {db_name}: {e}") from None

    # querying

    def query(self, query: str, args: dict | None = None, database: str | None = None) -> list:
        """Rows as dicts: tags and strings str, timestamps int nanoseconds, NULL None."""
        return query_rows(self.query_arrow(query, args, database))

    def query_arrow(self, query: str, args: dict | None = None,
                    database: str | None = None) -> pa.Table:
        """timewell extension: the result as a pyarrow.Table, with no per-row conversion."""
        self._checkpoint()
        db_name = database or self._database_name
        if args is not None and not isinstance(args, dict):
            raise QueryError("query args must be a dict of parameter name -> value")
        try:
            return self._database.query(db_name, query, args)
        except Exception as e:
            raise QueryError(f"{e} (database: {db_name})") from None

    @property
    def cache(self):
        self._checkpoint()
        return self._cache

    # the plugin's own files

    def read_plugin_file(self, relative_path: str) -> str:
        """The text of a file of the plugin's own directory (a multi-file plugin's, or the one
        a single-file plugin is in): configuration, data. Paths leading out of it are
        refused."""
        self._checkpoint()
        if self._files_root is None:
            raise PluginError("read_plugin_file: this plugin has no directory of its own")
        root = self._files_root.resolve()
        path = (root / str(relative_path)).resolve()
        if path == root or root not in path.parents:
            raise PluginError(f"read_plugin_file: '{relative_path}' is not a file inside the "
                              f"plugin's directory")
        try:
            return path.read_text()
        except FileNotFoundError:
            raise PluginError(f"read_plugin_file: no file '{relative_path}' in the plugin's "
                              "directory") from None
        except (OSError, UnicodeDecodeError) as e:
            raise PluginError(f"read_plugin_file: cannot read '{relative_path}': {e}") from None


def _join(args: tuple) -> str:
    return " ".join(str(arg) for arg in args)


def _refuse_internal(db_name: str) -> None:
    if db_name == INTERNAL_DATABASE:
        raise PluginError("Python plugins cannot write to the _internal database")


def _build(line_builder) -> str:
    build = getattr(line_builder, "build", None)
    if not callable(build):
        raise PluginError(f"write() needs an object with a build() method such as LineBuilder, "
                          f"not {type(line_builder).__name__}")
    lines = build()
    if not isinstance(lines, str):
        raise PluginError(f"build() must return line protocol text, not {type(lines).__name__}")
    return lines
