"""Schedule triggers (`every:`, `cron:`): firing a runner at each scheduled time."""

from __future__ import annotations

import asyncio
import datetime as dt

from timewell.engine.events import Invocation, ScheduledCall
from timewell.engine.logs import EngineLog
from timewell.engine.runner import TriggerRunner
from timewell.engine.specs import CronTrigger, EveryTrigger, ScheduleExhausted
from timewell.engine.stats import EngineStats


async def run_schedule(runner: TriggerRunner, spec: EveryTrigger | CronTrigger,
                       stats: EngineStats, log: EngineLog) -> None:
    """Fire at each scheduled time. Without run_async a slow run delays the next fire;
    fire times missed meanwhile are skipped (counted in the stats), not run back to back."""
    try:
        await _fire_on_schedule(runner, spec, stats)
    except ScheduleExhausted:
        log.add(runner.database_name, runner.name, "WARN",
                f"schedule {spec} has no fire times left; the trigger stays idle")


async def _fire_on_schedule(runner: TriggerRunner, spec: EveryTrigger | CronTrigger,
                            stats: EngineStats) -> None:
    fire = spec.next_fire(utc_now())
    while True:
        # The loop's timer may wake a little early: sleep until the fire time has come.
        while (delay := (fire - utc_now()).total_seconds()) > 0:
            await asyncio.sleep(delay)
        invocation = _schedule_invocation(fire, runner.definition.trigger_arguments)
        if runner.definition.run_async:
            if not runner.try_start_overlapping(invocation):
                stats.bump(runner.database_name, runner.name, "skipped_fires")
        else:
            await runner.run(invocation)
        following, now = spec.next_fire(fire), utc_now()
        while following <= now:
            stats.bump(runner.database_name, runner.name, "skipped_fires")
            following = spec.next_fire(following)
        fire = following


def _schedule_invocation(fire: dt.datetime, arguments: dict | None) -> Invocation:
    call_time = fire.replace(microsecond=0)
    return Invocation("process_scheduled_call", ScheduledCall(call_time), arguments,
                      f"scheduled call at {call_time}")


def utc_now() -> dt.datetime:
    """Now, as a naive UTC datetime (what schedules and plugins see)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
