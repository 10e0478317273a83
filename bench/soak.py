"""Memory soak benchmark: server RSS over time under writes alone or writes plus queries.

Starts a real server process (`--without-auth`, a temporary data directory,
`--wal-snapshot-size 100`), then for `--duration` seconds two writers send 5,000-line batches
(`cpu,host=h0..h4999 v=<float> <ts>`, one point per series per batch, a new timestamp for every
batch) over keep-alive connections as fast as the server answers. `--mode mixed` adds a query
task sending `SELECT host, avg(v) FROM cpu WHERE host IN ('h1','h2') GROUP BY host` every
50 ms and a schedule trigger (`every:1s`) whose plugin runs the same query through
`influxdb3_local.query`. Then `--idle` seconds without any load (the trigger is disabled).
The server's RSS is sampled every second; a line is printed every 15 s and a summary at the
end.

    .venv/bin/python bench/soak.py [--mode writes|mixed] [--duration 240] [--idle 60] [--json]
        [--wal-flush-interval 10ms] [--no-sync] [--serve-arg=--FLAG ...]

The WAL flush interval defaults to 10ms, as in the other benchmarks: writes are answered
after the flush, and at the server's 1s default two writers could not send more than 10,000
lines/s, far from the ~90,000 rows/s of the load this reproduces (11 M rows in 2 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from ingest import free_port

DB = "soak"
SERIES = 5_000
WRITERS = 2
QUERY = "SELECT host, avg(v) FROM cpu WHERE host IN ('h1','h2') GROUP BY host"
QUERY_INTERVAL_S = 0.05
REPORT_EVERY_S = 15
TRIGGER = "soak_query"
PLUGIN = f'''"""Soak benchmark plugin: the soak query, every fire."""


def process_scheduled_call(influxdb3_local, call_time, args):
    influxdb3_local.query({QUERY!r})
'''
MIB = 2**20


def start_server(data_dir: Path, plugin_dir: Path, log_path: Path, flush_interval: str,
                 extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "timewell", "serve", "--data-dir", str(data_dir),
             "--http-bind", f"127.0.0.1:{port}", "--wal-flush-interval", flush_interval,
             "--wal-snapshot-size", "100", "--plugin-dir", str(plugin_dir),
             "--log-level", "warning", "--without-auth", *extra],
            stdout=log, stderr=subprocess.STDOUT,
        )
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


class RssSampler:
    """The server's RSS every second, in a thread (not disturbed by the load's event loop)."""

    def __init__(self, pid: int, started: float) -> None:
        self._process = psutil.Process(pid)
        self._started = started
        self.samples: list[tuple[float, int]] = []  # (seconds since start, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tick = time.monotonic()
        while not self._stop.is_set():
            try:
                rss = self._process.memory_info().rss
            except psutil.Error:
                return
            self.samples.append((time.monotonic() - self._started, rss))
            tick += 1.0
            self._stop.wait(max(0.0, tick - time.monotonic()))

    def now(self) -> int:
        return self._process.memory_info().rss

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Load:
    def __init__(self, url: str, no_sync: bool) -> None:
        self.url = url
        self.params = {"db": DB, "no_sync": "true" if no_sync else "false"}
        self.rows = 0
        self.batches = 0
        self.write_errors: dict[str, int] = {}
        self.query_errors: dict[str, int] = {}
        self.first_errors: list[str] = []
        self.queries: list[tuple[float, float]] = []  # (completion time, latency s)
        self._last_ts = 0
        self._prefixes = [f"cpu,host=h{i} v=" for i in range(SERIES)]

    def batch(self) -> bytes:
        ts = max(time.time_ns(), self._last_ts + 1)  # strictly increasing across writers
        self._last_ts = ts
        n = self.batches
        self.batches += 1
        return "\n".join(f"{p}{(i * 31 + n) % 1000 / 10} {ts}"
                         for i, p in enumerate(self._prefixes)).encode()

    def _error(self, kind: dict[str, int], key: str, text: str) -> None:
        kind[key] = kind.get(key, 0) + 1
        if len(self.first_errors) < 5:
            self.first_errors.append(text[:300])

    async def write_once(self, client: httpx.AsyncClient) -> bool:
        body = self.batch()
        try:
            response = await client.post("/api/v3/write_lp", params=self.params, content=body)
        except httpx.HTTPError as e:
            self._error(self.write_errors, type(e).__name__, f"write: {e!r}")
            return False
        if response.status_code != 204:
            self._error(self.write_errors, str(response.status_code),
                        f"write {response.status_code}: {response.text}")
            return False
        self.rows += SERIES
        return True

    async def writer(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await self.write_once(client):
                await asyncio.sleep(0.1)

    async def querier(self, client: httpx.AsyncClient, started: float,
                      stop: asyncio.Event) -> None:
        due = time.monotonic()
        while not stop.is_set():
            sent = time.monotonic()
            try:
                response = await client.post("/api/v3/query_sql",
                                             json={"db": DB, "q": QUERY, "format": "json"})
                status = response.status_code
                if status != 200:
                    self._error(self.query_errors, str(status),
                                f"query {status}: {response.text}")
            except httpx.HTTPError as e:
                self._error(self.query_errors, type(e).__name__, f"query: {e!r}")
            else:
                if status == 200:
                    done = time.monotonic()
                    self.queries.append((done - started, done - sent))
            due = max(due + QUERY_INTERVAL_S, time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), due - time.monotonic())


def median_ms(latencies: list[float]) -> float | None:
    return statistics.median(latencies) * 1000 if latencies else None


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


async def run(args: argparse.Namespace, url: str, process: subprocess.Popen,
              out) -> dict:
    mixed = args.mode == "mixed"
    load = Load(url, args.no_sync)
    limits = httpx.Limits(max_connections=WRITERS + 2, max_keepalive_connections=WRITERS + 2)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
        (await client.post("/api/v3/configure/database", json={"db": DB})).raise_for_status()
        if not await load.write_once(client):  # the table exists before the plugin queries it
            raise RuntimeError(f"first write failed: {load.first_errors}")
        if mixed:
            (await client.post("/api/v3/configure/processing_engine_trigger", json={
                "db": DB, "trigger_name": TRIGGER, "plugin_filename": "soak_query.py",
                "trigger_specification": "every:1s",
                "trigger_settings": {"run_async": False, "error_behavior": "log"},
            })).raise_for_status()
        baseline_rss = psutil.Process(process.pid).memory_info().rss
        started = time.monotonic()
        sampler = RssSampler(process.pid, started)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(load.writer(client, stop)) for _ in range(WRITERS)]
        if mixed:
            tasks.append(asyncio.create_task(load.querier(client, started, stop)))
        print(f"{'t s':>5} {'phase':>5} {'rows':>12} {'rows/s':>8} {'RSS MiB':>8} "
              f"{'max MiB':>8} {'q p50 ms':>8}", file=out, flush=True)
        last = (0.0, 0)

        def report(phase: str) -> None:
            nonlocal last
            t = time.monotonic() - started
            window = [lat for done, lat in load.queries if done > last[0]]
            rate = (load.rows - last[1]) / (t - last[0]) if t > last[0] else 0.0
            samples = [rss for at, rss in sampler.samples if at > last[0]] or [sampler.now()]
            print(f"{t:5.0f} {phase:>5} {load.rows:12,} {rate:8,.0f} {samples[-1] / MIB:8.0f} "
                  f"{max(samples) / MIB:8.0f} {fmt_ms(median_ms(window)):>8}",
                  file=out, flush=True)
            last = (t, load.rows)

        end_load = started + args.duration
        while (now := time.monotonic()) < end_load:
            await asyncio.sleep(min(REPORT_EVERY_S, end_load - now))
            report("load")
        stop.set()
        await asyncio.gather(*tasks)  # the requests in flight finish
        load_seconds = time.monotonic() - started
        end_of_load_rss = sampler.now()
        load_samples = list(sampler.samples)
        rows_written = load.rows
        if mixed:
            (await client.post("/api/v3/configure/processing_engine_trigger/disable",
                               json={"db": DB, "trigger_name": TRIGGER})).raise_for_status()
        end_idle = time.monotonic() + args.idle
        while (now := time.monotonic()) < end_idle:
            await asyncio.sleep(min(REPORT_EVERY_S, end_idle - now))
            report("idle")
        after_idle_rss = sampler.now()
        sampler.stop()
        trigger_stats = None
        if mixed:
            response = await client.post("/api/v3/query_sql", json={"db": DB, "q": (
                "SELECT runs, errors, skipped_fires, last_error, p99_duration_ms "
                f"FROM system.processing_engine_trigger_stats WHERE trigger_name = '{TRIGGER}'")})
            trigger_stats = response.json()[0] if response.status_code == 200 else response.text
        memory = await held_memory(client)
        counted = await client.post("/api/v3/query_sql",
                                    json={"db": DB, "q": "SELECT count(*) AS n FROM cpu"})
        rows_counted = counted.json()[0]["n"] if counted.status_code == 200 else counted.text
    latencies = [lat for _, lat in load.queries]
    load_rss = [rss for t, rss in load_samples]
    return {
        "mode": args.mode,
        "peak_rss_load_mib": max(load_rss + [end_of_load_rss]) / MIB,
        "median_rss_load_mib": statistics.median(load_rss or [end_of_load_rss]) / MIB,
        "end_of_load_rss_mib": end_of_load_rss / MIB,
        "after_idle_rss_mib": after_idle_rss / MIB,
        "peak_rss_idle_mib": max((rss for t, rss in sampler.samples if t > load_seconds),
                                 default=after_idle_rss) / MIB,
        "start_rss_mib": baseline_rss / MIB,
        "rows_written": rows_written,
        "rows_counted": rows_counted,
        "load_seconds": load_seconds,
        "rows_per_s": rows_written / load_seconds,
        "queries": len(latencies),
        "query_p50_ms": median_ms(latencies),
        "query_p99_ms": (statistics.quantiles(latencies, n=100)[98] * 1000
                         if len(latencies) >= 2 else None),
        "write_errors": load.write_errors,
        "query_errors": load.query_errors,
        "first_errors": load.first_errors,
        "trigger_stats": trigger_stats,
        "rss_samples": [(round(t, 1), round(rss / MIB, 1)) for t, rss in sampler.samples],
        "held_after_idle_mib": memory,
    }


async def held_memory(client: httpx.AsyncClient) -> dict:
    """What the server says it holds (buffer, Parquet cache), from /metrics, in MiB."""
    text = (await client.get("/metrics")).text
    held = {}
    for line in text.splitlines():
        for name in ("timewell_buffer_bytes", "timewell_parquet_cache_bytes"):
            if line.startswith(name + " "):
                held[name] = round(float(line.split()[1]) / MIB, 1)
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["writes", "mixed"], default="mixed")
    parser.add_argument("--duration", type=float, default=240, help="seconds of load")
    parser.add_argument("--idle", type=float, default=60, help="seconds without load after it")
    parser.add_argument("--wal-flush-interval", default="10ms")
    parser.add_argument("--no-sync", action="store_true", help="write with no_sync=true")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="a flag for the server (repeat), e.g. --serve-arg=--disable-parquet-"
                             "mem-cache")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = sys.stderr if args.json else sys.stdout
    load_average_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plugin_dir = root / "plugins"
        plugin_dir.mkdir()
        (plugin_dir / "soak_query.py").write_text(PLUGIN)
        log_path = root / "server.log"
        process, url = start_server(root / "data", plugin_dir, log_path, args.wal_flush_interval,
                                    args.serve_arg)
        try:
            results = asyncio.run(run(args, url, process, out))
        finally:
            process.terminate()
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
        log_lines = log_path.read_text(errors="replace").splitlines()
    results["server_log_lines"] = len(log_lines)
    results["server_log_head"] = log_lines[:10]
    results["setup"] = {
        "writers": WRITERS, "lines_per_batch": SERIES, "series": SERIES,
        "wal_snapshot_size": 100, "wal_flush_interval": args.wal_flush_interval,
        "no_sync": args.no_sync, "query_interval_ms": QUERY_INTERVAL_S * 1000 if
        args.mode == "mixed" else None, "schedule_trigger": "every:1s" if
        args.mode == "mixed" else None, "duration_s": args.duration, "idle_s": args.idle,
        "cpus": os.cpu_count(), "load_average_start": load_average_start,
        "load_average_end": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    r = results
    counted = r["rows_counted"]
    print(f"\nmode {r['mode']}: {r['rows_written']:,} rows written in {r['load_seconds']:.0f} s "
          f"({r['rows_per_s']:,.0f} rows/s); counted back: "
          f"{f'{counted:,}' if isinstance(counted, int) else counted}")
    print(f"RSS MiB: start {r['start_rss_mib']:.0f}, peak under load {r['peak_rss_load_mib']:.0f}"
          f" (median {r['median_rss_load_mib']:.0f}), end of load {r['end_of_load_rss_mib']:.0f},"
          f" after {args.idle:.0f} s idle "
          f"{r['after_idle_rss_mib']:.0f} (peak while idle {r['peak_rss_idle_mib']:.0f}); "
          f"held after idle (MiB): {r['held_after_idle_mib']}")
    if r["mode"] == "mixed":
        print(f"queries: {r['queries']:,}, p50 {fmt_ms(r['query_p50_ms'])} ms, "
              f"p99 {fmt_ms(r['query_p99_ms'])} ms; schedule trigger: {r['trigger_stats']}")
    errors = {"write": r["write_errors"], "query": r["query_errors"]}
    if any(errors.values()):
        print(f"errors: {errors}; first: {r['first_errors']}")
    if log_lines:
        print(f"server log: {len(log_lines)} line(s), first: {log_lines[:3]}")
    print(f"load average: start {load_average_start[0]:.1f}, "
          f"end {r['setup']['load_average_end'][0]:.1f}")


if __name__ == "__main__":
    main()
