"""A bounded record of recent queries, served as `system.queries`."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from timewell.query.control import QueryControl


@dataclass
class QueryRecord:
    id: int
    issue_time_ns: int
    query_type: str
    query_text: str
    database: str
    duration_ns: int | None = None
    success: bool = False
    running: bool = True
    cancelled: bool = False
    control: QueryControl | None = None  # to stop it while it runs (kill)

    @property
    def phase(self) -> str:
        """Upstream's query phase: `received` while it runs, then `success`, `fail` or
        `cancel`."""
        if self.running:
            return "received"
        if self.cancelled:
            return "cancel"
        return "success" if self.success else "fail"


class QueryLog:
    def __init__(self, capacity: int = 1000) -> None:
        self._records: deque[QueryRecord] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.observers: list[Callable[[QueryRecord], None]] = []  # told of finished queries
        self.started_total = 0  # since the server started (SHOW STATS)
        self.finished_total = 0

    def start(self, query_type: str, text: str, database: str,
              control: QueryControl | None = None) -> QueryRecord:
        record = QueryRecord(next(self._ids), time.time_ns(), query_type, text, database,
                             control=control)
        with self._lock:
            self._records.append(record)
            self.started_total += 1
        return record

    def finish(self, record: QueryRecord, success: bool) -> None:
        record.duration_ns = time.time_ns() - record.issue_time_ns
        record.success = success
        record.running = False
        record.cancelled = (not success and record.control is not None
                            and record.control.cancelled)
        record.control = None
        with self._lock:
            self.finished_total += 1
        for observe in self.observers:
            observe(record)

    def kill(self, query_id: int) -> bool:
        """Stop the running query `query_id` at its next check; False if none runs."""
        with self._lock:
            record = next((r for r in self._records if r.id == query_id), None)
        control = record.control if record is not None and record.running else None
        if control is None:
            return False
        control.cancel(f"the query was killed (query id {query_id})")
        return True

    def table(self) -> pa.Table:
        with self._lock:
            records = list(self._records)
        return pa.table({
            "id": pa.array([r.id for r in records], pa.int64()),
            "phase": pa.array([r.phase for r in records], pa.string()),
            "issue_time": pa.array([r.issue_time_ns for r in records], pa.timestamp("ns")),
            "query_type": pa.array([r.query_type for r in records], pa.string()),
            "query_text": pa.array([r.query_text for r in records], pa.string()),
            "database": pa.array([r.database for r in records], pa.string()),
            "end2end_duration": pa.array([r.duration_ns for r in records], pa.duration("ns")),
            "success": pa.array([r.success for r in records], pa.bool_()),
            "running": pa.array([r.running for r in records], pa.bool_()),
            "cancelled": pa.array([r.cancelled for r in records], pa.bool_()),
        })
