"""The Parquet cache: row groups that queries read from recent files stay decoded in memory,
later queries are answered from them, and the entries of files compaction replaced go with
the files."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_for

SECOND = 1_000_000_000


def metrics(server) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics").text
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("timewell_parquet_cache"):
                label = sample.labels.get("result")
                values[sample.name + (f"_{label}" if label else "")] = sample.value
    return values


def files(server) -> list[dict]:
    return server.rows("SELECT path FROM system.parquet_files WHERE table_name = 'cpu'")


def write_hosts(server, now_ns: int, value: int) -> None:
    lines = "\n".join(f"cpu,host=h{h} v={value}i {now_ns - k * SECOND}"
                      for h in range(20) for k in range(50))
    assert server.write(lines, precision="ns").status_code == 204


ONE_HOST = "SELECT count(*) AS n, sum(v) AS s FROM cpu WHERE host = 'h7'"


def test_queries_over_recent_files_are_answered_from_the_cache(make_server):
    server = make_server("--wal-snapshot-size", "1", "--maintenance-interval", "1h")
    write_hosts(server, time.time_ns(), 1)
    wait_for(lambda: files(server))
    assert metrics(server)["timewell_parquet_cache_bytes"] == 0
    assert server.rows(ONE_HOST) == [{"n": 50, "s": 50}]
    first = metrics(server)
    assert first["timewell_parquet_cache_bytes"] > 0
    assert first["timewell_parquet_cache_lookups_total_miss"] >= 1
    assert server.rows(ONE_HOST) == [{"n": 50, "s": 50}]
    second = metrics(server)
    assert (second["timewell_parquet_cache_lookups_total_hit"]
            > first["timewell_parquet_cache_lookups_total_hit"])
    assert (second["timewell_parquet_cache_lookups_total_miss"]
            == first["timewell_parquet_cache_lookups_total_miss"])


def test_old_files_and_a_disabled_cache_are_read_each_time(make_server):
    server = make_server("--wal-snapshot-size", "1", "--parquet-mem-cache-query-path-duration",
                         "1h")
    write_hosts(server, time.time_ns() - 3 * 3600 * SECOND, 1)  # older than the hour cached
    wait_for(lambda: files(server))
    assert server.rows(ONE_HOST) == [{"n": 50, "s": 50}]
    assert metrics(server)["timewell_parquet_cache_bytes"] == 0
    server.stop()
    off = make_server("--disable-parquet-mem-cache", data_dir=server.data_dir)
    assert off.rows(ONE_HOST) == [{"n": 50, "s": 50}]
    assert metrics(off) == {}


def test_entries_of_replaced_files_leave_with_them(make_server):
    server = make_server("--wal-snapshot-size", "1", "--maintenance-interval", "1h")
    # Every point in one 10-minute chunk (--gen1-duration), whatever the clock says: one file
    # per snapshot.
    chunk = 600 * SECOND
    now = time.time_ns() // chunk * chunk + 55 * SECOND
    write_hosts(server, now, 1)
    wait_for(lambda: len(files(server)) == 1)
    write_hosts(server, now, 2)  # the same points again: a second, overlapping file
    wait_for(lambda: len(files(server)) == 2)
    assert server.rows(ONE_HOST) == [{"n": 50, "s": 100}]
    assert metrics(server)["timewell_parquet_cache_bytes"] > 0
    server.stop()
    # Compaction comes at the first maintenance pass, 8 s after the start: time enough to
    # fill the cache first, even on a loaded machine.
    server = make_server("--maintenance-interval", "8s", data_dir=server.data_dir)
    assert server.rows(ONE_HOST) == [{"n": 50, "s": 100}]  # cached again after the restart
    assert metrics(server)["timewell_parquet_cache_bytes"] > 0
    wait_for(lambda: len(files(server)) == 1)  # compaction merged the two files
    assert metrics(server)["timewell_parquet_cache_bytes"] == 0
    assert server.rows(ONE_HOST) == [{"n": 50, "s": 100}]
