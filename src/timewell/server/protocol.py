"""The HTTP/1.1 connection protocol: uvicorn's httptools protocol with a bound on request heads.

httptools buffers a request's line and headers without limit (a header value is collected
whole before uvicorn sees it), so a client could grow the server's memory with one endless
header. Here the bytes of each request head are counted as they arrive; past
`MAX_HEAD_BYTES` the connection is answered `431` and closed. Body limits are the routes'
(`server/body.py`).
"""

from __future__ import annotations

import orjson

MAX_HEAD_BYTES = 64 * 1024
"""Request line plus headers; generous for any client (browsers send a few KiB)."""

_REFUSAL = orjson.dumps({"error": f"the request line and headers are larger than "
                                  f"{MAX_HEAD_BYTES} bytes: send fewer or shorter headers"})
_RESPONSE_431 = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                 b"content-type: application/json\r\n"
                 b"content-length: " + str(len(_REFUSAL)).encode() + b"\r\n"
                 b"connection: close\r\n\r\n" + _REFUSAL)


class HeadTooLarge(Exception):
    """Stops httptools mid-head (it reports the callback's exception as a parser error)."""


def http_protocol() -> type | str:
    """What uvicorn's `http` setting should be: the bounded httptools protocol, or h11 (which
    bounds heads itself with `h11_max_incomplete_event_size`) when httptools is missing."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        return "h11"

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _in_head = True
        _raw_head_bytes = 0  # received while a head is incomplete: what httptools buffers
        _head_bytes = 0  # the current head's URL and headers, as parsed
        _refused = False

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._raw_head_bytes += len(data)
            super().data_received(data)
            # After parsing: the chunk that ends a head may carry body bytes too.
            if self._in_head and self._raw_head_bytes > MAX_HEAD_BYTES:
                self._refuse()

        def on_message_begin(self) -> None:
            self._head_bytes = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value))
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_head, self._raw_head_bytes = True, 0
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            if self._refused:  # the parser stopped because _count raised
                self._refuse()
            else:
                super().send_400_response(msg)

        def _count(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refused = True
                raise HeadTooLarge()

        def _refuse(self) -> None:
            self._refused = True
            if not self.transport.is_closing():
                self.transport.write(_RESPONSE_431)
                self.transport.close()

    return BoundedHttpToolsProtocol
