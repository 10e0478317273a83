"""Last value cache benchmark: `last_cache()` against the plain SQL that answers the same question.

One table of 1,000,000 rows over 1,000 series (`cpu`, tags host and region, three fields) is
loaded into a real server process, a last value cache with the default settings is created
(back-filled from those rows), and then, in the same run:

- one key:  `SELECT * FROM last_cache('cpu') WHERE host = 'host0042'`
            vs `SELECT * FROM cpu WHERE host = 'host0042' ORDER BY time DESC LIMIT 1`
- all keys: `SELECT * FROM last_cache('cpu')`
            vs a `row_number() OVER (PARTITION BY host, region ORDER BY time DESC)` query

Server-side time is `system.queries.end2end_duration` (planning and execution, without HTTP and
rendering); the HTTP round trip from this process is reported beside it. Medians. `SELECT 1` is
timed too: the cost of any query on this engine (a fresh DataFusion session, parsing, planning).

    .venv/bin/python bench/caches.py [--rounds 200] [--scan-rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

ROWS = 1_000_000
SERIES = 1_000
LINES_PER_BATCH = 50_000
BASE_NS = 1_700_000_000_000_000_000
KEY = "host0042"

QUERIES = {
    "engine floor": "SELECT 1",
    "one key, cache": f"SELECT * FROM last_cache('cpu') WHERE host = '{KEY}'",
    "one key, scan": f"SELECT * FROM cpu WHERE host = '{KEY}' ORDER BY time DESC LIMIT 1",
    "all keys, cache": "SELECT * FROM last_cache('cpu')",
    "all keys, scan": "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY host, region "
                      "ORDER BY time DESC) AS rn FROM cpu) WHERE rn = 1",
}


def make_batch(batch: int) -> bytes:
    lines = []
    for i in range(LINES_PER_BATCH):
        row = batch * LINES_PER_BATCH + i
        series = row % SERIES
        lines.append(
            f"cpu,host=host{series:04d},region=r{series % 10} "
            f"usage_user={(row % 97) * 0.5},usage_system={(row % 13) * 0.25},idle={row % 100}i "
            f"{BASE_NS + row * 1_000}")
    return "\n".join(lines).encode()


def start_server(data_dir: str) -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, os.path.dirname(__file__))
    from ingest import start_server as start

    return start(data_dir)


def load(url: str) -> float:
    """Seconds to write every row (no_sync, two connections) and see it queryable."""
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=300) as client:
        def send(batch: int) -> None:
            response = client.post("/api/v3/write_lp", content=make_batch(batch),
                                   params={"db": "bench", "no_sync": "true"})
            if response.status_code != 204:
                raise RuntimeError(f"write failed: {response.status_code} {response.text[:200]}")

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(send, range(ROWS // LINES_PER_BATCH)))
        while sql(client, "SELECT count(*) AS n FROM cpu")[0]["n"] < ROWS:
            time.sleep(0.05)
    return time.perf_counter() - started


def sql(client: httpx.Client, query: str) -> list[dict]:
    response = client.post("/api/v3/query_sql", json={"db": "bench", "q": query})
    if response.status_code != 200:
        raise RuntimeError(f"query failed: {response.status_code} {response.text[:300]}")
    return response.json()


def measure(client: httpx.Client, query: str, rounds: int) -> dict:
    """Median HTTP round trip and server-side time of `rounds` runs, in milliseconds."""
    for _ in range(3):
        sql(client, query)
    round_trips = []
    for _ in range(rounds):
        started = time.perf_counter()
        sql(client, query)
        round_trips.append(time.perf_counter() - started)
    escaped = query.replace("'", "''")
    server = sql(client, "SELECT arrow_cast(end2end_duration, 'Int64') AS ns FROM system.queries "
                         f"WHERE query_text = '{escaped}' ORDER BY id DESC LIMIT {rounds}")
    return {"server_ms": statistics.median(r["ns"] for r in server) / 1e6,
            "http_ms": statistics.median(round_trips) * 1e3, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="runs of each cache query")
    parser.add_argument("--scan-rounds", type=int, default=5, help="runs of each plain query")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory() as data_dir:
        process, url = start_server(data_dir)
        try:
            results["load_s"] = load(url)
            with httpx.Client(base_url=url, timeout=300) as client:
                started = time.perf_counter()
                created = client.post("/api/v3/configure/last_cache",
                                      json={"db": "bench", "table": "cpu"})
                if created.status_code != 201:
                    raise RuntimeError(f"cache not created: {created.text}")
                results["create_with_backfill_s"] = time.perf_counter() - started
                one = sql(client, QUERIES["one key, cache"])
                if one != sql(client, QUERIES["one key, scan"]):
                    raise RuntimeError("the cache and the scan disagree")
                if len(sql(client, QUERIES["all keys, cache"])) != SERIES:
                    raise RuntimeError("the cache does not hold every series")
                for name, query in QUERIES.items():
                    rounds = args.scan_rounds if "scan" in name else args.rounds
                    results[name] = measure(client, query, rounds)
        finally:
            process.terminate()
            process.wait(60)
    for scope in ("one key", "all keys"):
        cache, scan = results[f"{scope}, cache"], results[f"{scope}, scan"]
        results[f"{scope}, speed-up"] = {"server": scan["server_ms"] / cache["server_ms"],
                                         "http": scan["http_ms"] / cache["http_ms"]}
    results["setup"] = {"rows": ROWS, "series": SERIES, "cpus": os.cpu_count(),
                        "rounds": args.rounds, "scan_rounds": args.scan_rounds}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"load {ROWS:,} rows: {results['load_s']:.1f}s; create cache with back-fill: "
          f"{results['create_with_backfill_s'] * 1e3:.0f} ms")
    print(f"{'query':18s} {'server ms':>10s} {'http ms':>10s}")
    for name in QUERIES:
        r = results[name]
        print(f"{name:18s} {r['server_ms']:10.3f} {r['http_ms']:10.3f}")
    for scope in ("one key", "all keys"):
        ratio = results[f"{scope}, speed-up"]
        print(f"{scope}: cache is {ratio['server']:,.0f}x faster server-side, "
              f"{ratio['http']:,.0f}x over HTTP")


if __name__ == "__main__":
    main()
