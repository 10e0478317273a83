"""`--plugin-isolation thread`: plugins run in threads of the server process, as before worker
processes existed. Fastest (no process boundary), but a plugin shares the server's memory,
modules and signals, and a run blocked in C cannot be stopped (see interrupt.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Executor

from timewell.engine.api import Database, PluginApi
from timewell.engine.events import Invocation, entry_arguments
from timewell.engine.execution import RunDone, RunFailed, describe_error, timeout_message
from timewell.engine.interrupt import PluginTimeout, interrupt_thread
from timewell.engine.logs import RunLogger
from timewell.engine.plugins import LoadedPlugin, PluginLoadError
from timewell.engine.responses import UnsupportedResponse, to_response


class ThreadExecution:
    def __init__(self, plugin: LoadedPlugin, database: Database, database_name: str,
                 cache_view, executor: Executor, capture_sync_writes: bool = False) -> None:
        self.plugin = plugin
        self._database = database
        self._database_name = database_name
        self._cache_view = cache_view
        self._executor = executor
        self._capture = capture_sync_writes
        self._cancelled = False
        self._running: dict[int, tuple[asyncio.Future, dict]] = {}  # id(box) -> run, box

    async def check(self, entry: str) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.plugin.function,
                                                         entry)

    async def execute(self, invocation: Invocation, logger: RunLogger,
                      timeout_s: float | None) -> RunDone:
        loop = asyncio.get_running_loop()
        box: dict = {"lock": threading.Lock()}
        future = loop.run_in_executor(self._executor, self._run, invocation, logger, box)
        self._running[id(box)] = (future, box)
        future.add_done_callback(lambda _: self._running.pop(id(box), None))
        try:
            # asyncio.timeout, not wait_for: no waiter future and callbacks per run. The
            # shield keeps the thread's future alive past the deadline (it cannot be stopped).
            async with asyncio.timeout(timeout_s):
                return await asyncio.shield(future)
        except TimeoutError:
            self._interrupt(box)
            future.add_done_callback(_consume_exception)
            raise RunFailed(f"{timeout_message(timeout_s)} and was interrupted") from None

    def cancel(self) -> None:
        self._cancelled = True

    async def stop(self, grace_s: float) -> None:
        self.cancel()
        running = list(self._running.values())
        if not running:
            return
        _, pending = await asyncio.wait([f for f, _ in running], timeout=grace_s)
        for future, box in running:
            if future in pending:
                # A thread cannot be killed: the best there is, at its next bytecode.
                self._interrupt(box)

    def _interrupt(self, box: dict) -> None:
        with box["lock"]:
            if "id" in box and not box.get("done"):
                interrupt_thread(box["id"])

    def _run(self, invocation: Invocation, logger: RunLogger, box: dict) -> RunDone:
        box["id"] = threading.get_ident()
        entered = None
        started_cpu = time.thread_time()
        try:
            api = PluginApi(self._database, self._database_name, logger, self._cache_view,
                            self._capture, cancelled=lambda: self._cancelled,
                            files_root=self.plugin.files_root)
            function = self.plugin.function(invocation.entry)
            arguments = entry_arguments(invocation.event, api, invocation.trigger_arguments)
            entered = time.perf_counter()
            result = function(*arguments)
            if invocation.entry == "process_request":
                result = to_response(result)
            return RunDone(result, dict(api.pending_writes), entered,
                           time.thread_time() - started_cpu)
        except PluginLoadError as e:
            raise RunFailed(str(e)) from None
        except UnsupportedResponse as e:
            raise RunFailed(str(e), entered, time.thread_time() - started_cpu) from None
        except PluginTimeout:
            raise RunFailed("interrupted after the plugin time limit", entered) from None
        except BaseException as e:  # noqa: BLE001 - a plugin's SystemExit must not end a thread
            raise RunFailed(describe_error(e, self.plugin.path), entered,
                            time.thread_time() - started_cpu) from None
        finally:
            with box["lock"]:
                box["done"] = True


def _consume_exception(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
