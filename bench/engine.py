"""Processing-engine benchmark, against a real server process.

1. Trigger activation latency: WAL flush done -> `process_writes` entered, p50 and p99 over
   1,000 flushes at `--wal-flush-interval 10ms` (one small sync write per flush; the engine
   records the latency of every activation in system.processing_engine_trigger_stats).
2. Request-trigger throughput: a trivial `process_request` plugin against the plain `/ping`
   endpoint of the same server, same load (8 keep-alive connections from bench/httpload.py),
   requests/s and p99.
3. Keeping up with ingest (`--keep-up`): a write trigger summing one field over its table
   batches (row by row, as plugins written for InfluxDB 3 do) while 10,000-line batches arrive
   at `--rate` lines/s; it keeps up when no event is dropped and the sums catch up with the
   writes within a second of the last one.
4. Worker processes (`--plugin-isolation process`): start-up time of a worker from the fork
   server (to its first answer), and the memory one costs (USS/PSS of a worker whose trigger
   has run, with the spares the pool keeps).

Each of 1-3 runs once per isolation mode (`--isolation process,thread`).

    .venv/bin/python bench/engine.py [--flushes 1000] [--requests 4000] [--isolation MODES]
        [--keep-up] [--rate 500000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpload
import httpx
import psutil
from ingest import LINES_PER_BATCH, make_batch, start_server

SUMMER = """
def process_writes(influxdb3_local, table_batches, args):
    total, rows = 0.0, 0
    for batch in table_batches:
        for row in batch["rows"]:
            total += row["usage_user"]
            rows += 1
    influxdb3_local.write(LineBuilder("sums").float64_field("total", total)
                          .int64_field("rows", rows))
"""


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


def keep_up(url: str, rate: int, seconds: float) -> dict:
    """Ingest at `rate` lines/s for `seconds` with the SUMMER trigger on the table."""
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/api/v3/configure/database", json={"db": "bench"})
        client.post("/api/v3/configure/processing_engine_trigger", json={
            "db": "bench", "plugin_filename": "summer.py", "trigger_name": "summer",
            "trigger_specification": "table:cpu", "trigger_settings": {}}).raise_for_status()
        batches = int(rate * seconds / LINES_PER_BATCH)
        bodies = [make_batch(i) for i in range(batches)]
        interval = LINES_PER_BATCH / rate
        started = time.perf_counter()

        async def paced() -> None:
            # One batch every `interval`, however many are still in flight.
            limits = httpx.Limits(max_connections=8)
            async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
                async def send(body: bytes) -> None:
                    response = await http.post("/api/v3/write_lp", params={"db": "bench"},
                                               content=body)
                    assert response.status_code == 204, response.text

                tasks = []
                for i, body in enumerate(bodies):
                    delay = started + i * interval - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.ensure_future(send(body)))
                await asyncio.gather(*tasks)

        asyncio.run(paced())
        sent_s = time.perf_counter() - started
        written = batches * LINES_PER_BATCH
        query = "SELECT sum(rows) AS n FROM sums"
        deadline = time.monotonic() + 120
        seen = 0
        while time.monotonic() < deadline:
            response = client.post("/api/v3/query_sql", json={"db": "bench", "q": query})
            if response.status_code == 200 and response.json():
                seen = response.json()[0]["n"] or 0
                if seen >= written:
                    break
            time.sleep(0.05)
        lag_s = time.perf_counter() - started - sent_s
        stats = client.post("/api/v3/query_sql", json={"db": "bench", "q": (
            "SELECT runs, errors, dropped_events, mean_duration_ms, mean_cpu_ms FROM "
            "system.processing_engine_trigger_stats WHERE trigger_name = 'summer'")}).json()[0]
    return {"target_lines_per_s": rate, "sent_lines_per_s": written / sent_s,
            "rows_summed": seen, "rows_written": written, "catch_up_after_last_write_s": lag_s,
            "processed_rows_per_s": seen / (sent_s + lag_s), **stats}


def worker_costs(url: str, server_pid: int) -> dict:
    """Memory of the worker processes (the pool's spares and one per enabled trigger)."""
    server = psutil.Process(server_pid)
    # Workers are forked by the fork server (a child of the server) and share its command line.
    workers = [worker for child in server.children()
               if "forkserver" in " ".join(child.cmdline()) for worker in child.children()]
    memory = []
    for worker in workers:
        try:
            full = worker.memory_full_info()
        except psutil.Error:
            continue
        memory.append({"pid": worker.pid, "rss_mib": full.rss / 2**20,
                       "pss_mib": full.pss / 2**20, "uss_mib": full.uss / 2**20})
    return {"workers": len(memory),
            "median_uss_mib": statistics.median(m["uss_mib"] for m in memory) if memory else None,
            "median_pss_mib": statistics.median(m["pss_mib"] for m in memory) if memory else None,
            "median_rss_mib": statistics.median(m["rss_mib"] for m in memory) if memory else None,
            "server_rss_mib": server.memory_info().rss / 2**20}


_START_UP = """
import asyncio, json, sys, tempfile, time
from pathlib import Path
from timewell.engine.cache import PluginCache
from timewell.engine.logs import RunLogger
from timewell.engine.worker_execution import WorkerBinding, WorkerExecution
from timewell.engine.worker_pool import WorkerPool

async def measure(count):
    with tempfile.TemporaryDirectory() as tmp:
        plugin = Path(tmp) / "noop.py"
        plugin.write_text("def process_writes(influxdb3_local, table_batches, args):\\n"
                          "    pass\\n")
        pool = WorkerPool(1 << 30, spares=0)
        await pool.start()
        times = []
        for i in range(count + 1):
            execution = WorkerExecution(pool, WorkerBinding("db", f"t{i}", str(plugin),
                                                            f"db_t{i}"),
                                        None, PluginCache(), RunLogger(None, "db", "t"), "1GiB")
            started = time.perf_counter()
            await execution.check("process_writes")
            times.append(time.perf_counter() - started)
            await execution.stop(0)
        await pool.stop()
        return times[1:]  # the first waits for the fork server's own imports

print(json.dumps(asyncio.run(measure(int(sys.argv[1])))))
"""


def worker_start_up(count: int = 20) -> dict:
    """Start workers one after another from the fork server (no spares) and time each from
    asking for it to its first answer (bind, load a trivial plugin, check its function). In a
    `python -c` process, as the server's `python -m timewell` is: multiprocessing re-imports
    a main *file* (this one) in every worker it starts, which a server never pays."""
    done = subprocess.run([sys.executable, "-c", _START_UP, str(count)], check=True,
                          capture_output=True, text=True)
    times = sorted(json.loads(done.stdout))
    return {"starts": len(times), "p50_ms": 1000 * times[len(times) // 2],
            "max_ms": 1000 * times[-1]}


def _median_run(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=4000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--isolation", default="process,thread",
                        help="comma-separated --plugin-isolation modes to measure")
    parser.add_argument("--keep-up", action="store_true",
                        help="also measure a summing write trigger under ingest")
    parser.add_argument("--rate", type=int, default=500_000, help="lines/s for --keep-up")
    parser.add_argument("--seconds", type=float, default=10.0, help="ingest time, --keep-up")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {mode: measure_mode(mode, args) for mode in args.isolation.split(",")}
    if "process" in results:
        results["process"]["worker_start_up"] = worker_start_up()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for mode, result in results.items():
        print(f"--plugin-isolation {mode}")
        a = result["activation"]
        print(f"  activation over {a['runs']} flushes: p50 {a['p50_activation_ms']:.3f} ms, "
              f"p99 {a['p99_activation_ms']:.3f} ms")
        for name in ("plain_endpoint", "request_trigger"):
            r = result[name]
            print(f"  {name:16s} {r['requests_per_s']:8.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                  f"p99 {r['p99_ms']:.2f} ms")
        ratio = result["request_trigger_ratio"]
        print(f"  request trigger / plain endpoint (median of rounds): {ratio:.2f}")
        if "keep_up" in result:
            k = result["keep_up"]
            print(f"  keep-up: sent {k['sent_lines_per_s']:,.0f} lines/s, summed "
                  f"{k['rows_summed']:,} of {k['rows_written']:,} rows, caught up "
                  f"{k['catch_up_after_last_write_s']:.2f} s after the last write "
                  f"({k['processed_rows_per_s']:,.0f} rows/s), {k['dropped_events']} dropped, "
                  f"mean run {k['mean_duration_ms']:.1f} ms")
        if "memory" in result:
            m = result["memory"]
            print(f"  workers: {m['workers']}, median USS {m['median_uss_mib']:.1f} MiB, PSS "
                  f"{m['median_pss_mib']:.1f} MiB, RSS {m['median_rss_mib']:.1f} MiB; server "
                  f"RSS {m['server_rss_mib']:.0f} MiB")
        if "worker_start_up" in result:
            w = result["worker_start_up"]
            print(f"  worker start-up (fork server to first answer): p50 {w['p50_ms']:.1f} ms, "
                  f"max {w['max_ms']:.1f} ms over {w['starts']}")


def measure_mode(mode: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        plugins = Path(tmp) / "plugins"
        plugins.mkdir()
        (plugins / "noop_writes.py").write_text(
            "def process_writes(influxdb3_local, table_batches, args):\n    pass\n")
        (plugins / "hello.py").write_text(
            "def process_request(influxdb3_local, query_parameters, request_headers,\n"
            "                    request_body, args):\n    return {'hello': 'world'}\n")
        (plugins / "summer.py").write_text(SUMMER)
        process, url = start_server(str(Path(tmp) / "data"), "--plugin-dir", str(plugins),
                                    "--plugin-isolation", mode)
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
            plains, plugin_runs = [], []
            for _ in range(args.rounds):
                plains.append(httpload.run(host, int(port), "/ping", args.requests))
                plugin_runs.append(httpload.run(host, int(port), "/api/v3/engine/hello",
                                                args.requests))
            results["plain_endpoint"] = _median_run(plains)
            results["request_trigger"] = _median_run(plugin_runs)
            results["request_trigger_ratio"] = statistics.median(
                b["requests_per_s"] / a["requests_per_s"]
                for a, b in zip(plains, plugin_runs, strict=True))
            if mode == "process":
                results["memory"] = worker_costs(url, process.pid)
            if args.keep_up:
                results["keep_up"] = keep_up(url, args.rate, args.seconds)
        finally:
            process.terminate()
            process.wait(60)
    return results


if __name__ == "__main__":
    main()
