"""Running one trigger's plugin: in worker threads, never on the event loop, one at a time
(or overlapping when `run_async`), within a time limit, with the trigger's error behavior."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from timewell.catalog import TriggerDefinition
from timewell.duration import format_duration_ns
from timewell.engine.api import Database, PluginApi
from timewell.engine.interrupt import PluginTimeout, interrupt_thread
from timewell.engine.logs import EngineLog, RunLogger
from timewell.engine.plugins import LoadedPlugin
from timewell.engine.stats import EngineStats

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # pending write events per trigger; more are dropped and counted
ASYNC_LIMIT = 8  # overlapping runs of one run_async trigger
RETRY_DELAYS_S = (0.5, 1.0, 2.0)  # error_behavior=retry: three retries, then log


@dataclass
class Invocation:
    """One call of a plugin's entry function. `arguments(api)` builds the positional
    arguments in the worker thread (building table_batches is work too)."""

    entry: str
    arguments: Callable[[PluginApi], tuple]
    description: str
    created: float = field(default_factory=time.perf_counter)  # for activation latency


@dataclass
class RunOutcome:
    result: object = None
    error: str | None = None


class TriggerRunner:
    def __init__(self, definition: TriggerDefinition, database_name: str, plugin: LoadedPlugin,
                 database: Database, cache_view, engine_log: EngineLog, stats: EngineStats,
                 executor: Executor, timeout_s: float | None,
                 write_later: Callable[[str, str], Awaitable[None]],
                 disable: Callable[[str], Awaitable[None]]) -> None:
        self.definition = definition
        self.database_name = database_name
        self.plugin = plugin
        self._database = database
        self._cache_view = cache_view
        self._log = engine_log
        self._stats = stats
        self._executor = executor
        self._timeout_s = timeout_s
        self._write_later = write_later
        self._disable = disable
        self._queue: asyncio.Queue[Invocation] = asyncio.Queue(QUEUE_LIMIT)
        self._overlap = asyncio.Semaphore(ASYNC_LIMIT)
        self._tasks: set[asyncio.Task] = set()
        self._worker: asyncio.Task | None = None
        self._stopped = False

    @property
    def name(self) -> str:
        return self.definition.name

    def start_queue(self) -> None:
        """Start taking queued invocations (write triggers)."""
        self._worker = asyncio.create_task(self._drain(), name=f"trigger-{self.name}")

    def submit(self, invocation: Invocation) -> None:
        """Queue without waiting; a full queue drops the invocation (counted, logged)."""
        try:
            self._queue.put_nowait(invocation)
        except asyncio.QueueFull:
            self._stats.bump(self.database_name, self.name, "dropped")
            self._log.add(self.database_name, self.name, "WARN",
                          f"trigger queue full ({QUEUE_LIMIT} pending); dropped "
                          f"{invocation.description}")

    def try_start_overlapping(self, invocation: Invocation) -> bool:
        """For run_async schedules: start a run beside the others unless ASYNC_LIMIT run."""
        if self._overlap.locked():
            return False
        self._spawn(invocation)
        return True

    async def stop(self) -> None:
        self._stopped = True
        if self._worker is not None:
            self._worker.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(t for t in [self._worker, *self._tasks] if t),
                             return_exceptions=True)

    async def _drain(self) -> None:
        while True:
            invocation = await self._queue.get()
            if self.definition.run_async:
                await self._overlap.acquire()
                self._overlap.release()
                self._spawn(invocation)
            else:
                await self.run(invocation)

    def _spawn(self, invocation: Invocation) -> None:
        async def guarded() -> None:
            async with self._overlap:
                await self.run(invocation)

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, invocation: Invocation) -> RunOutcome:
        """Run with the trigger's error behavior (log, retry, disable)."""
        attempt = 0
        while True:
            outcome = await self.run_once(invocation)
            if outcome.error is None or self._stopped:
                return outcome
            behavior = self.definition.error_behavior
            if behavior == "retry" and attempt < len(RETRY_DELAYS_S):
                delay = RETRY_DELAYS_S[attempt]
                attempt += 1
                self._stats.bump(self.database_name, self.name, "retries")
                self._log.add(self.database_name, self.name, "WARN",
                              f"retry {attempt} of {len(RETRY_DELAYS_S)} in {delay}s")
                await asyncio.sleep(delay)
                continue
            if behavior == "retry":
                self._log.add(self.database_name, self.name, "ERROR",
                              f"giving up after {len(RETRY_DELAYS_S)} retries")
            if behavior == "disable":
                await self._disable(outcome.error)
            return outcome

    async def run_once(self, invocation: Invocation) -> RunOutcome:
        """One run in a worker thread, its queued writes applied afterwards."""
        loop = asyncio.get_running_loop()
        logger = RunLogger(self._log, self.database_name, self.name)
        thread_box: dict = {"lock": threading.Lock()}
        started = time.perf_counter()
        future = loop.run_in_executor(self._executor, self._execute, invocation, logger,
                                      thread_box)
        try:
            if self._timeout_s is None:
                result, api = await future
            else:
                result, api = await asyncio.wait_for(asyncio.shield(future), self._timeout_s)
        except TimeoutError:
            with thread_box["lock"]:
                if "id" in thread_box and not thread_box.get("done"):
                    interrupt_thread(thread_box["id"])
            future.add_done_callback(_consume_exception)
            error = (f"run exceeded the plugin time limit of {self._timeout_s}s and was "
                     "interrupted")
            return self._failed(logger, started, error)
        except Exception as e:
            return self._failed(logger, started, _describe(e, self.plugin.path))
        elapsed = time.perf_counter() - started
        logger.log("INFO", f"finished execution in {format_duration_ns(int(elapsed * 1e9))}",
                   routine=True)
        self._stats.record_run(self.database_name, self.name, elapsed, None)
        for db_name, lines in api.pending_writes.items():
            await self._write_later(db_name, "\n".join(lines))
        return RunOutcome(result=result)

    def _failed(self, logger: RunLogger, started: float, error: str) -> RunOutcome:
        elapsed = time.perf_counter() - started
        logger.log("ERROR", error)
        self._stats.record_run(self.database_name, self.name, elapsed, error)
        return RunOutcome(error=error)

    def _execute(self, invocation: Invocation, logger: RunLogger, thread_box: dict):
        thread_box["id"] = threading.get_ident()
        try:
            logger.log("INFO", f"starting execution of {invocation.description}", routine=True)
            api = PluginApi(self._database, self.database_name, logger, self._cache_view)
            function = self.plugin.function(invocation.entry)
            arguments = invocation.arguments(api)
            self._stats.record_activation(self.database_name, self.name,
                                          time.perf_counter() - invocation.created)
            return function(*arguments), api
        except PluginTimeout:
            raise TimeoutError("interrupted after the plugin time limit") from None
        finally:
            with thread_box["lock"]:
                thread_box["done"] = True


def fresh_arguments(arguments: dict[str, str] | None) -> dict[str, str] | None:
    """A trigger's arguments as a plugin gets them: a new dict each call (or None)."""
    return None if arguments is None else dict(arguments)


def _consume_exception(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def _describe(error: BaseException, plugin_path) -> str:
    """The error and the plugin's line it came from, for logs and the system table."""
    root = str(plugin_path)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(root)]
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"
