"""`--plugin-isolation process`: one trigger's plugin in a worker process of its own.

The server side of a trigger's worker: it binds a fresh worker to the trigger (plugin path,
module name, the trigger's cache entries), sends it runs, answers its `influxdb3_local` calls
(writes through the write service, queries through the query engine, the global cache), and
turns what can go wrong into a failed run: a time limit passed (the worker is killed, even when
blocked in C), the memory limit hit, the worker dead. The next run gets a new worker; module
globals start over then, the cache does not (the worker sends what runs touched).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass

from timewell.engine.api import CANCEL_MESSAGE
from timewell.engine.cache import PluginCache
from timewell.engine.events import Invocation, RequestCall, RowsEvent, ScheduledCall, WriteEvent
from timewell.engine.execution import RunDone, RunFailed, timeout_message
from timewell.engine.ipc import ChannelClosed, write_tables
from timewell.engine.logs import RunLogger
from timewell.engine.plugins import PluginLoadError
from timewell.engine.responses import PluginResponse
from timewell.engine.worker_pool import WorkerPool, WorkerProcess

CHECK_TIMEOUT_S = 60.0
_INLINE_EVENT_BYTES = 1 << 20  # bigger write events are copied to shared memory off the loop


@dataclass(frozen=True)
class WorkerBinding:
    """Who a worker works for."""

    database: str
    trigger: str
    path: str
    instance: str  # names the plugin's module (stable across restarts, for pickles)
    run_async: bool = False
    capture_sync_writes: bool = False  # dry runs
    plugin_dir: str | None = None
    packages_dir: str | None = None
    entry: str | None = None  # a multi-file plugin's entry file


class WorkerExecution:
    def __init__(self, pool: WorkerPool, binding: WorkerBinding, database, cache: PluginCache,
                 logger: RunLogger, memory_limit_text: str,
                 on_restart: Callable[[str, str], None] = lambda cause, detail: None,
                 on_memory: Callable[[int], None] = lambda peak: None) -> None:
        self._pool = pool
        self.binding = binding
        self._database = database  # NodeDatabase
        self._cache = cache
        self._logger = logger
        self._memory_limit_text = memory_limit_text
        self._on_restart = on_restart
        self._on_memory = on_memory
        self._worker: WorkerProcess | None = None
        self._starting: asyncio.Lock | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count()
        self._calls: set[asyncio.Task] = set()
        self._stopped = False

    # -- Execution

    async def check(self, entry: str) -> None:
        worker = await self._ensure_worker()
        request_id, future = self._expect()
        try:
            worker.send(("check", request_id, entry))
            error = await asyncio.wait_for(asyncio.shield(future), CHECK_TIMEOUT_S)
        except TimeoutError:
            worker.kill("timeout")
            raise PluginLoadError(f"loading plugin '{os.path.basename(self.binding.path)}' "
                                  f"took longer than {CHECK_TIMEOUT_S:g}s") from None
        except (RunFailed, ChannelClosed) as e:
            raise PluginLoadError(f"plugin '{os.path.basename(self.binding.path)}' failed "
                                  f"while loading: {e}") from None
        finally:
            self._pending.pop(request_id, None)
        if error is not None:
            raise PluginLoadError(error)

    async def execute(self, invocation: Invocation, logger: RunLogger,
                      timeout_s: float | None) -> RunDone:
        if self._stopped:
            raise RunFailed(f"KeyboardInterrupt: {CANCEL_MESSAGE}")
        self._logger = logger
        worker = await self._ensure_worker()
        wire, fds = await _encode(invocation)
        run_id, future = self._expect()
        try:
            worker.send(("run", run_id, invocation.entry, wire, invocation.trigger_arguments),
                        fds)
            async with asyncio.timeout(timeout_s):  # cheaper than wait_for, per run
                return await asyncio.shield(future)
        except TimeoutError:
            worker.kill("timeout")
            raise RunFailed(f"{timeout_message(timeout_s)}; its worker process was killed "
                            "and will be replaced") from None
        except ChannelClosed as e:
            raise RunFailed(f"the plugin's worker process could not be reached: {e}") from None
        finally:
            self._pending.pop(run_id, None)

    def cancel(self) -> None:
        self._stopped = True
        if self._worker is not None and self._pending:
            self._worker.cancel()

    async def stop(self, grace_s: float) -> None:
        self.cancel()
        pending = list(self._pending.values())
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_s)
            if late and self._worker is not None:
                self._worker.kill("cancelled")
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()
        for task in list(self._calls):
            task.cancel()

    # -- the worker

    async def _ensure_worker(self) -> WorkerProcess:
        if self._worker is not None and self._worker.alive:
            return self._worker
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._worker is not None and self._worker.alive:
                return self._worker
            worker = await self._pool.take()
            worker.on_message = self._on_message
            worker.on_death = self._on_death
            binding = self.binding
            worker.send(("bind", {
                **binding.__dict__,
                "cache": [row for row in self._cache.frozen_namespace(binding.database,
                                                                      binding.trigger)
                          if row[1] is not None],
            }))
            self._worker = worker
            return worker

    def _expect(self) -> tuple[int, asyncio.Future]:
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return request_id, future

    def _on_message(self, message: tuple, fds: list[int]) -> None:
        kind = message[0]
        if kind == "log":
            for fd in fds:
                os.close(fd)
            self._logger.log(message[1], message[2])
        elif kind == "done":
            self._done(message)
        elif kind == "checked":
            future = self._pending.get(message[1])
            if future is not None and not future.done():
                future.set_result(message[2])
        elif kind == "call":
            task = asyncio.get_running_loop().create_task(self._serve_call(message))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        elif kind == "cache":
            binding = self.binding
            self._cache.apply_frozen(binding.database, binding.trigger, message[1])

    def _done(self, message: tuple) -> None:
        _, run_id, ok, payload, error, writes, entered, cpu_s, peak, fatal = message
        self._on_memory(peak)
        if fatal is not None and self._worker is not None:
            self._worker.fatal_reason = fatal
        future = self._pending.get(run_id)
        if future is None or future.done():
            return
        if ok:
            result = PluginResponse(*payload) if payload is not None else None
            future.set_result(RunDone(result, writes, entered, cpu_s, peak))
            return
        if fatal == "memory":
            error = (f"run exceeded the plugin memory limit of {self._memory_limit_text} "
                     f"({error}); its worker process is replaced")
        elif fatal is not None:
            error = f"{error}; its worker process is replaced"
        future.set_exception(RunFailed(error, entered, cpu_s))

    def _on_death(self, worker: WorkerProcess) -> None:
        if worker is self._worker:
            self._worker = None
        detail = f"plugin worker process {worker.pid} {worker.exit_cause}"
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RunFailed(f"the {detail} during the run; the next run "
                                               "gets a new worker"))
        for task in list(self._calls):
            task.cancel()
        if worker.closing and worker.kill_reason is None:
            return  # asked to leave, and it did
        cause = worker.kill_reason or worker.fatal_reason or "crash"
        if worker.kill_reason is None and worker.fatal_reason is None:
            self._logger.log("ERROR", detail)
        self._on_restart(cause, detail)

    # -- influxdb3_local calls

    async def _serve_call(self, message: tuple) -> None:
        _, call_id, method, args = message
        worker = self._worker
        fds: list[int] = []
        try:
            value, fds = await self._answer(method, args)
            reply = ("reply", call_id, True, value)
        except Exception as e:
            reply = ("reply", call_id, False, str(e))
        try:
            if worker is not None and worker.alive:
                worker.send(reply, fds)
        except ChannelClosed:
            pass
        finally:
            for fd in fds:
                os.close(fd)

    async def _answer(self, method: str, args: tuple) -> tuple[object, list[int]]:
        if method == "write_sync":
            database, lines, no_sync = args
            await self._database.write_checked(database, lines, no_sync)
            return None, []
        if method == "query":
            fd, layout = await asyncio.to_thread(self._query, *args)
            return layout, [fd]
        if method == "cache_get":
            return self._cache.global_pickled(args[0]), []
        if method == "cache_put":
            self._cache.put_global_pickled(*args)
            return None, []
        if method == "cache_delete":
            return self._cache.delete_global(args[0]), []
        raise ValueError(f"unknown call {method!r}")

    def _query(self, database: str, sql: str, params: dict | None) -> tuple[int, list]:
        return write_tables([("", self._database.query(database, sql, params))])


async def _encode(invocation: Invocation) -> tuple[tuple, list[int]]:
    """The event as the worker receives it; write events as Arrow in shared memory."""
    event = invocation.event
    if isinstance(event, WriteEvent):
        if event.nbytes > _INLINE_EVENT_BYTES:
            fd, layout = await asyncio.to_thread(event.shared)
        else:
            fd, layout = event.shared()
        return ("writes", layout), [fd]
    if isinstance(event, ScheduledCall):
        return ("schedule", event.call_time), []
    if isinstance(event, RowsEvent):
        return ("rows", event.batches), []
    assert isinstance(event, RequestCall)
    return ("request", event.query, event.headers, event.body), []

