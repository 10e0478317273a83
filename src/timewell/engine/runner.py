"""Running one trigger's plugin: one run at a time (or overlapping when `run_async`), within a
time limit, with the trigger's error behavior. What a write trigger runs on comes from its
delivery (delivery.py); a schedule's fires from schedule.py. Where the plugin runs is the
`Execution`'s business (a thread of the server, or the trigger's worker process); never on the
event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from timewell.catalog import TriggerDefinition
from timewell.duration import format_duration_ns
from timewell.engine.events import Invocation
from timewell.engine.execution import Execution, RunFailed
from timewell.engine.logs import EngineLog, RunLogger
from timewell.engine.stats import EngineStats

log = logging.getLogger(__name__)

ASYNC_LIMIT = 8  # overlapping runs of one run_async trigger
RETRY_DELAYS_S = (0.5, 1.0, 2.0)  # error_behavior=retry: three retries, then log


@dataclass
class RunOutcome:
    result: object = None
    error: str | None = None


class TriggerRunner:
    def __init__(self, definition: TriggerDefinition, database_name: str, execution: Execution,
                 engine_log: EngineLog, stats: EngineStats, timeout_s: float | None,
                 write_outputs: Callable[[dict[str, str], dict[str, int] | None],
                                         Awaitable[None]],
                 disable: Callable[[str], Awaitable[None]],
                 async_slots: asyncio.Semaphore | None = None) -> None:
        self.definition = definition
        self.database_name = database_name
        self.execution = execution
        self._log = engine_log
        self._stats = stats
        self._timeout_s = timeout_s
        self._write_outputs = write_outputs
        self._disable = disable
        self._async_slots = async_slots  # --async-trigger-concurrency-limit, server-wide
        self._overlap = asyncio.Semaphore(ASYNC_LIMIT)
        self._serial = asyncio.Lock()  # without run_async: one run at a time, run now included
        self._tasks: set[asyncio.Task] = set()
        self._stopped = False

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def stopped(self) -> bool:
        return self._stopped

    def try_start_overlapping(self, invocation: Invocation) -> bool:
        """For run_async schedules: start a run beside the others unless ASYNC_LIMIT run."""
        if self._overlap.locked():
            return False
        self._spawn(invocation)
        return True

    def cancel(self) -> None:
        """Stop taking events; running runs' next influxdb3_local call raises
        KeyboardInterrupt."""
        self._stopped = True
        self.execution.cancel()

    async def stop(self, grace_s: float) -> None:
        """Cancel, give running runs `grace_s` to return, then end them for good."""
        self.cancel()
        await self.execution.stop(grace_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run_guarded(self, invocation: Invocation) -> RunOutcome:
        """`run`, within the server-wide limit of run_async runs when the trigger is one."""
        async with self._async_slot():
            return await self.run(invocation)

    async def run_once_guarded(self, invocation: Invocation) -> RunOutcome:
        """`run_once` (a request's run), within the server-wide limit of run_async runs when
        the trigger is one: past the limit, a request waits for a slot."""
        async with self._async_slot():
            return await self.run_once(invocation)

    def _async_slot(self) -> contextlib.AbstractAsyncContextManager:
        """A slot of --async-trigger-concurrency-limit for a run_async trigger's run."""
        if self._async_slots is None or not self.definition.run_async:
            return contextlib.nullcontext()
        return self._async_slots

    def _spawn(self, invocation: Invocation) -> None:
        async def guarded() -> None:
            async with self._overlap:
                await self.run_guarded(invocation)

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, invocation: Invocation) -> RunOutcome:
        """Run with the trigger's error behavior (log, retry, disable); without run_async,
        after the trigger's run in progress, if any (a run now beside its schedule)."""
        if self.definition.run_async:
            return await self._run_with_error_behavior(invocation)
        async with self._serial:
            return await self._run_with_error_behavior(invocation)

    async def _run_with_error_behavior(self, invocation: Invocation) -> RunOutcome:
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
        """One run where the execution runs plugins, its queued writes applied afterwards."""
        logger = RunLogger(self._log, self.database_name, self.name)
        started = time.perf_counter()
        logger.log("INFO", f"starting execution of {invocation.description}", routine=True)
        try:
            done = await self.execution.execute(invocation, logger, self._timeout_s)
        except RunFailed as e:
            if e.entered is not None:
                self._activation(invocation, e.entered)
            return self._failed(logger, started, str(e), e.cpu_s)
        if done.entered is not None:
            self._activation(invocation, done.entered)
        elapsed = time.perf_counter() - started
        logger.log("INFO", f"finished execution in {format_duration_ns(int(elapsed * 1e9))}",
                   routine=True)
        self._stats.record_run(self.database_name, self.name, elapsed, None, done.cpu_s)
        outputs = {db_name: "\n".join(lines) for db_name, lines in done.writes.items() if lines}
        if outputs:
            # One WAL write, with the cursor this run commits (write triggers): after a crash
            # both are there or neither.
            await self._write_outputs(outputs, invocation.commits)
        return RunOutcome(result=done.result)

    def _activation(self, invocation: Invocation, entered: float) -> None:
        self._stats.record_activation(self.database_name, self.name,
                                      entered - invocation.created)

    def _failed(self, logger: RunLogger, started: float, error: str,
                cpu_s: float | None) -> RunOutcome:
        elapsed = time.perf_counter() - started
        logger.log("ERROR", error)
        self._stats.record_run(self.database_name, self.name, elapsed, error, cpu_s)
        return RunOutcome(error=error)
