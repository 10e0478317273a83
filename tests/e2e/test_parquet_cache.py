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


def one_chunk_now() -> int:
    """A time whose 50 seconds before lie in one 10-minute chunk (--gen1-duration) whatever
    the clock says: one file per snapshot."""
    chunk = 600 * SECOND
    return time.time_ns() // chunk * chunk + 55 * SECOND


def test_queries_over_recent_files_are_answered_from_the_cache(make_server):
    server = make_server("--wal-snapshot-size", "1", "--maintenance-interval", "1h")
    write_hosts(server, one_chunk_now(), 1)  # one file: nothing to merge
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
    now = one_chunk_now()
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


def test_recent_files_are_merged_into_one_run_and_read_the_same(make_server):
    """Files of several time chunks are merged in the background (storage/recent_merge.py);
    queries answer the same before and after, and late data for an old chunk (a file that
    overlaps a merged one) still wins until a new merge covers it."""
    server = make_server("--wal-snapshot-size", "1", "--maintenance-interval", "1h")
    chunk = 600 * SECOND
    base = time.time_ns() // chunk * chunk - 3 * chunk
    for k in range(3):  # a file per chunk
        lines = "\n".join(f"cpu,host=h{h} v={k}i {base + k * chunk + s * SECOND}"
                          for h in range(20) for s in range(10))
        assert server.write(lines, precision="ns").status_code == 204
    wait_for(lambda: len(files(server)) == 3)
    everything = "SELECT host, sum(v) AS s, count(*) AS n FROM cpu GROUP BY host ORDER BY host"
    before = server.rows(everything)  # this read starts the merge
    assert before[0] == {"host": "h0", "s": 0 * 10 + 1 * 10 + 2 * 10, "n": 30}
    wait_for(lambda: metrics(server)["timewell_parquet_cache_merged_files"] == 3)
    assert server.rows(everything) == before
    assert server.rows(ONE_HOST) == [{"n": 30, "s": 30}]
    # a late write into the first chunk: a fourth file, overlapping a merged one
    assert server.write(f"cpu,host=h7 v=100i {base + 5 * SECOND}",
                        precision="ns").status_code == 204
    wait_for(lambda: len(files(server)) == 4)
    assert server.rows(ONE_HOST) == [{"n": 30, "s": 130}]  # 0 replaced by 100
    time.sleep(6)  # past the merge's minimum interval: merged again, without the overlap
    server.rows(ONE_HOST)
    wait_for(lambda: metrics(server)["timewell_parquet_cache_merged_files"] == 2)
    assert server.rows(ONE_HOST) == [{"n": 30, "s": 130}]
