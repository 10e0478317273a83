"""A query's time limit and cancellation.

DataFusion offers no way to stop a query from Python, but every table a query reads is our
own scan (`table_scan.py`): it checks the query's control before each source it reads and
each batch it hands over, and raises there. So a query over much data stops within one batch
of its deadline or of its client going away; one that spends its time elsewhere (a huge sort
or join of what was read) stops when DataFusion next asks for rows.
"""

from __future__ import annotations

import time

from timewell.errors import Cancelled, TimedOut


class QueryCancelled(Cancelled):
    """The client went away, or the query was killed (`DELETE /api/v3/query?id=`)."""


class QueryTimedOut(TimedOut):
    pass


class QueryControl:
    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s
        # A plain flag, not a threading.Event: setting and reading an attribute is atomic in
        # CPython, nobody waits on it, and every query makes one (an Event costs ~10 µs).
        self._cancelled = False
        self._reason = ""

    def cancel(self, reason: str = "the query was cancelled: its client went away") -> None:
        self._reason = reason
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        """Whether `cancel` was called (a timeout is not a cancellation)."""
        return self._cancelled

    def check(self) -> None:
        """Raise if the query should stop now."""
        if self._cancelled:
            raise QueryCancelled(self._reason)
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise QueryTimedOut(
                f"the query ran past its time limit of {self.timeout_s:g} s and was stopped: "
                "narrow it (WHERE time, tags), or raise the limit with the `timeout` parameter "
                "(up to --query-timeout)")


def no_limit() -> QueryControl:
    return QueryControl(None)
