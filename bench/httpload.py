"""A small keep-alive HTTP/1.1 load generator on raw asyncio streams.

General clients (httpx) spend about a millisecond of CPU per request, more than the server
under test; this one only writes a fixed request and reads `Content-Length` bytes back, so
the server's cost dominates what is measured.
"""

from __future__ import annotations

import asyncio
import statistics
import time


async def _connection(host: str, port: int, request: bytes, count: int,
                      latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"status {status}")
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


def run(host: str, port: int, path: str, requests: int, connections: int = 8) -> dict:
    """Send `requests` GETs of `path` over `connections` keep-alive connections."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    latencies: list[float] = []
    per_connection = requests // connections

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(_connection(host, port, request, per_connection, latencies)
                               for _ in range(connections)))
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    latencies.sort()
    return {"requests_per_s": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[max(0, int(0.99 * len(latencies)) - 1)]}
