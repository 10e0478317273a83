"""The worker process's side of `influxdb3_local`: the same `PluginApi` plugins get in thread
mode, over stand-ins that reach the server through the worker's channel.

Logs are sent without waiting; `write_sync` and queries wait for the server's answer (a query
result arrives as Arrow in shared memory); `write`/`write_to_db` stay in the worker until the
run ends. The trigger's own cache lives here, as live objects; `use_global=True` reaches the
server's global namespace, so those values are copies (pickled)."""

from __future__ import annotations

import pickle
import time
from pickle import dumps as _dumps
from pickle import loads as _loads
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from timewell.engine.cache import CacheView, _check_key, _expiry
from timewell.engine.ipc import read_tables

if TYPE_CHECKING:
    from timewell.engine.worker_main import Worker


class RemoteDatabase:
    """`api.Database` through the server."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def write_now(self, database: str, lines: str, no_sync: bool) -> None:
        self._worker.call("write_sync", database, lines, no_sync)

    def query(self, database: str, sql: str, params: dict | None) -> pa.Table:
        layout, fds = self._worker.call("query", database, sql, params)
        return read_tables(fds[0], layout)[0][1]


class RemoteLogger:
    """`logs.RunLogger` through the server."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def log(self, level: str, text: str, routine: bool = False) -> None:
        self._worker.notify(("log", level, text))


class WorkerCache:
    """`influxdb3_local.cache` in a worker: the trigger's namespace here, the global one at the
    server. Remembers which keys runs touched, so that only those are sent back."""

    def __init__(self, worker: Worker, view: CacheView) -> None:
        self._worker = worker
        self._view = view
        self.touched: set[str] = set()

    def get(self, key: str, default: Any = None, use_global: bool = False) -> Any:
        _check_key(key)
        if use_global:
            pickled, _ = self._worker.call("cache_get", key)
            return default if pickled is None else _loads(pickled)
        self.touched.add(key)  # the object may be changed in place
        return self._view.get(key, default)

    def put(self, key: str, value: Any, ttl: float | None = None,
            use_global: bool = False) -> None:
        _check_key(key)
        if use_global:
            expires_at = _expiry(ttl, time.time())
            self._worker.call("cache_put", key, _dumps(value, pickle.HIGHEST_PROTOCOL),
                              expires_at)
            return
        self._view.put(key, value, ttl)
        self.touched.add(key)

    def delete(self, key: str, use_global: bool = False) -> bool:
        _check_key(key)
        if use_global:
            existed, _ = self._worker.call("cache_delete", key)
            return existed
        self.touched.add(key)
        return self._view.delete(key)

    def __repr__(self) -> str:
        return repr(self._view)
