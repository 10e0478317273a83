"""The plugin worker processes (`--plugin-isolation process`): how they start, and how the
server notices one has died.

Workers are forked by `multiprocessing`'s fork server, which is started once (it is a fresh
interpreter, so no thread of the server is copied into it) and imports the worker's modules
and pyarrow before it forks anything: a worker is ready in a few milliseconds rather than the
~0.6 s a fresh interpreter needs. The pool keeps `spares` workers started ahead, so a trigger
that is created, or whose worker was killed, does not wait even for that.

A worker belongs to one trigger for its whole life (`WorkerProcess`); it is never handed to
another. Its death is seen at once: the fork server closes the process's sentinel pipe, which
the event loop watches beside the worker's channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable

from timewell.engine.ipc import Channel, ChannelClosed

log = logging.getLogger(__name__)

_PRELOAD = ["timewell.engine.worker_main", "timewell.lineprotocol.builder", "pyarrow"]


class WorkerProcess:
    """The server's handle on one worker: its channel, watched on the event loop."""

    def __init__(self, process, channel: Channel, loop: asyncio.AbstractEventLoop) -> None:
        self.process = process
        self.pid: int = process.pid
        self.channel = channel
        self.started = time.monotonic()
        self.kill_reason: str | None = None  # why the server killed it (restart cause)
        self.fatal_reason: str | None = None  # what the worker said before exiting
        self.exit_cause: str | None = None
        self.closing = False  # the server asked it to leave: its end is no failure
        self.on_message: Callable[[tuple, list[int]], None] = _close_fds
        self.on_death: Callable[[WorkerProcess], None] = lambda worker: None
        self._loop = loop
        self._alive = True
        loop.add_reader(channel.sock.fileno(), self._readable)
        loop.add_reader(process.sentinel, self._ended)

    @property
    def alive(self) -> bool:
        return self._alive

    def send(self, message: tuple, fds: list[int] | tuple[int, ...] = ()) -> None:
        """Send without blocking; a worker that stopped reading (its socket buffer full) is
        killed: it cannot be told anything any more."""
        try:
            self.channel.send(message, fds)
        except BlockingIOError:
            self.kill("crash")
            raise ChannelClosed("the worker process stopped reading its messages") from None

    def cancel(self) -> None:
        """The plugin's next influxdb3_local call raises KeyboardInterrupt."""
        if self._alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGUSR1)

    def kill(self, reason: str) -> None:
        if self._alive and self.kill_reason is None:
            self.kill_reason = reason
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def close(self, wait_s: float = 1.0) -> None:
        """Ask the worker to leave (it saves its cache first); kill it if it does not."""
        if not self._alive:
            return
        self.closing = True
        with contextlib.suppress(ChannelClosed, OSError):
            self.channel.send(("exit",))
        deadline = time.monotonic() + wait_s
        while self._alive and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _readable(self) -> None:
        while True:
            try:
                message, fds = self.channel.recv()
            except BlockingIOError:
                return
            except (ChannelClosed, OSError):
                self._loop.remove_reader(self.channel.sock.fileno())
                return  # the sentinel says why
            try:
                self.on_message(message, fds)
            except Exception:  # a bad message costs the worker, never the server
                log.exception("unexpected message from plugin worker %d", self.pid)
                self.kill("crash")

    def _ended(self) -> None:
        self._loop.remove_reader(self.process.sentinel)
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self.channel.sock.fileno())
        # Drain what the worker said before it went (a run's "done", its last cache sync).
        with contextlib.suppress(Exception):
            self._readable()
        self._alive = False
        self.exit_cause = describe_exit(self.process.exitcode, self.kill_reason)
        self.channel.close()
        self.on_death(self)


class WorkerPool:
    def __init__(self, memory_limit_bytes: int | None, limit_kind: str = "data",
                 spares: int = 2) -> None:
        self.memory_limit_bytes = memory_limit_bytes
        self.limit_kind = limit_kind
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        self._want_spares = spares
        self._spares: list[WorkerProcess] = []
        self._refill: asyncio.Task | None = None
        self._stopped = False
        self._started = False

    async def start(self) -> None:
        """Start the fork server (once per server process) and the spare workers."""
        if self._started:
            return
        self._started = True
        from multiprocessing import forkserver

        await asyncio.to_thread(forkserver.ensure_running)
        self._top_up()

    async def take(self) -> WorkerProcess:
        """A fresh worker, from the spares when one is ready."""
        await self.start()  # a server that had no plugins until now
        while self._spares:
            worker = self._spares.pop()
            if worker.alive:
                self._top_up()
                return worker
        worker = await self._start_one()
        self._top_up()
        return worker

    async def stop(self) -> None:
        self._stopped = True
        if self._refill is not None:
            self._refill.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refill
        spares, self._spares = self._spares, []
        await asyncio.gather(*(worker.close(0.2) for worker in spares))

    def _top_up(self) -> None:
        if self._stopped or (self._refill is not None and not self._refill.done()):
            return
        if len(self._spares) < self._want_spares:
            self._refill = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        while not self._stopped and len(self._spares) < self._want_spares:
            try:
                self._spares.append(await self._start_one())
            except Exception:
                log.exception("could not start a plugin worker process")
                return

    async def _start_one(self) -> WorkerProcess:
        from timewell.engine.worker_main import worker_entry

        ours, theirs = Channel.pair()
        process = self._context.Process(
            target=worker_entry, name="timewell-plugin-worker", daemon=True,
            args=(theirs, self.memory_limit_bytes, self.limit_kind))
        try:
            await asyncio.to_thread(process.start)
        finally:
            theirs.close()
        ours.setblocking(False)
        return WorkerProcess(process, Channel(ours), asyncio.get_running_loop())


def describe_exit(exitcode: int | None, kill_reason: str | None) -> str:
    """Why a worker process ended, for the log and the run's error."""
    if exitcode is None:
        return "ended for an unknown reason"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name == "SIGKILL" and kill_reason is None:
            return "was killed by SIGKILL (by the kernel's OOM killer, or from outside)"
        if name == "SIGKILL":
            return "was killed by the server"
        return f"was killed by {name}"
    return f"exited with status {exitcode}"


def _close_fds(_message: tuple, fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
