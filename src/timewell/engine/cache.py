"""`influxdb3_local.cache`: live Python objects kept between plugin runs (contract §7.4).

Each trigger has its own namespace, keyed by database and trigger name; `use_global=True`
reaches one namespace shared by every trigger of the server (as upstream). Values are the
objects the plugin put, not copies. Expiry is an absolute wall-clock time, so an entry keeps
its deadline across `dump`/`restore` and therefore across restarts. **(better)** Upstream
forgets the cache on restart.

Plugin runs happen on worker threads, several at once, so every access takes one lock. The
lock is never held while pickling or unpickling: that runs plugin code (`__reduce__`,
`__setstate__`), which could call back into the cache.

Restored entries stay pickled (`Frozen`) until a run first reads them: a plugin-defined class
can only be found once its plugin module is loaded, and in worker-process mode the server
never loads plugin code at all. The server's mirror of a worker's own namespace holds only
such pickled values (`put_frozen`).
"""

from __future__ import annotations

import math
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CacheRestoreError", "CacheView", "Frozen", "PluginCache"]

_FORMAT = "timewell-plugin-cache"
_VERSION = 1
_GLOBAL = ("", "")  # no trigger can have an empty name, so this never collides with one


class CacheRestoreError(ValueError):
    """A saved cache cannot be read back (corrupt, truncated or not a cache dump)."""


@dataclass(slots=True)
class _Entry:
    value: Any
    expires_at: float | None  # wall-clock seconds since the epoch; None = never

    def expired(self, now: float) -> bool:
        # Upstream treats the deadline itself as expired, so ttl=0 is gone at once.
        return self.expires_at is not None and self.expires_at <= now


_Namespace = tuple[str, str]  # (database, trigger name), or _GLOBAL


@dataclass(frozen=True, slots=True)
class Frozen:
    """A value kept pickled: unpickled where and when a run reads it."""

    data: bytes


def _describe(namespace: _Namespace, key: str) -> str:
    if namespace == _GLOBAL:
        return f"global:{key}"
    return f"{namespace[0]}/{namespace[1]}:{key}"


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"cache keys must be str, not {type(key).__name__}")


def _expiry(ttl: object, now: float) -> float | None:
    if ttl is None:
        return None
    # bool is an int: cache.put(key, value, True) almost certainly meant use_global=True.
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(
            f"ttl must be a number of seconds or None, not {type(ttl).__name__}"
            + (" (pass use_global=True by keyword)" if isinstance(ttl, bool) else "")
        )
    if math.isnan(ttl) or ttl < 0:
        raise ValueError(f"ttl must be zero or more seconds, not {ttl}")
    if math.isinf(ttl):
        return None
    return now + ttl


class PluginCache:
    """Every trigger's cache plus the global one; plugins see it through `CacheView`s."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._namespaces: dict[_Namespace, dict[str, _Entry]] = {}

    def view(self, database: str, trigger_name: str) -> CacheView:
        """The cache as the trigger `trigger_name` of `database` sees it."""
        if not trigger_name:
            raise ValueError("a cache view needs a trigger name")
        return CacheView(self, (database, trigger_name))

    def clear_trigger(self, database: str, trigger_name: str) -> None:
        """Forget a trigger's entries (the trigger was deleted)."""
        with self._lock:
            self._namespaces.pop((database, trigger_name), None)

    def clear_database(self, database: str) -> None:
        """Forget the entries of every trigger of `database` (the database was deleted)."""
        with self._lock:
            for namespace in [ns for ns in self._namespaces if ns != _GLOBAL
                              and ns[0] == database]:
                del self._namespaces[namespace]

    def evict_expired(self) -> int:
        """Drop expired entries (and namespaces left empty); the number of entries dropped."""
        now = self._clock()
        evicted = 0
        with self._lock:
            for namespace, entries in list(self._namespaces.items()):
                for key in [k for k, entry in entries.items() if entry.expired(now)]:
                    del entries[key]
                    evicted += 1
                if not entries:
                    del self._namespaces[namespace]
        return evicted

    def __len__(self) -> int:
        """Entries held, expired ones not yet evicted included."""
        with self._lock:
            return sum(len(entries) for entries in self._namespaces.values())

    # persistence

    def dump(self) -> tuple[bytes, list[str]]:
        """The unexpired entries that can be pickled, as bytes for `restore`, and the entries
        left out because they cannot (as `db/trigger:key` or `global:key`)."""
        now = self._clock()
        with self._lock:
            snapshot = [
                (namespace, key, entry.value, entry.expires_at)
                for namespace, entries in self._namespaces.items()
                for key, entry in entries.items()
                if not entry.expired(now)
            ]
        saved: list[tuple[_Namespace, str, bytes, float | None]] = []
        dropped: list[str] = []
        for namespace, key, value, expires_at in snapshot:
            # One value at a time, so one lambda or lock does not cost every other entry.
            pickled = value.data if isinstance(value, Frozen) else _pickle_value(value)
            if pickled is None:
                dropped.append(_describe(namespace, key))
            else:
                saved.append((namespace, key, pickled, expires_at))
        state = {"format": _FORMAT, "version": _VERSION, "entries": saved}
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), dropped

    def restore(self, data: bytes) -> list[str]:
        """Load a `dump`, skipping entries that have expired meanwhile. Keys already present
        are kept as they are (they are newer). Values stay pickled until first read (a value
        whose class is gone then reads as missing); returns the entries that cannot be
        restored (none today: kept for callers that log them). A corrupt dump raises
        `CacheRestoreError` and changes nothing.

        Only load dumps this server wrote: unpickling runs code named in the data.
        """
        entries = _read_dump(data)
        now = self._clock()
        loaded = [(namespace, key, Frozen(pickled), expires_at)
                  for namespace, key, pickled, expires_at in entries
                  if expires_at is None or expires_at > now]
        failed: list[str] = []
        with self._lock:
            for namespace, key, value, expires_at in loaded:
                self._namespaces.setdefault(namespace, {}).setdefault(
                    key, _Entry(value, expires_at))
        return failed

    # what CacheView calls

    def _get(self, namespace: _Namespace, key: str, default: Any) -> Any:
        _check_key(key)
        now = self._clock()
        with self._lock:
            entries = self._namespaces.get(namespace)
            entry = entries.get(key) if entries else None
            if entry is None:
                return default
            if entry.expired(now):
                del entries[key]
                return default
            value = entry.value
        if not isinstance(value, Frozen):
            return value
        try:
            thawed = pickle.loads(value.data)
        except Exception:  # its class is gone or changed: the entry is lost
            with self._lock:
                if entries.get(key) is entry:
                    del entries[key]
            return default
        with self._lock:
            if entries.get(key) is entry:
                entry.value = thawed
        return thawed

    def frozen_namespace(self, database: str, trigger_name: str,
                         keys: set[str] | None = None) -> list[tuple]:
        """A trigger's unexpired entries (only `keys`, when given) as (key, pickled value,
        expires_at): what its worker process starts from, or a worker's changes for the
        server's mirror. The pickled value is None for a key that is gone or whose value
        cannot be pickled."""
        now = self._clock()
        with self._lock:
            held = self._namespaces.get((database, trigger_name), {})
            wanted = held.keys() if keys is None else keys
            entries = [(key, held.get(key)) for key in wanted]
        rows = []
        for key, entry in entries:
            if entry is None or entry.expired(now):
                rows.append((key, None, None))
                continue
            value = entry.value
            pickled = value.data if isinstance(value, Frozen) else _pickle_value(value)
            rows.append((key, pickled, entry.expires_at))
        return rows

    def holds(self, database: str, trigger_name: str, key: str) -> bool:
        """Whether the trigger's namespace has `key` (expired or not, without unpickling)."""
        with self._lock:
            return key in self._namespaces.get((database, trigger_name), {})

    def apply_frozen(self, database: str, trigger_name: str, changes: list[tuple]) -> None:
        """Mirror a worker's changes to its namespace: (key, pickled value, expires_at) puts
        and (key, None, None) deletions."""
        namespace = (database, trigger_name)
        with self._lock:
            entries = self._namespaces.setdefault(namespace, {})
            for key, pickled, expires_at in changes:
                if pickled is None:
                    entries.pop(key, None)
                else:
                    entries[key] = _Entry(Frozen(pickled), expires_at)
            if not entries:
                del self._namespaces[namespace]

    def put_entry(self, database: str, trigger_name: str, key: str, value: Any,
                  expires_at: float | None) -> None:
        """Store with an absolute expiry (what a worker starts from)."""
        with self._lock:
            self._namespaces.setdefault((database, trigger_name), {})[key] = _Entry(
                value, expires_at)

    # the global namespace as worker processes reach it: pickled values, never unpickled here

    def global_pickled(self, key: str) -> bytes | None:
        _check_key(key)
        now = self._clock()
        with self._lock:
            entries = self._namespaces.get(_GLOBAL)
            entry = entries.get(key) if entries else None
            if entry is None or entry.expired(now):
                return None
            value = entry.value
        return value.data if isinstance(value, Frozen) else _pickle_value(value)

    def put_global_pickled(self, key: str, data: bytes, expires_at: float | None) -> None:
        _check_key(key)
        with self._lock:
            self._namespaces.setdefault(_GLOBAL, {})[key] = _Entry(Frozen(data), expires_at)

    def delete_global(self, key: str) -> bool:
        return self._delete(_GLOBAL, key)

    def _put(self, namespace: _Namespace, key: str, value: Any, ttl: float | None) -> None:
        _check_key(key)
        entry = _Entry(value, _expiry(ttl, self._clock()))
        with self._lock:
            self._namespaces.setdefault(namespace, {})[key] = entry

    def _delete(self, namespace: _Namespace, key: str) -> bool:
        _check_key(key)
        now = self._clock()
        with self._lock:
            entries = self._namespaces.get(namespace)
            entry = entries.pop(key, None) if entries else None
            return entry is not None and not entry.expired(now)


def _pickle_value(value: Any) -> bytes | None:
    for _attempt in range(2):
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except RuntimeError:
            # A plugin thread changed the dict or list while it was being pickled; try again.
            continue
        except Exception:  # pickling runs arbitrary __reduce__ code; any failure means no
            return None
    return None


def _read_dump(data: bytes) -> list[tuple[_Namespace, str, bytes, float | None]]:
    try:
        state = pickle.loads(data)
    except Exception as e:
        raise CacheRestoreError(f"the saved plugin cache is unreadable: {e}") from None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise CacheRestoreError("the saved plugin cache is not a timewell plugin cache dump")
    if state.get("version") != _VERSION:
        raise CacheRestoreError(
            f"the saved plugin cache has version {state.get('version')!r}; this server reads "
            f"version {_VERSION}"
        )
    entries = state.get("entries")
    if not isinstance(entries, list) or not all(_valid_row(row) for row in entries):
        raise CacheRestoreError("the saved plugin cache has malformed entries")
    return entries


def _valid_row(row: object) -> bool:
    if not (isinstance(row, tuple) and len(row) == 4):
        return False
    namespace, key, pickled, expires_at = row
    return (
        isinstance(namespace, tuple) and len(namespace) == 2
        and all(isinstance(part, str) for part in namespace)
        and isinstance(key, str)
        and isinstance(pickled, bytes)
        and (expires_at is None or isinstance(expires_at, float | int))
    )


class CacheView:
    """One trigger's window on the cache: its own namespace, or the global one with
    `use_global=True`. This is the object plugins get as `influxdb3_local.cache`."""

    __slots__ = ("_cache", "_namespace")

    def __init__(self, cache: PluginCache, namespace: _Namespace) -> None:
        self._cache = cache
        self._namespace = namespace

    def _target(self, use_global: bool) -> _Namespace:
        return _GLOBAL if use_global else self._namespace

    def get(self, key: str, default: Any = None, use_global: bool = False) -> Any:
        """The value stored under `key` (the same object that was put), or `default` when it
        is missing or expired."""
        return self._cache._get(self._target(use_global), key, default)

    def put(self, key: str, value: Any, ttl: float | None = None,
            use_global: bool = False) -> None:
        """Store `value` under `key`, replacing any previous value; it expires after `ttl`
        seconds (None: never)."""
        self._cache._put(self._target(use_global), key, value, ttl)

    def delete(self, key: str, use_global: bool = False) -> bool:
        """Remove `key`; True if it was there and had not expired."""
        return self._cache._delete(self._target(use_global), key)

    def __repr__(self) -> str:
        database, trigger = self._namespace
        return f"<CacheView database={database!r} trigger={trigger!r}>"
