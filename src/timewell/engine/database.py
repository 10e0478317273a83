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

    async def write_committed(self, outputs: dict[str, str],
                              cursors: dict[str, int]) -> dict[str, Exception]:
        """On the event loop: a run's queued writes (several databases) buffered in one WAL
        write with the trigger cursors they commit; why each database's lines were refused."""
        return await self._writer.write_committed(
            {db: lines.encode() for db, lines in outputs.items()}, Precision.NANOSECOND,
            cursors)

    def query(self, database: str, sql: str, params: dict | None) -> pa.Table:
        return self._query.sql(database, sql, params)
