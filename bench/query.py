"""Query benchmark: dashboard queries against InfluxDB 1.x and timewell on the same data.

The same points go into a local InfluxDB 1.x (`influxd`, through its `/write` endpoint) and
into a timewell server process (`/api/v3/write_lp`), database `bench`: POINTS points (default
2 M) over 1,000 series (`cpu,host=h0..h999,region=r0..r9`, region = host % 10; fields
`usage_user`, `usage_system` floats and `idle` integer), 10 s apart, the last ones at the time
of the load (2 M points: about 5.6 hours), in 10,000-line batches over 8 connections.

timewell is measured in two states, each a server process of its own:

- buffer:  everything still in the in-memory buffer (the server runs with a snapshot size and
           a memory threshold no load reaches; `system.parquet_files` is checked to be empty);
- parquet: everything in Parquet files (a copy of the buffer state's data directory is started
           with `--wal-snapshot-size 1`, so the replayed WAL is snapshotted at once; the files'
           row counts must add up to POINTS and the server's buffer must be empty).

Every query is sent as the same InfluxQL text to both servers (`GET /query?db=bench&q=...`) and
timed end to end over HTTP from this process with a keep-alive httpx client: 3 warm-ups, then
RUNS timed runs; median and p90. Queries that name a host or a region take it from a fixed
seeded list, a different one each run. Time windows are written as
`time > now() - (W + age)s AND time <= now() - (age)s`, age being the whole seconds since the
newest point: the window is always the data's last W seconds, wherever the clock stands (a
reused `--data-dir`, a long run), and the boundaries lie 0-1 s after a point's time, so both
servers select the same points. timewell also gets `SELECT 1` and a one-key `last_cache()`
lookup (a last value cache on `cpu` keyed by host) through `/api/v3/query_sql`.

Server-side figures: timewell's `system.queries.end2end_duration` of the timed runs (planning
and execution, no HTTP, no rendering), InfluxDB 1.x's mean from the `queryExecutor` counters of
`/debug/vars`. Before timing, the answers of both servers to each InfluxQL query are compared
(numbers to a relative 1e-9, times to a second: a selector's time can be the window's start,
taken from now()); differences are printed, not fatal.

    .venv/bin/python bench/query.py [--points 2000000] [--runs 30] [--states buffer,parquet]
        [--data-dir DIR] [--source-dir OTHER_CHECKOUT/src] [--set dashboard|grafana] [--json]

`--json` prints the results as JSON (the tables then go to stderr). `--data-dir` keeps both
servers' files in DIR and reuses what an earlier run with the same `--points` loaded there (no
load, no snapshot); `--states` measures one state only. The ratio is InfluxDB 1.x's median over
timewell's (above 1: timewell is faster); InfluxDB 1.x is measured once, in the first state's
phase, query by query just before timewell.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import json
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import run_load, server_module, start_influxdb1, start_server  # noqa: E402

DB = "bench"
SERIES = 1_000
LINES_PER_BATCH = 10_000
STEP_NS = 10 * 1_000_000_000
WARMUPS = 3
SEED = 42
HOSTS = [f"h{n}" for n in random.Random(SEED).sample(range(SERIES), 64)]
REGIONS = [f"r{n}" for n in random.Random(SEED + 1).choices(range(10), k=64)]
BUFFER_ARGS = ("--wal-snapshot-size", "100000000", "--force-snapshot-mem-threshold", "16GiB")
PARQUET_ARGS = ("--wal-snapshot-size", "1")
META = "bench-query.json"


# -- data ---------------------------------------------------------------------------------


def make_batch(number: int, steps: int, end_ns: int) -> bytes:
    """Batch `number`: LINES_PER_BATCH / SERIES consecutive time steps of every series."""
    per_batch = LINES_PER_BATCH // SERIES
    lines = []
    for step in range(number * per_batch, min((number + 1) * per_batch, steps)):
        ts = end_ns - (steps - 1 - step) * STEP_NS
        for s in range(SERIES):
            user = (s * 7919 + step * 104729) % 10_000
            system = (s * 31 + step * 17) % 5_000
            lines.append(f"cpu,host=h{s},region=r{s % 10} "
                         f"usage_user={user // 100}.{user % 100:02d},"
                         f"usage_system={system // 100}.{system % 100:02d},"
                         f"idle={(s * 3 + step) % 100}i {ts}")
    return "\n".join(lines).encode()


# -- queries ------------------------------------------------------------------------------


def window(seconds: int, age: int) -> str:
    return f"time > now() - {seconds + age}s AND time <= now() - {age}s"


@dataclass(frozen=True)
class Query:
    name: str
    kind: str  # "influxql": both servers, `/query`; "sql": timewell only, `/api/v3/query_sql`
    text: Callable[[int, int], str]  # (run number, age in seconds) -> query text


QUERIES = [
    Query("panel: mean 1h by 1m, one host", "influxql", lambda i, age: (
        f"SELECT mean(usage_user) FROM cpu WHERE host='{HOSTS[i % 64]}' AND {window(3600, age)} "
        "GROUP BY time(1m)")),
    Query("raw: one host, 10m, LIMIT 100", "influxql", lambda i, age: (
        f"SELECT * FROM cpu WHERE host='{HOSTS[i % 64]}' AND {window(600, age)} LIMIT 100")),
    Query("SHOW TAG VALUES host", "influxql", lambda i, age: "SHOW TAG VALUES WITH KEY = host"),
    Query("last per host (all data)", "influxql", lambda i, age: (
        "SELECT last(usage_user) FROM cpu GROUP BY host")),
    Query("max/min of a region, 1h", "influxql", lambda i, age: (
        f"SELECT max(usage_user), min(usage_user) FROM cpu WHERE region='{REGIONS[i % 64]}' "
        f"AND {window(3600, age)}")),
    Query("count (all data)", "influxql", lambda i, age: "SELECT count(usage_user) FROM cpu"),
    Query("mean by host (all data)", "influxql", lambda i, age: (
        "SELECT mean(usage_user) FROM cpu GROUP BY host")),
    Query("SQL SELECT 1", "sql", lambda i, age: "SELECT 1"),
    Query("SQL last_cache() one host", "sql", lambda i, age: (
        f"SELECT * FROM last_cache('cpu') WHERE host = '{HOSTS[i % 64]}'")),
]


def grafana_filter(seconds: int, age: int) -> str:
    """Grafana's $timeFilter (it writes epoch milliseconds; written here relative to now() as
    in the other queries, so that both servers select the same points)."""
    return window(seconds, age)


# The shapes Grafana's InfluxQL query editor generates for a dashboard over this data: regex
# template variables, GROUP BY time($__interval) fill(null), counters through
# non_negative_derivative, a table panel, a template variable's SHOW TAG VALUES.
GRAFANA = [
    Query("grafana: one host (regex), 1h by 10s", "influxql", lambda i, age: (
        f'SELECT mean("usage_user") FROM "cpu" WHERE ("host" =~ /^{HOSTS[i % 64]}$/) AND '
        f'{grafana_filter(3600, age)} GROUP BY time(10s) fill(null)')),
    Query("grafana: three hosts by host, 1h by 1m", "influxql", lambda i, age: (
        f'SELECT mean("usage_user") FROM "cpu" WHERE ("host" =~ /^({HOSTS[i % 64]}|'
        f'{HOSTS[(i + 1) % 64]}|{HOSTS[(i + 2) % 64]})$/) AND {grafana_filter(3600, age)} '
        'GROUP BY time(1m), "host" fill(null)')),
    Query("grafana: non_negative_derivative, 1h by 1m", "influxql", lambda i, age: (
        f'SELECT non_negative_derivative(mean("idle"), 1s) FROM "cpu" WHERE ("host" = '
        f"'{HOSTS[i % 64]}') AND {grafana_filter(3600, age)} GROUP BY time(1m) fill(null)")),
    Query("grafana: max of a region by host, 1h by 5m", "influxql", lambda i, age: (
        f'SELECT max("usage_system") FROM "cpu" WHERE ("region" = \'{REGIONS[i % 64]}\') AND '
        f'{grafana_filter(3600, age)} GROUP BY time(5m), "host" fill(none)')),
    Query("grafana: last per host, 6h", "influxql", lambda i, age: (
        f'SELECT last("usage_user") FROM "cpu" WHERE {grafana_filter(6 * 3600, age)} '
        'GROUP BY "host"')),
    Query("grafana: table, one host, 1h", "influxql", lambda i, age: (
        f'SELECT "usage_user", "usage_system" FROM "cpu" WHERE ("host" = \'{HOSTS[i % 64]}\') '
        f'AND {grafana_filter(3600, age)} ORDER BY time DESC LIMIT 50')),
    Query("grafana: template variable", "influxql", lambda i, age: (
        'SHOW TAG VALUES FROM "cpu" WITH KEY = "region"')),
]


def send(client: httpx.Client, kind: str, text: str) -> httpx.Response:
    if kind == "influxql":
        return client.get("/query", params={"db": DB, "q": text})
    return client.post("/api/v3/query_sql", json={"db": DB, "q": text})


def failure(response: httpx.Response) -> str | None:
    """Why the answer is an error (None: it is not)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if b'"error"' in response.content:
        body = response.json()
        for result in body.get("results", []) if isinstance(body, dict) else []:
            if "error" in result:
                return result["error"][:300]
    return None


def sql(client: httpx.Client, text: str) -> list[dict]:
    response = send(client, "sql", text)
    if response.status_code != 200:
        raise RuntimeError(f"{text}: {response.status_code} {response.text[:300]}")
    return response.json()


def influxql_value(client: httpx.Client, text: str):
    """The first value of the first row of a one-statement InfluxQL answer."""
    response = send(client, "influxql", text)
    if (error := failure(response)) is not None:
        raise RuntimeError(f"{text}: {error}")
    series = response.json()["results"][0].get("series")
    return series[0]["values"][0][1] if series else None


class Clock:
    def __init__(self, end_ns: int) -> None:
        self.end_ns = end_ns

    def age(self) -> int:
        return max(0, (time.time_ns() - self.end_ns) // 1_000_000_000)


# -- measurement --------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def influx_counters(client: httpx.Client) -> tuple[int, int] | None:
    """InfluxDB 1.x's (queries executed, total query ns) from /debug/vars."""
    try:
        values = client.get("/debug/vars").json()["queryExecutor"]["values"]
        return values["queriesExecuted"], values["queryDurationNs"]
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def measure(client: httpx.Client, query: Query, clock: Clock, runs: int,
            server: str) -> dict:
    """Milliseconds of `runs` timed runs after WARMUPS; server-side figures where the server
    gives them (`server`: "influxdb1" or "timewell")."""
    try:
        for i in range(WARMUPS):
            response = send(client, query.kind, query.text(runs + i, clock.age()))
            if (error := failure(response)) is not None:
                return {"error": error}
        before = (influx_counters(client) if server == "influxdb1"
                  else sql(client, "SELECT max(id) AS id FROM system.queries")[0]["id"])
        times, texts = [], set()
        load = os.getloadavg()[0]
        for i in range(runs):
            text = query.text(i, clock.age())
            texts.add(text)
            started = time.perf_counter()
            response = send(client, query.kind, text)
            elapsed = time.perf_counter() - started
            if (error := failure(response)) is not None:
                return {"error": error}
            times.append(elapsed * 1e3)
    except httpx.HTTPError as e:
        return {"error": f"{type(e).__name__}: {e}"}
    result = {"median_ms": statistics.median(times), "p90_ms": percentile(times, 0.9),
              "min_ms": min(times), "runs": len(times), "load_average_1m": load,
              "response_bytes": len(response.content)}
    if server == "influxdb1":
        after = influx_counters(client)
        if before is not None and after is not None and after[0] > before[0]:
            result["server_mean_ms"] = (after[1] - before[1]) / (after[0] - before[0]) / 1e6
            result["server_queries_counted"] = after[0] - before[0]
    else:
        rows = sql(client, "SELECT query_text, arrow_cast(end2end_duration, 'Int64') AS ns "
                           f"FROM system.queries WHERE id > {before or 0} AND NOT running")
        server_ns = [r["ns"] for r in rows if r["query_text"] in texts and r["ns"] is not None]
        if server_ns:
            result["server_median_ms"] = statistics.median(server_ns) / 1e6
            result["server_mean_ms"] = statistics.fmean(server_ns) / 1e6
            result["server_queries_counted"] = len(server_ns)
    return result


# -- answers ------------------------------------------------------------------------------


RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")


def rfc3339_ns(text: str) -> int | None:
    match = RFC3339.fullmatch(text)
    if match is None:
        return None
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((match.group(2) or "").ljust(9, "0"))


def differences(a, b, path: str = "", out: list | None = None, limit: int = 5) -> list[str]:
    """Where two JSON answers differ (numbers to a relative 1e-9, 50 and 50.0 equal; times
    in RFC 3339 to a second)."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    numbers = (int, float)
    if (isinstance(a, numbers) and isinstance(b, numbers)
            and not isinstance(a, bool) and not isinstance(b, bool)):
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
            out.append(f"{path}: {a!r} vs {b!r}")
    elif isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            out.append(f"{path}: keys {sorted(a)} vs {sorted(b)}")
        for key in a.keys() & b.keys():
            differences(a[key], b[key], f"{path}.{key}", out, limit)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items vs {len(b)}")
        for n, (x, y) in enumerate(zip(a, b, strict=False)):
            differences(x, y, f"{path}[{n}]", out, limit)
    elif isinstance(a, str) and isinstance(b, str) and a != b:
        ta, tb = rfc3339_ns(a), rfc3339_ns(b)
        # A time taken from now() (a selector's time is the window's start when there are
        # several) differs by the moments the two servers ran the query; points are whole
        # seconds apart.
        if ta is None or tb is None or abs(ta - tb) >= 1_000_000_000:
            out.append(f"{path}: {a[:120]!r} vs {b[:120]!r}")
    elif a != b:
        out.append(f"{path}: {str(a)[:120]!r} vs {str(b)[:120]!r}")
    return out


def compare(influx: httpx.Client, timewell: httpx.Client, clock: Clock) -> list[dict]:
    """Differences between the two servers' answers to every InfluxQL query (three texts
    each; a text whose answers differ is asked again, twice, in case a minute or second
    turned between the two requests)."""
    found = []
    for query in QUERIES:
        if query.kind != "influxql":
            continue
        for i in range(3):
            for _attempt in range(3):
                text = query.text(i, clock.age())
                answers = [send(client, "influxql", text) for client in (influx, timewell)]
                errors = [failure(r) for r in answers]
                if any(errors):
                    diff = [f"influxdb1 error: {errors[0]}", f"timewell error: {errors[1]}"]
                else:
                    diff = differences(*(r.json()["results"] for r in answers))
                if not diff:
                    break
            if diff:
                found.append({"query": query.name, "text": text, "differences": diff})
            if query.text(0, 0) == query.text(1, 0):
                break  # the same text every run: once is enough
    return found


# -- servers ------------------------------------------------------------------------------


def wait_quiet(pid: int, timeout: float = 180) -> float:
    """Seconds until process `pid` uses under 5% of a core over a second (background
    compactions after a load), at most `timeout`."""
    started = time.perf_counter()
    process = psutil.Process(pid)
    process.cpu_percent()
    while time.perf_counter() - started < timeout:
        if process.cpu_percent(interval=1.0) < 5:
            break
    return time.perf_counter() - started


def metric(url: str, name: str) -> float | None:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def stop(process) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(120)
        except Exception:
            process.kill()
            process.wait(30)


def load(url: str, bodies: list[bytes], influxdb1: bool) -> float:
    started = time.perf_counter()
    asyncio.run(run_load(url, bodies, False, influxdb1))
    return time.perf_counter() - started


def check_buffer_state(client: httpx.Client, points: int) -> dict:
    files = sql(client, "SELECT count(*) AS n FROM system.parquet_files")[0]["n"]
    rows = sql(client, "SELECT count(*) AS n FROM cpu")[0]["n"]
    if files != 0 or rows != points:
        raise RuntimeError(f"buffer state: {files} Parquet files, {rows} rows (want 0, {points})")
    return {"parquet_files": files, "rows": rows}


def wait_parquet_state(client: httpx.Client, url: str, points: int,
                       timeout: float = 900) -> dict:
    started = time.perf_counter()
    while True:
        row = sql(client, "SELECT count(*) AS files, sum(row_count) AS rows "
                          "FROM system.parquet_files")[0]
        buffered = metric(url, "timewell_buffer_bytes")
        if row.get("rows") == points and buffered == 0:
            break
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"parquet state not reached: {row}, buffer {buffered} bytes")
        time.sleep(1)
    rows = sql(client, "SELECT count(*) AS n FROM cpu")[0]["n"]
    if rows != points:
        raise RuntimeError(f"parquet state: {rows} rows counted, want {points}")
    return {"parquet_files": row["files"], "parquet_rows": row["rows"], "buffer_bytes": buffered,
            "rows": rows, "wait_s": time.perf_counter() - started}


def create_last_cache(client: httpx.Client) -> None:
    response = client.post("/api/v3/configure/last_cache",
                           json={"db": DB, "table": "cpu", "key_columns": ["host"]})
    if response.status_code not in (200, 201):
        raise RuntimeError(f"last cache not created: {response.status_code} {response.text}")
    if len(sql(client, QUERIES[-1].text(0, 0))) != 1:
        raise RuntimeError("the last value cache does not answer one row for one host")


# -- the run ------------------------------------------------------------------------------


def run(args, root: Path, results: dict) -> None:
    meta_path = root / META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta and meta.get("points") != args.points:
        raise SystemExit(f"{root} holds {meta.get('points')} points, not {args.points}: "
                         "use another --data-dir")
    if not meta:
        now = time.time_ns()
        meta = {"points": args.points, "end_ns": now - now % STEP_NS}
    clock = Clock(meta["end_ns"])
    steps = args.points // SERIES

    def save() -> None:
        meta_path.write_text(json.dumps(meta))

    bodies: list[bytes] = []

    def batches() -> list[bytes]:
        if not bodies:
            count = -(-args.points // LINES_PER_BATCH)
            bodies.extend(make_batch(n, steps, meta["end_ns"]) for n in range(count))
        return bodies

    influx_process = timewell_process = None
    setup = results["setup"]
    try:
        influx_dir = root / "influxdb1"
        influx_dir.mkdir(exist_ok=True)
        influx_process, influx_url = start_influxdb1(str(influx_dir))
        influx = httpx.Client(base_url=influx_url, timeout=600)
        if not meta.get("influxdb1_loaded"):
            setup["influxdb1_load_s"] = load(influx_url, batches(), True)
            meta["influxdb1_loaded"] = True
            save()
        counted = influxql_value(influx, "SELECT count(usage_user) FROM cpu")
        if counted != args.points:
            raise RuntimeError(f"InfluxDB 1.x counts {counted} points, want {args.points}")
        influx_measured = False
        for state in args.states:
            state_dir = root / f"timewell-{state}"
            if state == "parquet" and not meta.get("parquet_ready"):
                buffer_dir = root / "timewell-buffer"
                if not meta.get("timewell_loaded"):  # load the buffer state's directory
                    timewell_process, timewell_url = start_server(
                        str(buffer_dir), *BUFFER_ARGS, source_dir=args.source_dir)
                    setup["timewell_load_s"] = load(timewell_url, batches(), False)
                    meta["timewell_loaded"] = True
                    save()
                    stop(timewell_process)
                shutil.rmtree(state_dir, ignore_errors=True)
                shutil.copytree(buffer_dir, state_dir)
            timewell_process, timewell_url = start_server(
                str(state_dir), *(BUFFER_ARGS if state == "buffer" else PARQUET_ARGS),
                source_dir=args.source_dir)
            timewell = httpx.Client(base_url=timewell_url, timeout=600)
            phase: dict = {"load_average_start": os.getloadavg()}
            if state == "buffer":
                if not meta.get("timewell_loaded"):
                    setup["timewell_load_s"] = load(timewell_url, batches(), False)
                    meta["timewell_loaded"] = True
                    save()
                phase["check"] = check_buffer_state(timewell, args.points)
            else:
                phase["check"] = wait_parquet_state(timewell, timewell_url, args.points)
                meta["parquet_ready"] = True
                save()
            bodies.clear()
            phase["quiet_wait_s"] = {
                "influxdb1": wait_quiet(influx_process.pid),
                "timewell": wait_quiet(timewell_process.pid)}
            create_last_cache(timewell)
            print(f"[{state}] {phase['check']}; comparing answers", file=sys.stderr)
            phase["differences"] = compare(influx, timewell, clock)
            for diff in phase["differences"]:
                print(f"[{state}] answers differ: {diff['query']}: {diff['text']}\n    "
                      + "\n    ".join(diff["differences"]), file=sys.stderr)
            phase["queries"] = {}
            for query in QUERIES:
                if query.kind == "influxql" and not influx_measured:
                    results["influxdb1"][query.name] = measure(
                        influx, query, clock, args.runs, "influxdb1")
                phase["queries"][query.name] = measure(
                    timewell, query, clock, args.runs, "timewell")
                print(f"[{state}] {query.name}: "
                      f"influxdb1 {results['influxdb1'].get(query.name, {}).get('median_ms')}"
                      f" ms, timewell {phase['queries'][query.name].get('median_ms')} ms",
                      file=sys.stderr)
            influx_measured = True
            phase["load_average_end"] = os.getloadavg()
            results["states"][state] = phase
            timewell.close()
            stop(timewell_process)
            timewell_process = None
        influx.close()
    finally:
        stop(timewell_process)
        stop(influx_process)


def ratios(results: dict) -> None:
    influx = results["influxdb1"]
    for phase in results["states"].values():
        found = {}
        for name, figures in phase["queries"].items():
            if "median_ms" in figures and "median_ms" in influx.get(name, {}):
                found[name] = influx[name]["median_ms"] / figures["median_ms"]
        phase["ratios"] = found
        phase["geometric_mean_ratio"] = (math.exp(statistics.fmean(map(math.log, found.values())))
                                         if found else None)


def print_tables(results: dict, states: list[str]) -> None:
    influx = results["influxdb1"]

    def ms(figures: dict, key: str = "median_ms") -> str:
        if "error" in figures:
            return "error"
        value = figures.get(key)
        return "-" if value is None else f"{value:,.1f}" if value >= 10 else f"{value:.2f}"

    head = f"{'query':32s} {'influxdb1':>10s}" + "".join(f" {'tw ' + s:>11s}" for s in states)
    head += "".join(f" {'ratio ' + s:>14s}" for s in states)
    print("median ms over HTTP (ratio: InfluxDB 1.x / timewell, above 1: timewell faster)")
    print(head)
    for query in QUERIES:
        line = f"{query.name:32s} {ms(influx.get(query.name, {})):>10s}"
        for state in states:
            line += f" {ms(results['states'][state]['queries'][query.name]):>11s}"
        for state in states:
            ratio = results["states"][state]["ratios"].get(query.name)
            line += f" {'' if ratio is None else f'{ratio:.2f}x':>14s}"
        print(line)
    line = f"{'geometric mean (InfluxQL)':32s} {'':>10s}" + " " * 12 * len(states)
    for state in states:
        g = results["states"][state]["geometric_mean_ratio"]
        line += f" {'' if g is None else f'{g:.2f}x':>14s}"
    print(line)
    print()
    print("p90 ms over HTTP; server-side ms (InfluxDB 1.x: mean from /debug/vars; timewell: "
          "median of system.queries)")
    head = f"{'query':32s} {'i1 p90':>9s} {'i1 srv':>9s}"
    head += "".join(f" {s[:3] + ' p90':>9s} {s[:3] + ' srv':>9s}" for s in states)
    print(head)
    for query in QUERIES:
        i1 = influx.get(query.name, {})
        line = f"{query.name:32s} {ms(i1, 'p90_ms'):>9s} {ms(i1, 'server_mean_ms'):>9s}"
        for state in states:
            figures = results["states"][state]["queries"][query.name]
            line += f" {ms(figures, 'p90_ms'):>9s} {ms(figures, 'server_median_ms'):>9s}"
        print(line)
    setup = results["setup"]
    loads = [f"{name} {setup[key]:.1f} s" for name, key in
             (("InfluxDB 1.x", "influxdb1_load_s"), ("timewell", "timewell_load_s"))
             if key in setup]
    print(f"\n{setup['points']:,} points, {setup['runs']} runs after {setup['warmups']} "
          f"warm-ups; load {', '.join(loads) or 'reused'}; load average "
          f"{setup['load_average_start'][0]:.2f} at the start, "
          f"{setup['load_average_end'][0]:.2f} at the end")
    for state in states:
        phase = results["states"][state]
        print(f"\n[{state}] {phase['check']}; load average "
              f"{phase['load_average_start'][0]:.2f} at the start, "
              f"{phase['load_average_end'][0]:.2f} at the end; "
              f"{len(phase['differences'])} answer differences")
        for diff in phase["differences"]:
            print(f"  {diff['query']}: {diff['text']}")
            for d in diff["differences"]:
                print(f"    {d}")
        errors = {n: f["error"] for n, f in phase["queries"].items() if "error" in f}
        errors.update({f"influxdb1 {n}": f["error"] for n, f in influx.items() if "error" in f})
        for name, error in errors.items():
            print(f"  error: {name}: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2_000_000,
                        help="points to load (a multiple of 1,000)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each query")
    parser.add_argument("--states", default="buffer,parquet",
                        help="timewell states to measure: buffer, parquet or both")
    parser.add_argument("--data-dir", help="keep the data here and reuse an earlier load")
    parser.add_argument("--source-dir", help="run the server from this timewell source tree")
    parser.add_argument("--set", choices=["dashboard", "grafana"], default="dashboard",
                        help="the queries: the dashboard set, or Grafana's editor's shapes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.set == "grafana":
        QUERIES[:] = GRAFANA + [q for q in QUERIES if q.kind == "sql"]
    args.states = [s.strip() for s in args.states.split(",") if s.strip()]
    if not args.states or set(args.states) - {"buffer", "parquet"}:
        parser.error("--states takes buffer, parquet or buffer,parquet")
    if args.points <= 0 or args.points % SERIES:
        parser.error("--points must be a positive multiple of 1,000")
    results: dict = {
        "setup": {"points": args.points, "series": SERIES, "step_s": STEP_NS // 10**9,
                  "runs": args.runs, "warmups": WARMUPS, "cpus": os.cpu_count(),
                  "server": server_module(args.source_dir),
                  "load_average_start": os.getloadavg()},
        "influxdb1": {}, "states": {}}
    if args.data_dir:
        root = Path(args.data_dir)
        root.mkdir(parents=True, exist_ok=True)
        run(args, root, results)
    else:
        with tempfile.TemporaryDirectory() as temp:
            run(args, Path(temp), results)
    results["setup"]["load_average_end"] = os.getloadavg()
    ratios(results)
    if args.json:  # the tables go to stderr then
        print(json.dumps(results, indent=2))
        with contextlib.redirect_stdout(sys.stderr):
            print_tables(results, args.states)
    else:
        print_tables(results, args.states)


if __name__ == "__main__":
    main()
