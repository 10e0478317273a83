"""What plugins and the engine say about each run: the server log plus a bounded ring that
`system.processing_engine_logs` serves, per database."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import pyarrow as pa

log = logging.getLogger("timewell.plugin")

_LEVELS = {"INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}


@dataclass(frozen=True)
class LogLine:
    event_time_ns: int
    database: str
    trigger_name: str
    level: str  # INFO | WARN | ERROR
    text: str


class EngineLog:
    def __init__(self, capacity: int = 10_000) -> None:
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, database: str, trigger_name: str, level: str, text: str,
            routine: bool = False) -> None:
        """Record a line; `routine` lines (the engine's own start/finish notes, two per run)
        reach the server log only at debug level, so busy triggers don't flood it."""
        line = LogLine(time.time_ns(), database, trigger_name, level, text)
        with self._lock:
            self._lines.append(line)
        level_number = logging.DEBUG if routine else _LEVELS[level]
        if log.isEnabledFor(level_number):
            log.log(level_number, "[%s/%s] %s", database, trigger_name, text)

    def lines(self, database: str, trigger_name: str | None = None) -> list[LogLine]:
        with self._lock:
            return [line for line in self._lines if line.database == database
                    and (trigger_name is None or line.trigger_name == trigger_name)]

    def table(self, database: str) -> pa.Table:
        lines = self.lines(database)
        return pa.table({
            "event_time": pa.array([x.event_time_ns for x in lines], pa.timestamp("ns")),
            "trigger_name": pa.array([x.trigger_name for x in lines], pa.string()),
            "log_level": pa.array([x.level for x in lines], pa.string()),
            "log_text": pa.array([x.text for x in lines], pa.string()),
        })


class RunLogger:
    """The log of one run; a dry run also keeps its lines to return them."""

    def __init__(self, engine_log: EngineLog | None, database: str, trigger_name: str,
                 keep: bool = False) -> None:
        self._engine_log = engine_log
        self._database = database
        self._trigger_name = trigger_name
        self.kept: list[str] | None = [] if keep else None

    def log(self, level: str, text: str, routine: bool = False) -> None:
        if self._engine_log is not None:
            self._engine_log.add(self._database, self._trigger_name, level, text, routine)
        if self.kept is not None:
            self.kept.append(f"{level}: {text}")
