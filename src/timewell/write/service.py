"""The write path: parse a body, check it against the catalog, hand it to the WAL."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from timewell.catalog import Catalog, check_database_name
from timewell.errors import InvalidRequest
from timewell.lineprotocol import LineError, LineProtocolError, Precision, parse
from timewell.storage.wal import Wal
from timewell.write.backpressure import BackPressure
from timewell.write.validate import ValidatedWrite, WriteLimits, stamp_table_ids, validate

_UTF8_BOM = b"\xef\xbb\xbf"


class RejectedLines(InvalidRequest):
    """Some lines were refused. `written` says whether the others were written."""

    def __init__(self, errors: list[LineError], written: bool, limit_hit: bool,
                 accept_partial: bool) -> None:
        first = errors[0]
        super().__init__(f"line {first.line_number}: {first.message}")
        self.errors = errors
        self.written = written
        self.limit_hit = limit_hit
        self.accept_partial = accept_partial


@dataclass(frozen=True)
class WriteOutcome:
    lines: int
    rows: int


class WriteService:
    def __init__(self, catalog: Catalog, wal: Wal, limits: WriteLimits,
                 backpressure: BackPressure | None = None) -> None:
        self._catalog = catalog
        self._wal = wal
        self._limits = limits
        self._backpressure = backpressure
        self.lines_written = 0
        self.lines_rejected = 0
        # called with (database, lines written, lines rejected) after each write (metrics)
        self.observers: list[Callable[[str, int, int], None]] = []

    async def write_lp(self, database: str, body: bytes, precision: Precision,
                       accept_partial: bool, no_sync: bool) -> WriteOutcome:
        """Write line protocol; RejectedLines when any line is refused (after writing the rest
        when `accept_partial`); Overloaded while buffered data is at its memory limit."""
        check_database_name(database)
        if self._backpressure is not None:
            self._backpressure.check()  # before any work: a refused write changes nothing
        validated = await run_in_threadpool(self._prepare, database, body, precision,
                                            accept_partial)
        if validated.writes:
            await self._wal.write(validated.writes, no_sync)
        self.lines_written += validated.rows
        self.lines_rejected += len(validated.errors)
        for observe in self.observers:
            observe(database, validated.rows, len(validated.errors))
        if validated.errors:
            raise RejectedLines(validated.errors, written=bool(validated.writes),
                                limit_hit=validated.limit_hit, accept_partial=accept_partial)
        return WriteOutcome(validated.line_count, validated.rows)

    async def write_committed(self, bodies: dict[str, bytes], precision: Precision,
                              cursors: dict[str, int]) -> dict[str, Exception]:
        """A plugin run's output: line protocol for several databases, good lines kept,
        buffered (no_sync) in one WAL write together with the trigger `cursors` it commits,
        so that a crash keeps both or neither. Returns why each database's lines were
        (partly) refused; Overloaded while buffered data is at its memory limit."""
        if self._backpressure is not None:
            self._backpressure.check()
        failures: dict[str, Exception] = {}
        writes = []
        for database, body in bodies.items():
            try:
                check_database_name(database)
                validated = await run_in_threadpool(self._prepare, database, body, precision,
                                                    True)
            except Exception as e:
                failures[database] = e
                continue
            writes.extend(validated.writes)
            self.lines_written += validated.rows
            self.lines_rejected += len(validated.errors)
            for observe in self.observers:
                observe(database, validated.rows, len(validated.errors))
            if validated.errors:
                failures[database] = RejectedLines(validated.errors, bool(validated.writes),
                                                   validated.limit_hit, True)
        if writes:
            await self._wal.write(writes, True, cursors)
        return failures

    def _prepare(self, database: str, body: bytes, precision: Precision,
                 accept_partial: bool) -> ValidatedWrite:
        if body.startswith(_UTF8_BOM):  # some editors and tools start files with one
            body = body[len(_UTF8_BOM):]
        try:
            parsed = parse(body, precision, time.time_ns())
        except LineProtocolError as e:
            raise InvalidRequest(str(e)) from e
        if parsed.line_count == 0:
            raise InvalidRequest("the request body holds no lines of line protocol")
        with self._catalog.lock:
            validated = validate(self._catalog, database, body, parsed, self._limits)
            if validated.errors and not accept_partial:
                validated.writes = []
                return validated
            if validated.writes:
                self._catalog.commit(validated.catalog_ops)
                stamp_table_ids(self._catalog, validated)  # new tables have ids only now
        return validated
