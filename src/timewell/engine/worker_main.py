"""A plugin worker process: the only place its trigger's plugin code runs (`--plugin-isolation
process`). It is forked from the pool's pre-imported fork server, bound to one trigger, and
serves that trigger's runs until the server tells it to exit or goes away.

Threads: the main thread loads the plugin and runs it (one run at a time; a `run_async`
trigger's runs each get a thread of their own); a reader thread takes every message off the
channel, so replies to the plugin's `influxdb3_local` calls and new runs arrive while a run is
busy. SIGUSR1 means "cancelled": the plugin's next `influxdb3_local` call raises
KeyboardInterrupt. The process leaves with `os._exit`, never waiting for threads a plugin
left behind.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import queue
import resource
import signal
import site
import sys
import threading
import time
import traceback
from pathlib import Path

from timewell.engine.api import PluginApi
from timewell.engine.cache import Frozen, PluginCache
from timewell.engine.events import (
    RequestCall,
    RowsEvent,
    ScheduledCall,
    WriteEvent,
    entry_arguments,
)
from timewell.engine.execution import describe_error
from timewell.engine.ipc import Channel, ChannelClosed, read_tables
from timewell.engine.plugin_globals import export_plugin_dir, install_plugin_builtins
from timewell.engine.plugins import LoadedPlugin, PluginLoadError
from timewell.engine.responses import UnsupportedResponse, to_response
from timewell.engine.worker_api import RemoteDatabase, RemoteLogger, WorkerCache

CACHE_SYNC_INTERVAL_S = 1.0
_EXIT = object()
_exit = os._exit  # bound now: a plugin may replace os._exit in its own worker


def worker_entry(sock, memory_limit_bytes: int | None, limit_kind: str) -> None:
    """Target of the worker Process (runs in the child)."""
    if memory_limit_bytes:
        _limit_memory(memory_limit_bytes, limit_kind)
    install_plugin_builtins()
    channel = Channel(sock)
    try:
        Worker(channel).serve()
    except BaseException:  # noqa: BLE001 - the worker's own failure: say why, on stderr
        traceback.print_exc()
        _exit(70)
    _exit(0)


def _limit_memory(limit: int, kind: str) -> None:
    # The limit counts from what the worker holds now: the preloaded modules' address-space
    # reservations (pyarrow's allocator, thread stacks) are not the plugin's doing.
    which = resource.RLIMIT_DATA if kind == "data" else resource.RLIMIT_AS
    field = "VmData" if kind == "data" else "VmSize"
    baseline = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                baseline = int(line.split()[1]) * 1024
    resource.setrlimit(which, (baseline + limit, baseline + limit))


class Worker:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.pid = os.getpid()
        self.cancelled = False
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._calls: dict[int, list] = {}
        self._call_ids = itertools.count()
        self._calls_lock = threading.Lock()
        self._plugin: LoadedPlugin | None = None
        self._binding: dict = {}
        self._local_cache = PluginCache()
        self._cache: WorkerCache | None = None
        self._last_cache_sync = 0.0
        self._unpicklable: set[str] = set()  # warned about once
        self._packages_seen: int | None = None

    # -- the loop

    def serve(self) -> None:
        signal.signal(signal.SIGUSR1, self._on_cancel)
        threading.Thread(target=self._read, name="timewell-worker-reader", daemon=True).start()
        while True:
            try:
                message, fds = self._inbox.get(timeout=CACHE_SYNC_INTERVAL_S)
            except queue.Empty:
                self._sync_cache(force=True)
                continue
            if message is _EXIT:
                self._sync_cache(force=True)
                return
            kind = message[0]
            if kind == "bind":
                self._bind(message[1])
            elif kind == "check":
                self._check(message[1], message[2])
            elif kind == "run":
                if self._binding.get("run_async"):
                    threading.Thread(target=self._run, args=(message, fds), daemon=True).start()
                else:
                    self._run(message, fds)

    def _read(self) -> None:
        while True:
            try:
                message, fds = self.channel.recv()
            except (ChannelClosed, OSError):
                _exit(0)  # the server is gone: so is its plugin
            except Exception:  # noqa: BLE001 - an undecodable message ends this worker
                _exit(70)
            if message[0] == "reply":
                with self._calls_lock:
                    slot = self._calls.pop(message[1], None)
                if slot is not None:
                    slot[1] = (message[2], message[3], fds)
                    slot[0].set()
            elif message[0] == "exit":
                self._inbox.put((_EXIT, []))
            else:
                self._inbox.put((message, fds))

    def _on_cancel(self, _signum, _frame) -> None:
        self.cancelled = True

    # -- what the server asks

    def _bind(self, binding: dict) -> None:
        self._binding = binding
        export_plugin_dir(binding.get("plugin_dir"))
        database, trigger = binding["database"], binding["trigger"]
        for key, pickled, expires_at in binding.get("cache", []):
            self._local_cache.put_entry(database, trigger, key, Frozen(pickled), expires_at)
        self._cache = WorkerCache(self, self._local_cache.view(database, trigger))
        self._plugin = LoadedPlugin(Path(binding["path"]), binding["instance"],
                                    binding.get("entry"))

    def _see_new_packages(self) -> None:
        """Packages installed for plugins since the last run become importable, as they do
        in the server (environment.py): the directory joins sys.path once it exists, and the
        import caches are dropped whenever it changes."""
        packages = self._binding.get("packages_dir")
        if not packages:
            return
        try:
            changed = os.stat(packages).st_mtime_ns
        except OSError:
            return
        if changed != self._packages_seen:
            self._packages_seen = changed
            if packages not in sys.path:
                site.addsitedir(packages)
            importlib.invalidate_caches()

    def _check(self, request_id: int, entry: str) -> None:
        self._see_new_packages()
        error = None
        try:
            self._plugin.function(entry)
        except PluginLoadError as e:
            error = str(e)
        except BaseException as e:  # noqa: BLE001 - reported, the worker is discarded
            error = describe_error(e, self._plugin.path)
        self._send(("checked", request_id, error))

    def _run(self, message: tuple, fds: list[int]) -> None:
        _, run_id, entry, event_wire, trigger_arguments = message
        self._see_new_packages()
        binding = self._binding
        api = PluginApi(RemoteDatabase(self), binding["database"], RemoteLogger(self),
                        self._cache, binding.get("capture_sync_writes", False),
                        cancelled=lambda: self.cancelled, files_root=self._plugin.files_root)
        entered = None
        fatal = None
        started_cpu = time.process_time()
        ok, payload, error = False, None, None
        try:
            event = _event(event_wire, fds)
            function = self._plugin.function(entry)
            arguments = entry_arguments(event, api, trigger_arguments)
            del event
            entered = time.perf_counter()
            result = function(*arguments)
            if entry == "process_request":
                response = to_response(result)
                result = (response.status, response.headers, response.body)
            else:
                result = None
            ok, payload = True, result
        except PluginLoadError as e:
            error = str(e)
        except UnsupportedResponse as e:
            error = str(e)
        except MemoryError as e:
            error = describe_error(e, self._plugin.path)
            fatal = "memory"
        except SystemExit as e:
            error = f"the plugin called exit ({describe_error(e, self._plugin.path)})"
            fatal = "crash"
        except BaseException as e:  # noqa: BLE001 - every plugin failure is the run's error
            error = describe_error(e, self._plugin.path)
        if os.getpid() != self.pid:
            _exit(0)  # a process the plugin forked came back here: it is not the worker
        cpu_s = time.process_time() - started_cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        writes = {db: lines for db, lines in api.pending_writes.items()}
        self._sync_cache(force=False)
        self._send(("done", run_id, ok, payload, error, writes, entered, cpu_s, peak, fatal))
        if fatal is not None:
            _exit(1)

    # -- what the plugin's influxdb3_local needs

    def call(self, method: str, *args):
        """Ask the server and wait for its answer: (value, fds); raises its error."""
        if os.getpid() != self.pid:
            raise RuntimeError("influxdb3_local cannot be used in a process the plugin forked")
        slot = [threading.Event(), None]
        with self._calls_lock:
            call_id = next(self._call_ids)
            self._calls[call_id] = slot
        self._send(("call", call_id, method, args))
        slot[0].wait()
        ok, value, fds = slot[1]
        if not ok:
            for fd in fds:
                os.close(fd)
            raise _RemoteError(value)
        return value, fds

    def notify(self, message: tuple) -> None:
        if os.getpid() != self.pid:
            raise RuntimeError("influxdb3_local cannot be used in a process the plugin forked")
        self._send(message)

    def _send(self, message: tuple) -> None:
        try:
            self.channel.send(message)
        except ChannelClosed:
            _exit(0)

    def _sync_cache(self, force: bool) -> None:
        """Send the entries runs touched to the server, which keeps them across a worker
        replacement and a restart; at most once a second while runs keep coming."""
        cache = self._cache
        if cache is None or not cache.touched:
            return
        now = time.monotonic()
        if not force and now - self._last_cache_sync < CACHE_SYNC_INTERVAL_S:
            return
        self._last_cache_sync = now
        keys, cache.touched = cache.touched, set()
        binding = self._binding
        database, trigger = binding["database"], binding["trigger"]
        rows = self._local_cache.frozen_namespace(database, trigger, keys)
        for key, pickled, _ in rows:
            if (pickled is None and key not in self._unpicklable
                    and self._local_cache.holds(database, trigger, key)):
                self._unpicklable.add(key)
                self._send(("log", "WARN", f"plugin cache entry {database}/{trigger}:{key} "
                            "cannot be pickled; it is not kept across a restart or a "
                            "replacement of the worker process"))
        with contextlib.suppress(Exception):
            self._send(("cache", rows))


class _RemoteError(Exception):
    """The server refused a call; PluginApi wraps it in the error the plugin sees."""


def _event(wire: tuple, fds: list[int]):
    kind = wire[0]
    if kind == "writes":
        event = WriteEvent(read_tables(fds[0], wire[1]))
        for fd in fds[1:]:
            os.close(fd)
        return event
    if kind == "schedule":
        return ScheduledCall(wire[1])
    if kind == "rows":
        return RowsEvent(wire[1])
    return RequestCall(wire[1], wire[2], wire[3])

