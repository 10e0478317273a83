"""Last write wins: what deduplication costs aggregate queries over Parquet files and buffer.

ROWS points (1,000 series, one point per series every 10 s, 10,000-line batches of 10 time
steps, 8 connections, sync writes, `--wal-flush-interval 10ms`) are loaded so that the oldest
90% (`--buffer`) are in Parquet files and the newest 10% in the in-memory buffer:

1. a server receives the Parquet part (snapshots held off: `--wal-snapshot-size 1000000`,
   `--force-snapshot-mem-threshold 16GiB`) and is stopped;
2. a server started with `--wal-snapshot-size 1` replays that WAL and snapshots it into
   Parquet files (one per 10-minute chunk), then is stopped;
3. the measured server (snapshots held off again) receives the buffer part.

Two data sets, each on fresh servers:

- `unique`: every point written once;
- `duplicates`: `--duplicates` (10%) of the points written twice, with a different value
  the second time: half re-send the newest batches of the Parquet part (the original in a
  Parquet file, the re-sent point in the buffer), half re-send batches of the buffer part
  (both in the buffer), sent during step 3.

Then each query is timed over HTTP (`/api/v3/query_sql`, JSON), one warm-up run (reported
as `first_s`: it includes sorting the buffer into runs where the server does that lazily)
and `--runs` timed runs, median; also the CPU time the server spent on each (all its
threads), steadier than wall-clock time on a shared machine. With `--baseline
OTHER_CHECKOUT/src` a second server is loaded with the same data from other sources and the
two are queried alternately, run by run, so that noise from the rest of the machine falls on
both alike.

    .venv/bin/python bench/dedup.py [--rows 10000000] [--runs 5] [--buffer 0.1]
        [--duplicates 0.1] [--baseline OTHER_CHECKOUT/src] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import CONNECTIONS, server_module, start_server  # noqa: E402 - sibling module

SERIES = 1_000
STEPS_PER_BATCH = 10  # 10 time steps x 1,000 series = 10,000 lines
STEP_NS = 10 * 1_000_000_000
START_NS = 1_699_999_800 * 1_000_000_000  # a multiple of 10 minutes
HOUR_NS = 3_600 * 1_000_000_000
HOLD_OFF = ["--wal-snapshot-size", "1000000", "--force-snapshot-mem-threshold", "16GiB"]


def batch(number: int, resent: bool = False) -> bytes:
    """Batch `number`: STEPS_PER_BATCH consecutive time steps for every series. A re-sent
    batch has the same points with other `usage` values (the later write wins)."""
    out = []
    for step in range(number * STEPS_PER_BATCH, (number + 1) * STEPS_PER_BATCH):
        ts = START_NS + step * STEP_NS
        for s in range(SERIES):
            usage = (step + s) % 100 + (0.25 if resent else 0.5)
            out.append(f"cpu,host=host{s:04d},region=r{s % 10} usage={usage},"
                       f"count={step % 1000}i {ts}")
    return "\n".join(out).encode()


async def send(url: str, work: list[tuple[int, bool]]) -> float:
    """Write the batches of `work` ((number, resent), in order, CONNECTIONS at a time)."""
    queue = iter(work)

    async def worker(client: httpx.AsyncClient) -> None:
        for number, resent in queue:
            body = await asyncio.to_thread(batch, number, resent)
            response = await client.post("/api/v3/write_lp", params={"db": "bench"},
                                         content=body)
            if response.status_code != 204:
                raise RuntimeError(f"write failed: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=600) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
        return time.perf_counter() - started


def plan(batches: int, buffer: float, duplicates: float) -> tuple[list, list]:
    """The batches of the Parquet part and of the buffer part, as (number, resent)."""
    in_parquet = round(batches * (1 - buffer))
    resent = round(batches * duplicates)
    over_parquet = min(resent // 2, in_parquet)
    in_buffer = min(resent - over_parquet, batches - in_parquet)
    first = [(n, False) for n in range(in_parquet)]
    originals = [(n, False) for n in range(in_parquet, batches)]
    again = [(n, True) for n in range(in_parquet - over_parquet, in_parquet)]
    second = []
    for i, item in enumerate(originals):  # re-sent Parquet batches amid the new ones
        second.append(item)
        if i < len(again):
            second.append(again[i])
    second += again[len(originals):]
    # Re-sent buffer batches last: long after their originals, whatever the concurrency.
    second += [(n, True) for n in range(in_parquet, in_parquet + in_buffer)]
    return first, second


def stop(process) -> None:
    process.terminate()
    if process.wait(600) != 0:
        raise RuntimeError(f"server exited with {process.returncode}")


def sql(client: httpx.Client, q: str) -> list[dict]:
    response = client.post("/api/v3/query_sql", json={"db": "bench", "q": q})
    response.raise_for_status()
    return response.json()


def load(data_dir: str, source_dir: str | None, first: list, second: list):
    """A running server holding `first` in Parquet files and `second` in its buffer."""
    started = time.perf_counter()
    process, url = start_server(data_dir, *HOLD_OFF, source_dir=source_dir)
    try:
        asyncio.run(send(url, first))
    finally:
        stop(process)
    process, url = start_server(data_dir, "--wal-snapshot-size", "1", source_dir=source_dir)
    stop(process)  # a stop waits for the snapshot started at start-up
    process, url = start_server(data_dir, *HOLD_OFF, source_dir=source_dir)
    try:
        asyncio.run(send(url, second))
        with httpx.Client(base_url=url, timeout=600) as client:
            files = sql(client, "SELECT count(*) AS files, sum(row_count) AS rows "
                                "FROM system.parquet_files")[0]
    except BaseException:
        stop(process)
        raise
    return process, url, {"files": files["files"], "rows_in_parquet": files["rows"],
                          "load_s": time.perf_counter() - started}


def queries(in_parquet: int) -> dict[str, str]:
    aggregate = "SELECT host, avg(usage) AS usage, count(*) AS n FROM cpu"
    boundary = START_NS + in_parquet * STEPS_PER_BATCH * STEP_NS  # first buffered time

    def hour(start: int) -> str:
        return (f"{aggregate} WHERE time >= to_timestamp_nanos({start}) "
                f"AND time < to_timestamp_nanos({start + HOUR_NS}) GROUP BY host")

    return {
        "all rows": f"{aggregate} GROUP BY host",
        "1 h across the Parquet/buffer boundary": hour(boundary - HOUR_NS // 2),
        "first 1 h (in Parquet)": hour(START_NS),
    }


def timed(client: httpx.Client, server: psutil.Process, q: str) -> tuple[float, float]:
    """Seconds over HTTP, and CPU seconds the server spent (all its threads)."""
    cpu = server.cpu_times()
    started = time.perf_counter()
    rows = sql(client, q)
    elapsed = time.perf_counter() - started
    after = server.cpu_times()
    if len(rows) != SERIES:
        raise RuntimeError(f"{len(rows)} groups, expected {SERIES}")
    return elapsed, after.user + after.system - cpu.user - cpu.system


def scenario(name: str, servers: dict[str, str | None], batches: int, args) -> dict:
    duplicates = args.duplicates if name == "duplicates" else 0.0
    first, second = plan(batches, args.buffer, duplicates)
    asked = queries(len(first))
    result: dict = {"points_written": (len(first) + len(second)) * SERIES * STEPS_PER_BATCH,
                    "servers": {}}
    running = {}
    processes = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for label, source in servers.items():
                data_dir = str(Path(tmp) / label)
                process, url, info = load(data_dir, source, first, second)
                running[label] = (psutil.Process(process.pid),
                                  httpx.Client(base_url=url, timeout=600))
                processes.append(process)
                result["servers"][label] = {**info, "queries": {}}
            result["load_average_before_queries"] = os.getloadavg()
            for q_name, q in asked.items():
                for label, (server, client) in running.items():
                    first, _ = timed(client, server, q)
                    result["servers"][label]["queries"][q_name] = {
                        "first_s": first, "runs": [], "cpu_runs": []}
                for _ in range(args.runs):
                    for label, (server, client) in running.items():  # alternately
                        entry = result["servers"][label]["queries"][q_name]
                        elapsed, cpu = timed(client, server, q)
                        entry["runs"].append(elapsed)
                        entry["cpu_runs"].append(cpu)
            for label, (_, client) in running.items():
                stats = result["servers"][label]
                for entry in stats["queries"].values():
                    entry["median_s"] = statistics.median(entry["runs"])
                    entry["median_cpu_s"] = statistics.median(entry["cpu_runs"])
                stats["rows_counted"] = sql(client, "SELECT count(*) AS n FROM cpu")[0]["n"]
            result["load_average_after_queries"] = os.getloadavg()
        finally:
            for _, client in running.values():
                client.close()
            for process in processes:
                stop(process)
    result["sql"] = asked
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query and server")
    parser.add_argument("--buffer", type=float, default=0.1,
                        help="share of the points left in the buffer")
    parser.add_argument("--duplicates", type=float, default=0.1,
                        help="share of the points written twice in the second data set")
    parser.add_argument("--source-dir", help="run the measured server from these sources")
    parser.add_argument("--baseline", help="also measure a server run from these sources")
    parser.add_argument("--scenarios", default="unique,duplicates")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    batches = args.rows // (SERIES * STEPS_PER_BATCH)
    servers = {"current": args.source_dir}
    if args.baseline:
        servers = {"baseline": args.baseline, **servers}
    results: dict = {"setup": {
        "rows": batches * SERIES * STEPS_PER_BATCH, "series": SERIES, "runs": args.runs,
        "buffer_share": args.buffer, "duplicate_share": args.duplicates,
        "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
        "modules": {label: server_module(source) for label, source in servers.items()}}}
    for name in args.scenarios.split(","):
        results[name] = scenario(name, servers, batches, args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for label, module in results["setup"]["modules"].items():
        print(f"{label}: {module}")
    for name in args.scenarios.split(","):
        res = results[name]
        print(f"\n{name}: {res['points_written']:,} points written, load average "
              f"{res['load_average_before_queries'][0]:.1f} -> "
              f"{res['load_average_after_queries'][0]:.1f}")
        for label, stats in res["servers"].items():
            print(f"  {label}: {stats['files']} Parquet files, {stats['rows_in_parquet']:,} "
                  f"rows in them, {stats['rows_counted']:,} rows counted, loaded in "
                  f"{stats['load_s']:.0f} s")
        for q_name in res["sql"]:
            line = f"  {q_name:40s}"
            for label, stats in res["servers"].items():
                entry = stats["queries"][q_name]
                line += (f"  {label} {entry['median_s'] * 1000:7.0f} ms "
                         f"(CPU {entry['median_cpu_s'] * 1000:.0f}, "
                         f"first {entry['first_s'] * 1000:.0f})")
            if "baseline" in res["servers"]:
                current = res["servers"]["current"]["queries"][q_name]
                baseline = res["servers"]["baseline"]["queries"][q_name]
                line += (f"  ratio {current['median_s'] / baseline['median_s']:.2f} "
                         f"(CPU {current['median_cpu_s'] / baseline['median_cpu_s']:.2f})")
            print(line)


if __name__ == "__main__":
    main()
