"""Processing-engine benchmark, against a real server process.

1. Trigger activation latency: WAL flush done -> `process_writes` entered, p50 and p99 over
   1,000 flushes at `--wal-flush-interval 10ms` (one small sync write per flush; the engine
   records the latency of every activation in system.processing_engine_trigger_stats).
2. Request-trigger throughput: a trivial `process_request` plugin against the plain `/ping`
   endpoint of the same server, same load (8 keep-alive connections from bench/httpload.py),
   requests/s and p99.

    .venv/bin/python bench/engine.py [--flushes 1000] [--requests 4000] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpload
import httpx
from ingest import start_server


def activation(url: str, flushes: int) -> dict:
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/api/v3/configure/database", json={"db": "bench"})
        created = client.post("/api/v3/configure/processing_engine_trigger", json={
            "db": "bench", "plugin_filename": "noop_writes.py", "trigger_name": "noop",
            "trigger_specification": "table:m", "trigger_settings": {}})
        created.raise_for_status()
        for i in range(flushes):
            response = client.post("/api/v3/write_lp", params={"db": "bench"},
                                   content=f"m v={i} {i + 1}".encode())
            assert response.status_code == 204, response.text
        query = ("SELECT runs, p50_activation_ms, p99_activation_ms FROM "
                 "system.processing_engine_trigger_stats WHERE trigger_name = 'noop'")
        deadline = time.monotonic() + 30
        while True:
            rows = client.post("/api/v3/query_sql", json={"db": "bench", "q": query}).json()
            if rows and rows[0]["runs"] >= flushes or time.monotonic() > deadline:
                return rows[0]
            time.sleep(0.1)


def _median_run(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=4000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plugins = Path(tmp) / "plugins"
        plugins.mkdir()
        (plugins / "noop_writes.py").write_text(
            "def process_writes(influxdb3_local, table_batches, args):\n    pass\n")
        (plugins / "hello.py").write_text(
            "def process_request(influxdb3_local, query_parameters, request_headers,\n"
            "                    request_body, args):\n    return {'hello': 'world'}\n")
        process, url = start_server(str(Path(tmp) / "data"),
                                    "--plugin-dir", str(plugins))
        try:
            results = {"activation": activation(url, args.flushes)}
            httpx.post(f"{url}/api/v3/configure/processing_engine_trigger", json={
                "db": "bench", "plugin_filename": "hello.py", "trigger_name": "hello",
                "trigger_specification": "request:hello",
                "trigger_settings": {}}).raise_for_status()
            host, port = url.removeprefix("http://").split(":")
            httpload.run(host, int(port), "/ping", 400)  # warm up both paths
            httpload.run(host, int(port), "/api/v3/engine/hello", 400)
            # Alternate the two so that drifts of a shared machine hit both alike.
            plains, plugins = [], []
            for _ in range(args.rounds):
                plains.append(httpload.run(host, int(port), "/ping", args.requests))
                plugins.append(httpload.run(host, int(port), "/api/v3/engine/hello",
                                            args.requests))
            results["plain_endpoint"] = _median_run(plains)
            results["request_trigger"] = _median_run(plugins)
            results["request_trigger_ratio"] = statistics.median(
                b["requests_per_s"] / a["requests_per_s"]
                for a, b in zip(plains, plugins, strict=True))
        finally:
            process.terminate()
            process.wait(60)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    a = results["activation"]
    print(f"activation over {a['runs']} flushes: p50 {a['p50_activation_ms']:.3f} ms, "
          f"p99 {a['p99_activation_ms']:.3f} ms")
    for name in ("plain_endpoint", "request_trigger"):
        r = results[name]
        print(f"{name:16s} {r['requests_per_s']:8.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
              f"p99 {r['p99_ms']:.2f} ms")
    ratio = results["request_trigger_ratio"]
    print(f"request trigger / plain endpoint (median of rounds): {ratio:.2f}")


if __name__ == "__main__":
    main()
