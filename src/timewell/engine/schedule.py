"""Schedule triggers (`every:`, `cron:`): firing a runner at each scheduled time, and what
happens to the fire times missed while the server was down.

The last completed fire time is saved durably (cursors.py). After a restart the fire times
since then were missed: `missed_fires=skip` (the default, as upstream) counts them in
`skipped_fires`; `catch_up` runs them first, in order, each with its own `call_time`, at most
--schedule-max-catch-up of them (the most recent; older ones are counted as skipped)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from timewell.engine.events import Invocation, ScheduledCall
from timewell.engine.logs import EngineLog
from timewell.engine.runner import TriggerRunner
from timewell.engine.specs import CronTrigger, EveryTrigger, ScheduleExhausted
from timewell.engine.stats import EngineStats

MISSED_FIRES = ("skip", "catch_up")
_COUNT_LIMIT = 1_000_000  # missed fire times counted at most (an every:1s trigger off for weeks)


@dataclass(frozen=True)
class Downtime:
    """What a schedule does about the fire times after `last_fire` that have passed."""

    last_fire: dt.datetime | None  # the last completed fire before the restart; None: new
    policy: str = "skip"
    max_catch_up: int = 100


class FireRecorder:
    """Saves a schedule's last completed fire time durably, off the schedule's path: once
    the runs' queued writes are durable (a restart must not skip a fire whose output was
    lost), the newest fire time is written; saves never overlap, so they never go back."""

    def __init__(self, barrier: Callable[[], Awaitable[None]],
                 persist: Callable[[dt.datetime], None]) -> None:
        self._barrier = barrier
        self._persist = persist  # blocking I/O
        self._latest: dt.datetime | None = None
        self._task: asyncio.Task | None = None

    async def __call__(self, fire: dt.datetime) -> None:
        self._latest = fire
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._save())

    async def _save(self) -> None:
        saved = None
        while self._latest != saved:
            fire = self._latest
            try:
                await self._barrier()
                await asyncio.to_thread(self._persist, fire)
            except Exception:  # a restart may repeat this fire (at-least-once)
                logging.getLogger(__name__).warning("saving a schedule's last fire time "
                                                    "failed", exc_info=True)
                return
            saved = fire

    async def flush(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def run_schedule(runner: TriggerRunner, spec: EveryTrigger | CronTrigger,
                       stats: EngineStats, log: EngineLog, downtime: Downtime,
                       save_fire: Callable[[dt.datetime], Awaitable[None]]) -> None:
    """Fire at each scheduled time. Without run_async a slow run delays the next fire;
    fire times missed meanwhile are skipped (counted in the stats), not run back to back."""
    try:
        start_after = utc_now()
        if downtime.last_fire is not None:
            start_after = await _missed_fires(runner, spec, stats, log, downtime, save_fire)
        await _fire_on_schedule(runner, spec, stats, save_fire, start_after)
    except ScheduleExhausted:
        log.add(runner.database_name, runner.name, "WARN",
                f"schedule {spec} has no fire times left; the trigger stays idle")


async def _missed_fires(runner: TriggerRunner, spec: EveryTrigger | CronTrigger,
                        stats: EngineStats, log: EngineLog, downtime: Downtime,
                        save_fire: Callable[[dt.datetime], Awaitable[None]]) -> dt.datetime:
    """Run or skip the fire times missed; the moment up to which they were handled (the
    schedule goes on with the first fire after it). With catch_up, fire times that came due
    while catching up are caught up too, so a slow catch-up skips none of them."""
    budget = downtime.max_catch_up if downtime.policy == "catch_up" else 0  # runs in all
    last, now = downtime.last_fire, utc_now()
    first_pass = True
    while True:
        keep = budget
        missed: deque[dt.datetime] = deque(maxlen=keep or None)
        count = 0
        fire = spec.next_fire(last)
        while fire <= now and count < _COUNT_LIMIT:
            count += 1
            if keep:
                missed.append(fire)
            fire = spec.next_fire(fire)
        if not count:
            return now
        to_run = list(missed) if keep else []
        skipped = count - len(to_run)
        if skipped:
            stats.add(runner.database_name, runner.name, "skipped_fires", skipped)
        if first_pass:
            log.add(runner.database_name, runner.name, "WARN" if skipped else "INFO",
                    f"{count} fire times were missed since {downtime.last_fire} (server "
                    f"down): running {len(to_run)} now (missed_fires={downtime.policy}), "
                    f"skipping {skipped}")
        first_pass = False
        for fire in to_run:
            await runner.run(_schedule_invocation(fire, runner.definition.trigger_arguments))
            if runner.stopped:
                return now
            await save_fire(fire)
        budget -= len(to_run)
        if not to_run or budget <= 0:
            return now
        last, now = to_run[-1], utc_now()


async def _fire_on_schedule(runner: TriggerRunner, spec: EveryTrigger | CronTrigger,
                            stats: EngineStats,
                            save_fire: Callable[[dt.datetime], Awaitable[None]],
                            start_after: dt.datetime) -> None:
    fire = spec.next_fire(start_after)
    while True:
        # The loop's timer may wake a little early: sleep until the fire time has come.
        while (delay := (fire - utc_now()).total_seconds()) > 0:
            await asyncio.sleep(delay)
        invocation = _schedule_invocation(fire, runner.definition.trigger_arguments)
        if runner.definition.run_async:
            if not runner.try_start_overlapping(invocation):
                stats.bump(runner.database_name, runner.name, "skipped_fires")
            else:
                await save_fire(fire)  # started: a restart does not owe this fire
        else:
            await runner.run(invocation)
            if runner.stopped:
                return  # cut off by the trigger stopping: not completed
            await save_fire(fire)
        following, now = spec.next_fire(fire), utc_now()
        while following <= now:
            stats.bump(runner.database_name, runner.name, "skipped_fires")
            following = spec.next_fire(following)
        fire = following


def _schedule_invocation(fire: dt.datetime, arguments: dict | None) -> Invocation:
    call_time = fire.replace(microsecond=0)
    return Invocation("process_scheduled_call", ScheduledCall(call_time), arguments,
                      f"scheduled call at {call_time}")


def run_now_invocation(arguments: dict | None) -> Invocation:
    """A schedule trigger's run asked for by hand (run now): its call time is now."""
    call_time = utc_now().replace(microsecond=0)
    return Invocation("process_scheduled_call", ScheduledCall(call_time), arguments,
                      f"call at {call_time} (run now)")


def utc_now() -> dt.datetime:
    """Now, as a naive UTC datetime (what schedules and plugins see)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
