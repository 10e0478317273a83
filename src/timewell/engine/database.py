"""The engine's window on the database: the write service and the query engine, reached from
plugin worker threads and, over IPC, plugin worker processes."""

from __future__ import annotations

import asyncio

import pyarrow as pa

from timewell.lineprotocol import Precision
from timewell.query.engine import QueryEngine
from timewell.write import WriteService


class NodeDatabase:
    def __init__(self, writer: WriteService, query: QueryEngine) -> None:
        self._writer = writer
        self._query = query
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def write_now(self, database: str, lines: str, no_sync: bool) -> None:
        """From a worker thread: write on the event loop and wait for the answer."""
        assert self._loop is not None, "NodeDatabase used before the engine started"
        future = asyncio.run_coroutine_threadsafe(
            self._writer.write_lp(database, lines.encode(), Precision.NANOSECOND,
                                  accept_partial=False, no_sync=no_sync), self._loop)
        future.result()

    async def write_checked(self, database: str, lines: str, no_sync: bool) -> None:
        """On the event loop: write now (durable unless `no_sync`); raise on any rejected
        line (a worker process's write_sync)."""
        await self._writer.write_lp(database, lines.encode(), Precision.NANOSECOND,
                                    accept_partial=False, no_sync=no_sync)

    async def write_later(self, database: str, lines: str) -> None:
        """On the event loop: buffer a plugin's queued writes; bad lines are reported."""
        await self._writer.write_lp(database, lines.encode(), Precision.NANOSECOND,
                                    accept_partial=True, no_sync=True)

    def query(self, database: str, sql: str, params: dict | None) -> pa.Table:
        return self._query.sql(database, sql, params)
