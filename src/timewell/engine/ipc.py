"""The wire between the server and a plugin worker process.

A `SOCK_SEQPACKET` Unix socket pair: each message is one packet (a pickled tuple of plain
values), file descriptors travel beside it (`SCM_RIGHTS`). Data never travels pickled row by
row: table batches and query results are Arrow IPC streams written once into an anonymous
shared-memory file (`memfd`), whose descriptor is passed; the receiver maps it and reads the
Arrow buffers in place. A message too big for one packet travels the same way.

The pickle functions are bound at import, so a plugin that replaces `pickle.dumps` in its
worker breaks nothing but its own run.
"""

from __future__ import annotations

import array
import contextlib
import mmap
import os
import pickle
import socket
import threading
from pickle import dumps as _dumps
from pickle import loads as _loads

import pyarrow as pa

__all__ = ["Channel", "ChannelClosed", "read_tables", "write_tables"]

_INLINE_LIMIT = 48 * 1024  # larger messages go through a memfd
_MAX_FDS = 8
_BUFFER_BYTES = 4 * 1024 * 1024
_BIG = "__big__"


class ChannelClosed(ConnectionError):
    """The other end is gone (the worker died, or the server did)."""


class Channel:
    """One end of the socket pair. `send` may be called from several threads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, _BUFFER_BYTES)

    @staticmethod
    def pair() -> tuple[socket.socket, socket.socket]:
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    def send(self, message: tuple, fds: list[int] | tuple[int, ...] = ()) -> None:
        """Send one message (and dups of `fds`); BlockingIOError on a non-blocking socket
        whose buffer is full, ChannelClosed when the other end is gone."""
        data = _dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        big_fd = None
        if len(data) > _INLINE_LIMIT:
            big_fd = _memfd("timewell-message")
            _write_all(big_fd, data)
            data = _dumps((_BIG, len(data)))
            fds = [big_fd, *fds]
        ancillary = ([(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                     if fds else [])
        try:
            with self._send_lock:
                self.sock.sendmsg([data], ancillary)
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            if isinstance(e, BlockingIOError):
                raise
            raise ChannelClosed(str(e)) from None
        finally:
            if big_fd is not None:
                os.close(big_fd)

    def recv(self) -> tuple[tuple, list[int]]:
        """The next message and the descriptors that came with it (the caller closes them).
        BlockingIOError when a non-blocking socket has nothing; ChannelClosed at EOF."""
        try:
            data, ancdata, _flags, _addr = self.sock.recvmsg(
                _INLINE_LIMIT + 4096, socket.CMSG_SPACE(_MAX_FDS * 4))
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ChannelClosed(str(e)) from None
        fds: list[int] = []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                received = array.array("i")
                received.frombytes(payload[:len(payload) - len(payload) % received.itemsize])
                fds.extend(received)
        if not data:
            for fd in fds:
                os.close(fd)
            raise ChannelClosed("the other end closed the channel")
        message = _loads(data)
        if isinstance(message, tuple) and message and message[0] == _BIG:
            big_fd, fds = fds[0], fds[1:]
            try:
                with mmap.mmap(big_fd, message[1], prot=mmap.PROT_READ) as mapped:
                    message = _loads(mapped)
            finally:
                os.close(big_fd)
        return message, fds

    def close(self) -> None:
        self.sock.close()


def write_tables(tables: list[tuple[str, pa.Table]]) -> tuple[int, list[tuple[str, int, int]]]:
    """Write each table as an Arrow IPC stream into one new memfd; the descriptor (the caller
    closes it) and where each stream lies: (name, offset, length)."""
    fd = _memfd("timewell-arrow")
    layout = []
    with pa.OSFile(f"/proc/self/fd/{fd}", "wb") as sink:
        for name, table in tables:
            start = sink.tell()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            layout.append((name, start, sink.tell() - start))
    return fd, layout


def read_tables(fd: int, layout: list[tuple[str, int, int]]) -> list[tuple[str, pa.Table]]:
    """Map a memfd from `write_tables` and read its tables without copying them; the mapping
    lives as long as the tables do. Closes `fd`."""
    try:
        if not layout:
            return []
        source = pa.memory_map(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    whole = source.read_buffer()
    return [(name, pa.ipc.open_stream(whole.slice(offset, length)).read_all())
            for name, offset, length in layout]


def _memfd(name: str) -> int:
    return os.memfd_create(name, os.MFD_CLOEXEC)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
