"""HTTP and Arrow Flight on one port, as upstream serves them.

The influxdb3 clients derive the gRPC address from the HTTP URL, so Flight must answer on the
HTTP port. Every connection starts in `PortSharingProtocol`, which reads the first bytes: a
connection that opens with the HTTP/2 client preface (`PRI * HTTP/2.0`, what every gRPC
client sends first) is spliced to the Flight server's private Unix socket; anything else is
handed, with the bytes read so far, to uvicorn's HTTP/1.1 protocol, which then owns the
transport as if it had accepted the connection itself. HTTP pays one extra call per
connection, not per request. With TLS, ALPN offers `http/1.1` first and `h2` second, so
browsers and curl speak HTTP/1.1 and gRPC clients (which offer only h2) get h2.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def port_sharing_protocol(http_protocol: type | str,
                          flight_socket: str) -> type[asyncio.Protocol]:
    """A uvicorn `http` protocol class (from a class or uvicorn's name for one, like `h11`)
    that shares the port with the Flight server."""
    if isinstance(http_protocol, str):
        from uvicorn.config import HTTP_PROTOCOLS
        from uvicorn.importer import import_from_string

        http_protocol = import_from_string(HTTP_PROTOCOLS.get(http_protocol, http_protocol))

    class PortSharingProtocol(_PortSharingProtocol):
        alpn_protocols = ["http/1.1", "h2"]
        _http_protocol = http_protocol
        _flight_socket = flight_socket

    return PortSharingProtocol


class _PortSharingProtocol(asyncio.Protocol):
    _http_protocol: type
    _flight_socket: str

    def __init__(self, *args, **kwargs) -> None:
        self._args, self._kwargs = args, kwargs
        self._transport: asyncio.Transport | None = None
        self._head = b""

    def connection_made(self, transport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._head += data
        head = self._head
        if len(head) < len(HTTP2_PREFACE) and HTTP2_PREFACE.startswith(head):
            return  # maybe the preface, not all here yet
        transport = self._transport
        assert transport is not None
        if head.startswith(HTTP2_PREFACE):
            splice = _Splice(transport, self._flight_socket, head)
            transport.set_protocol(splice)
            splice.start()
            return
        http = self._http_protocol(*self._args, **self._kwargs)
        transport.set_protocol(http)
        http.connection_made(transport)
        http.data_received(head)

    def eof_received(self) -> bool | None:
        return None  # closes the connection: it ended before saying what it speaks

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


class _Splice(asyncio.Protocol):
    """Bytes both ways between a client connection and the Flight server, with flow control."""

    def __init__(self, client: asyncio.Transport, socket_path: str, head: bytes) -> None:
        self._client = client
        self._socket_path = socket_path
        self._pending = [head]
        self._upstream: asyncio.Transport | None = None
        self._closed = False

    def start(self) -> None:
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_unix_connection(
                lambda: _Upstream(self), self._socket_path)
        except OSError as e:
            log.warning("cannot reach the Flight server: %s", e)
            self._client.close()
            return
        if self._closed:
            transport.close()
            return
        self._upstream = transport
        for chunk in self._pending:
            transport.write(chunk)
        self._pending.clear()

    # client side
    def data_received(self, data: bytes) -> None:
        if self._upstream is None:
            self._pending.append(data)
        else:
            self._upstream.write(data)

    def eof_received(self) -> bool | None:
        if self._upstream is not None and self._upstream.can_write_eof():
            self._upstream.write_eof()
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._upstream is not None:
            self._upstream.close()

    def pause_writing(self) -> None:  # the client reads slower than Flight answers
        if self._upstream is not None:
            self._upstream.pause_reading()

    def resume_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.resume_reading()

    # upstream side, called by _Upstream
    def upstream_data(self, data: bytes) -> None:
        if not self._closed:
            self._client.write(data)

    def upstream_closed(self) -> None:
        if not self._closed:
            self._client.close()

    def upstream_paused(self, paused: bool) -> None:
        if self._closed:
            return
        if paused:
            self._client.pause_reading()
        else:
            self._client.resume_reading()


class _Upstream(asyncio.Protocol):
    def __init__(self, splice: _Splice) -> None:
        self._splice = splice

    def data_received(self, data: bytes) -> None:
        self._splice.upstream_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._splice.upstream_closed()

    def pause_writing(self) -> None:
        self._splice.upstream_paused(True)

    def resume_writing(self) -> None:
        self._splice.upstream_paused(False)
