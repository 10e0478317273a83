"""Streaming benchmark: the server's memory while a large answer is sent.

Writes ROWS rows (`cpu,host=h0..h999 v=<float>,n=<int>`, 10,000-line batches) into a server
process, then asks for all of them with `SELECT * FROM cpu` as CSV, Arrow IPC and JSON lines
(streamed batch by batch) and reads the answers as they arrive, sampling the server's RSS
every 20 ms; reports the growth over the RSS before each query, the bytes received and the
rate. A `count(*)` first has the buffer sort what was written (its own, one-time cost).

    .venv/bin/python bench/stream.py [--rows 5000000] [--formats csv,arrow,jsonl] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time

import httpx
import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import start_server  # noqa: E402

MIB = 1024 * 1024
DB = "stream"


def load(url: str, rows: int) -> None:
    base = 1_700_000_000_000_000_000
    with httpx.Client(base_url=url, timeout=120) as client:
        for start in range(0, rows, 10_000):
            body = "\n".join(f"cpu,host=h{i % 1000} v={i * 0.5},n={i}i {base + i * 1000}"
                             for i in range(start, min(rows, start + 10_000)))
            client.post("/api/v3/write_lp", params={"db": DB, "precision": "ns"},
                        content=body).raise_for_status()


def measure(url: str, pid: int, fmt: str) -> dict:
    process = psutil.Process(pid)
    before = process.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    received = 0
    with httpx.stream("GET", f"{url}/api/v3/query_sql", timeout=600,
                      params={"db": DB, "q": "SELECT * FROM cpu", "format": fmt}) as response:
        response.raise_for_status()
        for piece in response.iter_raw():
            received += len(piece)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"format": fmt, "rss_before_mib": before / MIB, "rss_growth_mib": (peak - before) / MIB,
            "mib_received": received / MIB, "seconds": seconds,
            "mib_per_s": received / MIB / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--formats", default="csv,arrow,jsonl")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {"rows": args.rows, "cpus": os.cpu_count(), "measures": []}
    with tempfile.TemporaryDirectory() as data_dir:
        process, url = start_server(data_dir, "--force-snapshot-mem-threshold", "16GiB",
                                    "--wal-snapshot-size", "100000000")
        try:
            started = time.perf_counter()
            load(url, args.rows)
            results["load_seconds"] = time.perf_counter() - started
            httpx.post(f"{url}/api/v3/query_sql", timeout=600,
                       json={"db": DB, "q": "SELECT count(*) FROM cpu"}).raise_for_status()
            for fmt in args.formats.split(","):
                results["measures"].append(measure(url, process.pid, fmt.strip()))
        finally:
            process.terminate()
            process.wait(60)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.rows:,} rows loaded in {results['load_seconds']:.0f} s")
    for m in results["measures"]:
        print(f"{m['format']:6s} RSS before {m['rss_before_mib']:6.0f} MiB, growth "
              f"{m['rss_growth_mib']:6.0f} MiB; {m['mib_received']:7.0f} MiB in "
              f"{m['seconds']:5.1f} s ({m['mib_per_s']:.0f} MiB/s)")


if __name__ == "__main__":
    main()
