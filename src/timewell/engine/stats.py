"""Execution tracking per trigger: runs, errors, last run, run durations, and the resources
runs use (CPU time per run; with worker processes, the worker's peak memory and why workers
were replaced)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

_DURATION_WINDOW = 1000


@dataclass
class TriggerStats:
    runs: int = 0
    errors: int = 0
    retries: int = 0
    dropped: int = 0  # always 0 since the WAL is write triggers' queue; kept for dashboards
    skipped_fires: int = 0  # schedule fire times missed (a run still going, or downtime)
    redelivered_flushes: int = 0  # runs had these before a restart, maybe to the end
    skipped_rows: int = 0  # rows of WAL flushes removed before the trigger got to them
    skipped_flushes: int = 0
    lagging: bool = False  # skipped flushes past --trigger-max-lag and has not caught up yet
    last_run_ns: int | None = None
    total_run_s: float = 0.0
    last_error: str | None = None
    last_error_ns: int | None = None
    durations_s: deque = field(default_factory=lambda: deque(maxlen=_DURATION_WINDOW))
    # from the event (WAL flush done, fire time reached, request read) to the entry function
    activations_s: deque = field(default_factory=lambda: deque(maxlen=_DURATION_WINDOW))
    cpu_s: deque = field(default_factory=lambda: deque(maxlen=_DURATION_WINDOW))
    total_cpu_s: float = 0.0
    peak_memory_bytes: int | None = None  # the largest peak RSS any of its workers reached
    worker_restarts: int = 0
    restart_causes: dict = field(default_factory=dict)  # timeout | memory | crash | cancelled
    last_restart: str | None = None  # what happened, as logged

    def mean_ms(self) -> float | None:
        return 1000 * sum(self.durations_s) / len(self.durations_s) if self.durations_s else None

    def p99_ms(self) -> float | None:
        return _percentile_ms(self.durations_s, 0.99)

    def mean_cpu_ms(self) -> float | None:
        return 1000 * sum(self.cpu_s) / len(self.cpu_s) if self.cpu_s else None


def _copy(stats: TriggerStats) -> TriggerStats:
    return dataclasses.replace(stats, durations_s=deque(stats.durations_s, _DURATION_WINDOW),
                               activations_s=deque(stats.activations_s, _DURATION_WINDOW),
                               cpu_s=deque(stats.cpu_s, _DURATION_WINDOW),
                               restart_causes=dict(stats.restart_causes))


def _percentile_ms(samples: deque, fraction: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class EngineStats:
    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], TriggerStats] = {}
        self._lock = threading.Lock()
        # (database, trigger) -> (cursor, Lag) of an enabled write trigger, else None; set by
        # the engine: lag is computed when asked for, not kept up to date.
        self.position: Callable[[str, str], tuple | None] = lambda _db, _name: None

    def of(self, database: str, trigger_name: str) -> TriggerStats:
        with self._lock:
            return self._stats.setdefault((database, trigger_name), TriggerStats())

    def record_run(self, database: str, trigger_name: str, seconds: float,
                   error: str | None, cpu_s: float | None = None) -> None:
        stats = self.of(database, trigger_name)
        with self._lock:
            stats.runs += 1
            if cpu_s is not None:
                stats.cpu_s.append(cpu_s)
                stats.total_cpu_s += cpu_s
            stats.last_run_ns = time.time_ns()
            stats.durations_s.append(seconds)
            stats.total_run_s += seconds
            if error is not None:
                stats.errors += 1
                stats.last_error = error
                stats.last_error_ns = stats.last_run_ns

    def record_activation(self, database: str, trigger_name: str, seconds: float) -> None:
        stats = self.of(database, trigger_name)
        with self._lock:
            stats.activations_s.append(seconds)

    def record_restart(self, database: str, trigger_name: str, cause: str,
                       detail: str) -> None:
        stats = self.of(database, trigger_name)
        with self._lock:
            stats.worker_restarts += 1
            stats.restart_causes[cause] = stats.restart_causes.get(cause, 0) + 1
            stats.last_restart = f"{cause}: {detail}"

    def record_memory(self, database: str, trigger_name: str, peak_bytes: int | None) -> None:
        if peak_bytes is None:
            return
        stats = self.of(database, trigger_name)
        with self._lock:
            if stats.peak_memory_bytes is None or peak_bytes > stats.peak_memory_bytes:
                stats.peak_memory_bytes = peak_bytes

    def bump(self, database: str, trigger_name: str, counter: str) -> None:
        self.add(database, trigger_name, counter, 1)

    def add(self, database: str, trigger_name: str, counter: str, amount: int) -> None:
        stats = self.of(database, trigger_name)
        with self._lock:
            setattr(stats, counter, getattr(stats, counter) + amount)

    def set_lagging(self, database: str, trigger_name: str, lagging: bool) -> None:
        stats = self.of(database, trigger_name)
        with self._lock:
            stats.lagging = lagging

    def snapshot(self) -> list[tuple[str, str, TriggerStats]]:
        """(database, trigger name, a copy of its stats) for every trigger."""
        with self._lock:
            return [(db, name, _copy(s)) for (db, name), s in self._stats.items()]

    def forget(self, database: str, trigger_name: str) -> None:
        with self._lock:
            self._stats.pop((database, trigger_name), None)

    def table(self, database: str) -> pa.Table:
        with self._lock:
            items = sorted((name, s) for (db, name), s in self._stats.items() if db == database)
        positions = [self.position(database, name) for name, _ in items]
        return pa.table({
            "trigger_name": pa.array([n for n, _ in items], pa.string()),
            "runs": pa.array([s.runs for _, s in items], pa.int64()),
            "errors": pa.array([s.errors for _, s in items], pa.int64()),
            "retries": pa.array([s.retries for _, s in items], pa.int64()),
            "dropped_events": pa.array([s.dropped for _, s in items], pa.int64()),
            "skipped_fires": pa.array([s.skipped_fires for _, s in items], pa.int64()),
            "last_run_time": pa.array([s.last_run_ns for _, s in items], pa.timestamp("ns")),
            "last_error": pa.array([s.last_error for _, s in items], pa.string()),
            "last_error_time": pa.array([s.last_error_ns for _, s in items], pa.timestamp("ns")),
            "mean_duration_ms": pa.array([s.mean_ms() for _, s in items], pa.float64()),
            "p99_duration_ms": pa.array([s.p99_ms() for _, s in items], pa.float64()),
            "p50_activation_ms": pa.array([_percentile_ms(s.activations_s, 0.5)
                                           for _, s in items], pa.float64()),
            "p99_activation_ms": pa.array([_percentile_ms(s.activations_s, 0.99)
                                           for _, s in items], pa.float64()),
            "mean_cpu_ms": pa.array([s.mean_cpu_ms() for _, s in items], pa.float64()),
            "p99_cpu_ms": pa.array([_percentile_ms(s.cpu_s, 0.99) for _, s in items],
                                   pa.float64()),
            "worker_peak_memory_bytes": pa.array([s.peak_memory_bytes for _, s in items],
                                                 pa.int64()),
            "worker_restarts": pa.array([s.worker_restarts for _, s in items], pa.int64()),
            "worker_restart_causes": pa.array(
                [",".join(f"{k}={v}" for k, v in sorted(s.restart_causes.items())) or None
                 for _, s in items], pa.string()),
            "last_worker_restart": pa.array([s.last_restart for _, s in items], pa.string()),
            "cursor_wal_sequence": pa.array([p[0] if p else None for p in positions],
                                            pa.int64()),
            "lag_flushes": pa.array([p[1].flushes if p else None for p in positions],
                                    pa.int64()),
            "lag_rows": pa.array([p[1].rows if p else None for p in positions], pa.int64()),
            "lag_seconds": pa.array([p[1].seconds if p else None for p in positions],
                                    pa.float64()),
            "redelivered_flushes": pa.array([s.redelivered_flushes for _, s in items],
                                            pa.int64()),
            "lagging": pa.array([s.lagging for _, s in items], pa.bool_()),
            "skipped_rows": pa.array([s.skipped_rows for _, s in items], pa.int64()),
            "skipped_flushes": pa.array([s.skipped_flushes for _, s in items], pa.int64()),
        })
