"""Ingest benchmark: HTTP line-protocol writes into a real server process.

10,000-line batches over 1,000 series, 8 concurrent connections, `--wal-flush-interval 10ms`,
sync writes (answered after the fsync'd flush) and the same with `no_sync=true`. The load
generator runs in this process, on the same machine as the server.

    .venv/bin/python bench/ingest.py [--batches 300] [--rounds 3] [--sync-only] [--json]
        [--source-dir OTHER_CHECKOUT/src] [--influxdb1]

`--source-dir` runs the server from another checkout's sources (say a `git worktree` of an
older commit, for before/after figures). `--influxdb1` sends the same sync load to a local
InfluxDB 1.x (`influxd`, Debian package `influxdb`) through its `/write` endpoint instead,
started with a throwaway config on loopback ports; it fsyncs its WAL on every write
(`wal-fsync-delay = "0s"`, its default), like timewell's sync writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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


def server_env(source_dir: str | None) -> dict[str, str] | None:
    """The environment for a server importing timewell from `source_dir` (None: this one)."""
    if source_dir is None:
        return None
    return {**os.environ, "PYTHONPATH": os.path.abspath(source_dir)}


def server_module(source_dir: str | None = None) -> str:
    """The timewell package a server started with `source_dir` imports (a check)."""
    return subprocess.run(
        [sys.executable, "-c", "import timewell; print(timewell.__file__)"],
        env=server_env(source_dir), capture_output=True, text=True, check=True,
    ).stdout.strip()


def start_server(data_dir: str, *extra_args: str,
                 source_dir: str | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "timewell", "serve", "--data-dir", data_dir,
         "--http-bind", f"127.0.0.1:{port}", "--wal-flush-interval", "10ms",
         "--max-http-request-size", str(64 * 1024 * 1024), "--log-level", "warning",
         "--without-auth", *extra_args],
        env=server_env(source_dir),
    )
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def start_influxdb1(root: str) -> tuple[subprocess.Popen, str]:
    """A throwaway InfluxDB 1.x on loopback ports with its files under `root`, database
    `bench` created."""
    influxd = shutil.which("influxd")
    if influxd is None:
        raise SystemExit("influxd (InfluxDB 1.x, Debian package 'influxdb') is not installed")
    http_port, rpc_port = free_port(), free_port()
    config = os.path.join(root, "influxdb.conf")
    with open(config, "w") as out:
        out.write(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
  max-body-size = {64 * 1024 * 1024}
[continuous_queries]
  enabled = false
""")
    log = open(os.path.join(root, "influxd.log"), "wb")  # noqa: SIM115 - the child's
    process = subprocess.Popen([influxd, "-config", config], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{http_port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 204:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("influxd did not start")
    response = httpx.post(f"{url}/query", data={"q": "CREATE DATABASE bench"})
    response.raise_for_status()
    return process, url


async def run_load(url: str, bodies: list[bytes], no_sync: bool,
                   influxdb1: bool = False) -> float:
    """Lines per second for sending every body once over CONNECTIONS connections."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    path = "/write" if influxdb1 else "/api/v3/write_lp"
    params = {"db": "bench"} if influxdb1 else {
        "db": "bench", "no_sync": "true" if no_sync else "false"}

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            response = await client.post(path, params=params, content=body)
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
    parser.add_argument("--sync-only", action="store_true", help="skip the no_sync runs")
    parser.add_argument("--source-dir", help="run the server from this timewell source tree")
    parser.add_argument("--influxdb1", action="store_true",
                        help="measure a local InfluxDB 1.x (influxd) instead (sync only)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bodies = [make_batch(i) for i in range(args.batches)]
    modes = [("sync", False)] if args.sync_only or args.influxdb1 else [
        ("sync", False), ("no_sync", True)]
    results: dict = {}
    with tempfile.TemporaryDirectory() as data_dir:
        if args.influxdb1:
            process, url = start_influxdb1(data_dir)
            results["server"] = "influxdb1"
        else:
            process, url = start_server(data_dir, source_dir=args.source_dir)
            results["server"] = server_module(args.source_dir)
        try:
            asyncio.run(run_load(url, bodies[:10], False, args.influxdb1))  # warm up
            for mode, no_sync in modes:
                rates = [asyncio.run(run_load(url, bodies, no_sync, args.influxdb1))
                         for _ in range(args.rounds)]
                results[mode] = {"median_lines_per_s": statistics.median(rates),
                                 "runs": [round(r) for r in rates]}
        finally:
            process.terminate()
            process.wait(60)
    results["setup"] = {"lines_per_batch": LINES_PER_BATCH, "series": SERIES,
                        "connections": CONNECTIONS, "batches_per_run": args.batches,
                        "rounds": args.rounds, "cpus": os.cpu_count(),
                        "load_average": os.getloadavg()}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"server: {results['server']}")
        for mode, _ in modes:
            print(f"{mode:8s} median {results[mode]['median_lines_per_s']:>12,.0f} lines/s  "
                  f"runs {results[mode]['runs']}")


if __name__ == "__main__":
    main()
