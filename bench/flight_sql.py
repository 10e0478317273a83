"""Flight SQL statement latency through a real client library (ADBC's Flight SQL driver).

Writes 20,000 rows over 10 series, then times `execute` + `fetch_arrow_table` of a small
filtered query (200 times) and of a whole-table query (30 times), after 20 warm-up runs each,
one connection with the `database` call header. Medians in ms.

    .venv/bin/python bench/flight_sql.py [--source-dir OTHER_CHECKOUT/src]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import adbc_driver_flightsql.dbapi as flightsql
import httpx
from ingest import start_server

QUERIES = [("SELECT * FROM cpu WHERE host = 'h1' LIMIT 10", 200), ("SELECT host, v FROM cpu", 30)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", default=None,
                        help="run the server from another checkout's sources (before/after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(f"{tmp}/data", source_dir=args.source_dir)
        try:
            lines = "\n".join(f"cpu,host=h{i % 10} v={i}i {1_700_000_000_000_000_000 + i}"
                              for i in range(20_000))
            httpx.post(f"{url}/api/v3/write_lp", params={"db": "b", "precision": "ns"},
                       content=lines, timeout=60).raise_for_status()
            with flightsql.connect(url.replace("http://", "grpc://"), db_kwargs={
                    "adbc.flight.sql.rpc.call_header.database": "b"}) as connection:
                cursor = connection.cursor()
                for query, runs in QUERIES:
                    for _ in range(20):
                        cursor.execute(query)
                        cursor.fetch_arrow_table()
                    times = []
                    for _ in range(runs):
                        started = time.perf_counter()
                        cursor.execute(query)
                        table = cursor.fetch_arrow_table()
                        times.append(time.perf_counter() - started)
                    print(f"{query:45s} median {1000 * statistics.median(times):.2f} ms "
                          f"({table.num_rows} rows)")
                cursor.close()
        finally:
            process.kill()


if __name__ == "__main__":
    main()
