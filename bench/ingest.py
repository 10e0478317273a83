"""Ingest benchmark: HTTP line-protocol writes into a real server process.

10,000-line batches over 1,000 series, 8 concurrent connections, `--wal-flush-interval 10ms`,
sync writes (answered after the fsync'd flush) and the same with `no_sync=true`. The load
generator runs in this process, on the same machine as the server.

    .venv/bin/python bench/ingest.py [--batches 300] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

LINES_PER_BATCH = 10_000
SERIES = 1_000
CONNECTIONS = 8


def make_batch(batch: int) -> bytes:
    base = 1_700_000_000_000_000_000 + batch * LINES_PER_BATCH * 1_000
    lines = []
    for i in range(LINES_PER_BATCH):
        series = i % SERIES
        lines.append(
            f"cpu,host=host{series:04d},region=r{series % 10} "
            f"usage_user={(i % 97) * 0.5},usage_system={(i % 13) * 0.25},idle={i % 100}i "
            f"{base + i * 1_000}"
        )
    return "\n".join(lines).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: str, *extra_args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "timewell", "serve", "--data-dir", data_dir,
         "--http-bind", f"127.0.0.1:{port}", "--wal-flush-interval", "10ms",
         "--max-http-request-size", str(64 * 1024 * 1024), "--log-level", "warning",
         "--without-auth", *extra_args],
    )
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


async def run_load(url: str, bodies: list[bytes], no_sync: bool) -> float:
    """Lines per second for sending every body once over CONNECTIONS connections."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    params = {"db": "bench", "no_sync": "true" if no_sync else "false"}

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            response = await client.post("/api/v3/write_lp", params=params, content=body)
            if response.status_code != 204:
                raise RuntimeError(f"write failed: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    return len(bodies) * LINES_PER_BATCH / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200, help="batches per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bodies = [make_batch(i) for i in range(args.batches)]
    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        process, url = start_server(data_dir)
        try:
            asyncio.run(run_load(url, bodies[:10], no_sync=False))  # warm up
            for mode, no_sync in (("sync", False), ("no_sync", True)):
                rates = [asyncio.run(run_load(url, bodies, no_sync)) for _ in range(args.rounds)]
                results[mode] = {"median_lines_per_s": statistics.median(rates),
                                 "runs": [round(r) for r in rates]}
        finally:
            process.terminate()
            process.wait(60)
    results["setup"] = {"lines_per_batch": LINES_PER_BATCH, "series": SERIES,
                        "connections": CONNECTIONS, "batches_per_run": args.batches,
                        "rounds": args.rounds, "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for mode in ("sync", "no_sync"):
            print(f"{mode:8s} median {results[mode]['median_lines_per_s']:>12,.0f} lines/s  "
                  f"runs {results[mode]['runs']}")


if __name__ == "__main__":
    main()
