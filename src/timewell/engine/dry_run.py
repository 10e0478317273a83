"""Dry runs (`/api/v3/plugin_test/...`): a plugin runs against real queries while its writes
are captured, checked as line protocol and returned instead of applied. It runs where
triggers run (a one-off worker process, or a thread in thread mode)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

from timewell.engine.events import Invocation, RowsEvent, ScheduledCall
from timewell.engine.execution import Execution, RunFailed
from timewell.engine.logs import RunLogger
from timewell.engine.rows import parsed_batches
from timewell.engine.specs import (
    CronTrigger,
    EveryTrigger,
    ScheduleExhausted,
    parse_trigger_spec,
)
from timewell.errors import InvalidRequest
from timewell.lineprotocol import LineProtocolError, Precision, parse_exact

_TEST_TIMEOUT_S = 60.0
_WHERE = re.compile(r" \(at [^()]*:\d+\)$")


# (plugin path, database, cache namespace, logger) -> where the dry run runs
ExecutionFactory = Callable[[Path, str, str, RunLogger], Execution]


class DryRunner:
    def __init__(self, resolve: Callable[[str], Path], make_execution: ExecutionFactory) -> None:
        self._resolve = resolve  # plugin filename -> its code (may fetch: blocking)
        self._make_execution = make_execution

    async def wal(self, filename: str, database: str, input_lp: str,
                  arguments: dict | None, cache_name: str | None) -> dict:
        try:
            # Nanoseconds, as the lines a plugin writes are read.
            parsed = parse_exact(input_lp.encode(), Precision.NANOSECOND)
        except LineProtocolError as e:
            raise InvalidRequest(f"input_lp: {e}") from None
        problems = [f"input_lp line {e.line_number}: {e.message}" for e in parsed.errors]
        batches = parsed_batches(parsed)
        result = await self._run(filename, database, "process_writes", RowsEvent(batches),
                                 arguments, cache_name)
        result["errors"] = problems + result["errors"]
        return result

    async def schedule(self, filename: str, database: str, schedule: str | None,
                       arguments: dict | None, cache_name: str | None) -> dict:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        trigger_time = now
        if schedule:
            text = schedule if ":" in schedule.split(" ")[0] else f"cron:{schedule}"
            spec = parse_trigger_spec(text)
            if not isinstance(spec, EveryTrigger | CronTrigger):
                raise InvalidRequest(f"schedule '{schedule}' is not a schedule: use a cron "
                                     "expression or every:<duration>")
            try:
                trigger_time = spec.next_fire(now)
            except ScheduleExhausted:
                raise InvalidRequest(f"schedule '{schedule}' has no fire times left") from None
        call_time = trigger_time.replace(microsecond=0)
        result = await self._run(filename, database, "process_scheduled_call",
                                 ScheduledCall(call_time), arguments, cache_name)
        result["trigger_time"] = call_time.isoformat()
        return result

    async def _run(self, filename: str, database: str, entry: str, event, arguments,
                   cache_name: str | None) -> dict:
        path = await asyncio.to_thread(self._resolve, filename)
        logger = RunLogger(None, database, "dry_run", keep=True)
        execution = self._make_execution(path, database, f"test:{cache_name or filename}",
                                         logger, filename)
        errors: list[str] = []
        captured: dict[str, list[str]] = {}
        try:
            done = await execution.execute(Invocation(entry, event, arguments, "dry run"),
                                           logger, _TEST_TIMEOUT_S)
            captured = done.writes
        except RunFailed as e:
            # upstream's prefix; without the plugin's line (the caller has the file)
            errors.append("error executing plugin: " + _WHERE.sub("", str(e)))
        finally:
            await execution.stop(0)
        writes: dict[str, list[str]] = {}
        for db_name, chunks in captured.items():
            lines = [line for chunk in chunks for line in chunk.splitlines() if line.strip()]
            writes[db_name] = lines
            parsed = parse_exact("\n".join(lines).encode(), Precision.NANOSECOND)
            errors.extend(f"invalid write to '{db_name}', line {e.line_number}: {e.message}"
                          for e in parsed.errors)
        return {"log_lines": logger.kept, "database_writes": writes, "errors": errors}
