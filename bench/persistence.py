"""Persistence benchmark: ingest many points through snapshots and watch memory stay bounded.

Writes POINTS points (1,000 series, timestamps spread over 24 hours, 10,000-line batches, 8
connections, --wal-flush-interval 10ms, the other storage settings at their defaults) into a
real server process, sampling the server's resident memory every 100 ms; then times a 1-hour
and a 24-hour aggregate query (median of 3).

    .venv/bin/python bench/persistence.py [--points 20000000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from ingest import CONNECTIONS, LINES_PER_BATCH, start_server

SERIES = 1_000
DAY_NS = 86_400 * 1_000_000_000


def batch(number: int, steps: int, start_ns: int) -> bytes:
    """Batch `number`: LINES_PER_BATCH / SERIES consecutive time steps for every series."""
    per_batch = LINES_PER_BATCH // SERIES
    step_ns = DAY_NS // steps
    out = []
    for step in range(number * per_batch, (number + 1) * per_batch):
        ts = start_ns + step * step_ns
        for s in range(SERIES):
            out.append(f"cpu,host=host{s:04d},region=r{s % 10} usage={(step + s) % 100}.5,"
                       f"count={step % 1000}i {ts}")
    return "\n".join(out).encode()


class PeakMemory:
    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


async def ingest(url: str, batches: int, steps: int, start_ns: int) -> float:
    numbers = iter(range(batches))

    async def worker(client: httpx.AsyncClient) -> None:
        for number in numbers:
            body = await asyncio.to_thread(batch, number, steps, start_ns)
            response = await client.post("/api/v3/write_lp", params={"db": "bench"},
                                         content=body)
            if response.status_code != 204:
                raise RuntimeError(f"write failed: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
        return time.perf_counter() - started


def timed_query(url: str, sql: str) -> float:
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        response = httpx.post(f"{url}/api/v3/query_sql", json={"db": "bench", "q": sql},
                              timeout=600)
        runs.append(time.perf_counter() - started)
        response.raise_for_status()
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    batches = args.points // LINES_PER_BATCH
    steps = batches * (LINES_PER_BATCH // SERIES)
    start_ns = (time.time_ns() - DAY_NS) // 1_000_000_000 * 1_000_000_000
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(str(Path(tmp) / "data"))
        memory = PeakMemory(process.pid)
        try:
            seconds = asyncio.run(ingest(url, batches, steps, start_ns))
            rows = httpx.post(f"{url}/api/v3/query_sql", json={
                "db": "bench", "q": "SELECT count(*) AS n FROM system.parquet_files"}).json()
            end_ns = start_ns + DAY_NS
            hour = timed_query(url, "SELECT host, avg(usage) AS u, max(count) AS c FROM cpu "
                                    f"WHERE time >= to_timestamp_nanos({end_ns - DAY_NS // 24}) "
                                    "GROUP BY host")
            day = timed_query(url, "SELECT host, avg(usage) AS u, max(count) AS c FROM cpu "
                                   "GROUP BY host")
            total = httpx.post(f"{url}/api/v3/query_sql", json={
                "db": "bench", "q": "SELECT count(*) AS n FROM cpu"}, timeout=600).json()
        finally:
            peak = memory.stop()
            process.terminate()
            process.wait(120)
    results = {
        "points": batches * LINES_PER_BATCH, "rows_counted": total[0]["n"],
        "ingest_seconds": seconds, "ingest_lines_per_s": batches * LINES_PER_BATCH / seconds,
        "peak_rss_mib": peak / 2**20, "parquet_files": rows[0]["n"],
        "query_1h_s": hour, "query_24h_s": day,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:20s} {value:,.3f}" if isinstance(value, float) else f"{key:20s} {value:,}")


if __name__ == "__main__":
    main()
