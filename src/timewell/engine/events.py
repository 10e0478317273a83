"""What fires a plugin run, as plain data: a WAL flush's tables, a schedule's fire time, an
HTTP request. Plain so that it can cross into a worker process; `entry_arguments` turns it
into the positional arguments of the entry function wherever the plugin runs."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import weakref
from dataclasses import dataclass, field

import pyarrow as pa

from timewell.engine.ipc import write_tables
from timewell.engine.rows import TableBatch


class WriteEvent:
    """The tables of one WAL flush a write trigger receives. Written once into shared memory
    for every worker that gets it (`shared()`), however many triggers share the event."""

    def __init__(self, tables: list[tuple[str, pa.Table]]) -> None:
        self.tables = tables
        self._shared: tuple[int, list] | None = None
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return sum(table.nbytes for _, table in self.tables)

    def shared(self) -> tuple[int, list]:
        """(memfd, layout) of `ipc.write_tables`; the descriptor lives as long as the event."""
        with self._lock:
            if self._shared is None:
                fd, layout = write_tables(self.tables)
                weakref.finalize(self, os.close, fd)
                self._shared = (fd, layout)
            return self._shared


@dataclass(frozen=True)
class ScheduledCall:
    call_time: dt.datetime


@dataclass(frozen=True)
class RequestCall:
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class RowsEvent:
    """`table_batches` as rows already (dry runs, whose input is line protocol text)."""

    batches: list[dict]


Event = WriteEvent | ScheduledCall | RequestCall | RowsEvent


@dataclass
class Invocation:
    """One call of a plugin's entry function."""

    entry: str
    event: Event
    trigger_arguments: dict[str, str] | None
    description: str
    created: float = field(default_factory=time.perf_counter)  # for activation latency
    # write triggers: the cursor a successful run commits with its queued writes, in one WAL
    # write (`cursors.cursor_key` -> WAL sequence); None: nothing to commit
    commits: dict[str, int] | None = None


def entry_arguments(event: Event, api, trigger_arguments: dict[str, str] | None) -> tuple:
    """The entry function's positional arguments."""
    args = fresh_arguments(trigger_arguments)
    if isinstance(event, WriteEvent):
        return (api, [TableBatch(name, table) for name, table in event.tables], args)
    if isinstance(event, ScheduledCall):
        return (api, event.call_time, args)
    if isinstance(event, RowsEvent):
        return (api, event.batches, args)
    return (api, dict(event.query), dict(event.headers), event.body, args)


def fresh_arguments(arguments: dict[str, str] | None) -> dict[str, str] | None:
    """A trigger's arguments as a plugin gets them: a new dict each call (or None)."""
    return None if arguments is None else dict(arguments)
