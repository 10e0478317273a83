"""What sharing the HTTP port with Arrow Flight costs: HTTP writes, routed and direct.

Two servers in one run: one as shipped (every connection's first bytes are read to tell
HTTP/1.1 from HTTP/2 before uvicorn gets the connection) and one with `--flight-bind` (uvicorn
owns connections directly). Measured alternately, round by round:

- bulk writes: `bench/ingest.py`'s load (10,000-line batches, 8 keep-alive connections,
  sync writes), in lines/s;
- connection churn, where a per-connection cost would show: single-line writes, each on a
  new connection, in requests/s;
- Flight: `SELECT 1` over gRPC through the shared port (spliced to the Flight server's Unix
  socket) against the Flight server's own TCP port, median ms per query;
- in-process, without noise from the rest of the machine: what handing one connection from
  the port-sharing protocol to the HTTP protocol costs, in microseconds.

    .venv/bin/python bench/portshare.py [--batches 150] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pyarrow.flight as flight

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest  # noqa: E402 - the sibling benchmark's load generator

CHURN_REQUESTS = 2000
FLIGHT_QUERIES = 200


def start(data_dir: str, *extra: str) -> tuple[subprocess.Popen, str]:
    return ingest.start_server(data_dir, *extra)


async def churn(url: str, requests: int) -> float:
    """Requests per second for single-line writes, each on a new connection (4 at a time)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = f"m,k=v f={i} {i + 1}".encode()
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"POST /api/v3/write_lp?db=churn&no_sync=true HTTP/1.1\r\n"
                         b"Host: bench\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            answer = await reader.read()
            writer.close()
            if not answer.startswith(b"HTTP/1.1 204"):
                raise RuntimeError(answer[:200])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(4)))
    return requests / (time.perf_counter() - started)


def flight_ms(location: str, queries: int) -> float:
    client = flight.FlightClient(location)
    ticket = flight.Ticket(json.dumps({"database": "churn", "sql_query": "SELECT 1",
                                       "query_type": "sql"}).encode())
    client.do_get(ticket).read_all()  # connect and warm up
    times = []
    for _ in range(queries):
        started = time.perf_counter()
        client.do_get(ticket).read_all()
        times.append(time.perf_counter() - started)
    client.close()
    return 1000 * statistics.median(times)


class _Transport:
    def __init__(self) -> None:
        self.protocol = None

    def set_protocol(self, protocol) -> None:
        self.protocol = protocol


class _Http:
    def __init__(self, *args, **kwargs) -> None:
        self.received = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data


def handoff_us(connections: int = 200_000) -> float:
    """Extra microseconds per connection for reading its first bytes and handing it over."""
    from timewell.server.portshare import port_sharing_protocol

    sharing = port_sharing_protocol(_Http, "/nonexistent")
    head = b"POST /api/v3/write_lp?db=bench HTTP/1.1\r\nHost: x\r\n\r\n"

    def direct() -> None:
        protocol = _Http()
        protocol.connection_made(_Transport())
        protocol.data_received(head)

    def routed() -> None:
        protocol = sharing()
        protocol.connection_made(_Transport())
        protocol.data_received(head)

    timings = {}
    for name, connect in (("direct", direct), ("routed", routed)):
        started = time.perf_counter()
        for _ in range(connections):
            connect()
        timings[name] = (time.perf_counter() - started) / connections * 1e6
    return timings["routed"] - timings["direct"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bodies = [ingest.make_batch(i) for i in range(args.batches)]
    results: dict = {m: {"bulk": [], "churn": [], "flight_ms": []} for m in ("routed", "direct")}
    flight_port = ingest.free_port()
    with tempfile.TemporaryDirectory() as routed_dir, tempfile.TemporaryDirectory() as direct_dir:
        routed, routed_url = start(routed_dir)
        direct, direct_url = start(direct_dir, "--flight-bind", f"127.0.0.1:{flight_port}")
        urls = {"routed": routed_url, "direct": direct_url}
        flights = {"routed": routed_url.replace("http://", "grpc+tcp://"),
                   "direct": f"grpc+tcp://127.0.0.1:{flight_port}"}
        try:
            for url in urls.values():
                asyncio.run(ingest.run_load(url, bodies[:10], no_sync=False))  # warm up
                asyncio.run(churn(url, 20))
            for round_ in range(args.rounds):
                order = ("routed", "direct") if round_ % 2 == 0 else ("direct", "routed")
                for mode in order:
                    results[mode]["bulk"].append(
                        asyncio.run(ingest.run_load(urls[mode], bodies, no_sync=False)))
                    results[mode]["churn"].append(asyncio.run(churn(urls[mode],
                                                                    CHURN_REQUESTS)))
                    results[mode]["flight_ms"].append(flight_ms(flights[mode], FLIGHT_QUERIES))
        finally:
            for process in (routed, direct):
                process.terminate()
                process.wait(60)
    summary = {mode: {"bulk_lines_per_s": statistics.median(r["bulk"]),
                      "churn_requests_per_s": statistics.median(r["churn"]),
                      "flight_select1_ms": statistics.median(r["flight_ms"]),
                      "runs": {k: [round(v, 2) for v in vs] for k, vs in r.items()}}
               for mode, r in results.items()}
    summary["handoff_us_per_connection"] = round(min(handoff_us() for _ in range(3)), 2)
    summary["setup"] = {"batches_per_run": args.batches, "rounds": args.rounds,
                        "churn_requests": CHURN_REQUESTS, "flight_queries": FLIGHT_QUERIES,
                        "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for mode in ("routed", "direct"):
        s = summary[mode]
        print(f"{mode:7s} bulk {s['bulk_lines_per_s']:>11,.0f} lines/s   churn "
              f"{s['churn_requests_per_s']:>7,.0f} req/s   Flight SELECT 1 "
              f"{s['flight_select1_ms']:.2f} ms")
    print(f"routing cost per connection: {summary['handoff_us_per_connection']} µs")


if __name__ == "__main__":
    main()
