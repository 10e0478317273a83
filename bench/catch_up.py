"""Catch-up benchmark: how fast a write trigger that fell behind works through the WAL.

A `table:cpu` trigger whose plugin sums one field over its table batches (row by row, as
plugins written for InfluxDB 3 do) and writes the running count to `progress`. Its first run
sleeps `--sleep` seconds, while ROWS rows (10,000-line batches, 1,000 series) are written: the
trigger is then ROWS rows behind, held in the WAL by its cursor. Measured: the time from the
end of the sleep to the moment the plugin has seen every row, and the rows per second.

    .venv/bin/python bench/catch_up.py [--rows 1000000] [--sleep 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import start_server  # noqa: E402

DB = "catchup"
PLUGIN = """
import time

SLEPT = []


def process_writes(influxdb3_local, table_batches, args=None):
    if not SLEPT:
        SLEPT.append(time.time())
        time.sleep(float(args["sleep"]))
    n = 0
    total = 0.0
    for batch in table_batches:
        for row in batch["rows"]:
            total += row["v"]
            n += 1
    line = LineBuilder("progress").int64_field("n", n).float64_field("sum", total)
    influxdb3_local.write(line)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sleep", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        plugins = Path(root) / "plugins"
        plugins.mkdir()
        (plugins / "summer.py").write_text(PLUGIN)
        process, url = start_server(str(Path(root) / "data"), "--plugin-dir", str(plugins))
        try:
            client = httpx.Client(base_url=url, timeout=120)
            base = 1_700_000_000_000_000_000
            client.post("/api/v3/write_lp", params={"db": DB, "precision": "ns"},
                        content=f"cpu,host=h0 v=0 {base}").raise_for_status()
            client.post("/api/v3/configure/processing_engine_trigger", json={
                "db": DB, "trigger_name": "summer", "plugin_filename": "summer.py",
                "trigger_specification": "table:cpu", "trigger_arguments": {
                    "sleep": str(args.sleep)}}).raise_for_status()
            client.post("/api/v3/write_lp", params={"db": DB, "precision": "ns"},
                        content=f"cpu,host=h0 v=0 {base + 1}").raise_for_status()  # wakes it
            started = time.monotonic()
            written = 0
            for first in range(0, args.rows, 10_000):
                body = "\n".join(f"cpu,host=h{i % 1000} v=1 {base + 10 + i}"
                                 for i in range(first, min(args.rows, first + 10_000)))
                client.post("/api/v3/write_lp", params={"db": DB, "precision": "ns"},
                            content=body).raise_for_status()
                written += min(10_000, args.rows - first)
            load_s = time.monotonic() - started
            awake = started + args.sleep
            if time.monotonic() > awake:
                raise SystemExit("the load took longer than the sleep: raise --sleep")
            target = written + 1  # and the row that woke it (the first came before it)
            while True:
                response = client.post("/api/v3/query_sql", json={
                    "db": DB, "q": "SELECT coalesce(sum(n), 0) AS n FROM progress"})
                if response.status_code == 200 and response.json()[0]["n"] >= target:
                    break  # (before the first run's write the table does not exist: 400)
                time.sleep(0.05)
            caught_up_s = time.monotonic() - awake
        finally:
            process.terminate()
            process.wait(60)
    result = {"rows": written, "load_s": load_s, "catch_up_s": caught_up_s,
              "rows_per_s": written / caught_up_s, "cpus": os.cpu_count(),
              "load_average": os.getloadavg()}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{written:,} rows behind (loaded in {load_s:.1f} s): caught up in "
              f"{caught_up_s:.1f} s after the plugin woke, {result['rows_per_s']:,.0f} rows/s "
              f"(load average {result['load_average'][0]:.1f})")


if __name__ == "__main__":
    main()
