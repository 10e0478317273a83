"""Back-pressure: refuse writes while buffered data is at its hard memory limit.

Written data stays in memory (the queryable buffer) until a snapshot writes it to Parquet. When
snapshots keep failing (object store down, disk full) that memory would grow until the process
dies, so past `--buffer-mem-limit` new writes are refused with `Overloaded` (503 with
Retry-After) and a snapshot is requested; once one succeeds the buffer shrinks and writes are
accepted again. Refusing happens before a write is parsed, so nothing acknowledged is touched.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from timewell.errors import Overloaded

log = logging.getLogger(__name__)

_MiB = 1024 * 1024
_ERROR_CHARS = 300  # of the snapshot error quoted in a refusal (obstore's errors run long)


class BackPressure:
    def __init__(self, limit_bytes: int, buffered_bytes: Callable[[], int],
                 request_snapshot: Callable[[], None],
                 last_snapshot_error: Callable[[], str | None],
                 flush_interval_s: float) -> None:
        self.limit_bytes = limit_bytes
        # whole seconds (Retry-After has no fractions); a flush is the soonest anything changes
        self.retry_after_s = max(1, math.ceil(flush_interval_s))
        self.refused = 0  # writes refused so far (metrics)
        self._buffered_bytes = buffered_bytes
        self._request_snapshot = request_snapshot
        self._last_snapshot_error = last_snapshot_error
        self._refusing = False
        self._last_request = float("-inf")

    def check(self) -> None:
        """Return if a write may go ahead, else raise `Overloaded` (call on the event loop)."""
        buffered = self._buffered_bytes()
        if buffered < self.limit_bytes:
            if self._refusing:
                self._refusing = False
                log.info("buffered data is below --buffer-mem-limit again: accepting writes")
            return
        self.refused += 1
        # The snapshotter retries only when flushes arrive, and refused writes bring none; a
        # failing snapshot is retried at most once per Retry-After so it does not spin.
        now = time.monotonic()
        if now - self._last_request >= self.retry_after_s:
            self._last_request = now
            self._request_snapshot()
        message = self._message(buffered)
        if not self._refusing:
            self._refusing = True
            log.warning("%s", message)
        raise Overloaded(message, self.retry_after_s)

    def _message(self, buffered: int) -> str:
        error_lines = (self._last_snapshot_error() or "").strip().splitlines()
        if error_lines:
            why = f"the last snapshot failed: {error_lines[0][:_ERROR_CHARS]}"
        else:
            why = "snapshots are not keeping up (see the server log)"
        return (f"write refused: {buffered / _MiB:.1f} MiB of written data is waiting in "
                f"memory for a snapshot to Parquet, at --buffer-mem-limit "
                f"({self.limit_bytes / _MiB:.1f} MiB), because {why}. Every write acknowledged "
                f"so far is safe in the WAL. Retry after {self.retry_after_s}s: writes are "
                "accepted again once a snapshot succeeds.")
