"""Write triggers that miss nothing: the WAL is the queue, each trigger resumes from its
durable cursor after a kill -9, a slow trigger falls behind without dropping, and a trigger
behind past --trigger-max-lag skips loudly."""

from __future__ import annotations

import random
import re
import threading
import time

import httpx
import pytest

from tests.e2e.test_engine import TRIGGER_URL, Engine
from tests.helpers import wait_for

COPY = """
def process_writes(influxdb3_local, table_batches, args):
    for batch in table_batches:
        for row in batch["rows"]:
            line = LineBuilder("dst")
            line.tag("w", row["w"])
            line.int64_field("n", row["n"])
            line.time_ns(row["time"])
            influxdb3_local.write(line)
"""

# Not idempotent: a repeated run would add rows (a new timestamp each time), so only
# exactly-once output (the run's writes and its cursor in one WAL record) ends exact.
APPEND_LOG = """
import time

def process_writes(influxdb3_local, table_batches, args):
    now = time.time_ns()
    for batch in table_batches:
        for i, row in enumerate(batch["rows"]):
            line = LineBuilder("dst_log")
            line.tag("w", row["w"])
            line.int64_field("src_time", row["time"])
            line.time_ns(now + i)
            influxdb3_local.write(line)
"""

SLOW_COPY = """
import time

def process_writes(influxdb3_local, table_batches, args):
    time.sleep(float((args or {}).get("sleep", "0.05")))
    for batch in table_batches:
        for row in batch["rows"]:
            line = LineBuilder("dst")
            line.tag("w", row["w"])
            line.int64_field("n", row["n"])
            line.time_ns(row["time"])
            influxdb3_local.write(line)
"""


@pytest.fixture
def plugin_dir(tmp_path):
    path = tmp_path / "plugins"
    path.mkdir()
    return path


BASE_NS = 1_700_000_000_000_000_000


def _points(engine: Engine, table: str) -> set[tuple[str, int]]:
    rows = engine.table_rows(f"SELECT w, CAST(time AS BIGINT) AS t FROM {table}")
    return {(r["w"], r["t"]) for r in rows}


def _count(engine: Engine, table: str) -> int:
    rows = engine.table_rows(f"SELECT count(*) AS n FROM {table}")
    return rows[0]["n"] if rows else 0


class Writers:
    """Writers sending small batches of unique points to `src`, recording what was
    acknowledged; they keep going across a kill (refused writes are not recorded)."""

    def __init__(self, url_of, count: int = 4, rows_per_write: int = 5) -> None:
        self._url_of = url_of
        self.acked: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n, rows_per_write))
                         for n in range(count)]

    def _write(self, writer: int, rows_per_write: int) -> None:
        n = 0
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                points = [(f"w{writer}", BASE_NS + n * 1000 + i)
                          for i in range(rows_per_write)]
                body = "\n".join(f"src,w={w} n={t}i {t}" for w, t in points)
                n += 1
                try:
                    response = client.post(f"{self._url_of()}/api/v3/write_lp",
                                           params={"db": "test"}, content=body)
                except httpx.HTTPError:
                    time.sleep(0.02)
                    continue
                if response.status_code == 204:
                    with self._lock:
                        self.acked.update(points)

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_copy_plugin_loses_nothing_across_kill9(make_server, plugin_dir):
    server = make_server("--plugin-dir", str(plugin_dir), "--wal-snapshot-size", "20")
    engine = Engine(server, plugin_dir)
    engine.plugin("copy.py", COPY)
    engine.plugin("append_log.py", APPEND_LOG)
    assert engine.create("copy", "table:src", "copy.py").status_code == 200
    assert engine.create("log", "table:src", "append_log.py").status_code == 200
    rng = random.Random(14)
    with Writers(lambda: server.url) as writers:
        for _ in range(2):
            time.sleep(rng.uniform(0.8, 1.5))
            server.kill()
            time.sleep(0.2)
            server.start()
            engine.http = server.client()
        time.sleep(0.5)
    acked = set(writers.acked)
    assert len(acked) > 500
    src = _points(engine, "src")
    assert acked <= src
    # every src row (acknowledged, or applied though its writer saw the kill) reaches dst
    wait_for(lambda: _count(engine, "dst") >= len(src), timeout=30)
    assert _points(engine, "dst") == src
    assert _count(engine, "dst") == len(src)
    stats = wait_for(lambda: (s := engine.stats("copy")) and s["lag_flushes"] == 0 and s)
    assert stats["cursor_wal_sequence"] > 0
    assert stats["dropped_events"] == 0 and stats["skipped_rows"] == 0
    # exactly once, with no help from last-write-wins
    wait_for(lambda: (s := engine.stats("log")) and s["lag_flushes"] == 0)
    time.sleep(0.3)
    logged = engine.table_rows("SELECT w, src_time FROM dst_log")
    assert len(logged) == len(src)
    assert {(r["w"], r["src_time"]) for r in logged} == src


def test_slow_trigger_falls_behind_without_dropping(make_server, plugin_dir):
    server = make_server("--plugin-dir", str(plugin_dir))
    engine = Engine(server, plugin_dir)
    engine.plugin("slow.py", SLOW_COPY)
    assert engine.create("slow", "table:src", "slow.py", args={"sleep": "0.3"}).status_code == 200
    lags = []
    with Writers(lambda: server.url, count=4, rows_per_write=2) as writers:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            lags.append(engine.stats("slow").get("lag_flushes") or 0)
            time.sleep(0.2)
        lag_rows = re.search(r'timewell_trigger_lag_rows\{database="test",node_id="local",'
                             r'trigger="slow"\} (\S+)',
                             httpx.get(f"{server.url}/metrics").text)
        assert lag_rows and float(lag_rows.group(1)) > 0
    acked = set(writers.acked)
    assert len(acked) > 1000
    assert max(lags) > 20  # far behind, and visibly so
    src = _points(engine, "src")
    wait_for(lambda: _count(engine, "dst") >= len(src), timeout=30)
    assert _points(engine, "dst") == src
    stats = wait_for(lambda: (s := engine.stats("slow")) and s["lag_flushes"] == 0 and s)
    assert stats["lag_rows"] == 0 and stats["lag_seconds"] == 0
    metrics = httpx.get(f"{server.url}/metrics").text
    assert ('timewell_trigger_lag_flushes{database="test",node_id="local",trigger="slow"} 0.0'
            in metrics)
    assert stats["dropped_events"] == 0 and stats["skipped_rows"] == 0
    # Behind by many flushes, it took several per run.
    assert stats["runs"] < len(lags) * 10


def test_trigger_behind_past_max_lag_skips_loudly(make_server, plugin_dir):
    server = make_server("--plugin-dir", str(plugin_dir), "--trigger-max-lag", "1",
                         "--wal-snapshot-size", "3")
    engine = Engine(server, plugin_dir)
    engine.plugin("slow.py", SLOW_COPY)
    assert engine.create("slow", "table:src", "slow.py", args={"sleep": "2"}).status_code == 200
    server.write(f"src,w=a n=0i {BASE_NS}")
    time.sleep(0.5)  # the first run is asleep
    for n in range(1, 30):  # one flush each, snapshotted (and their WAL removed) meanwhile
        assert server.write(f"src,w=a n={n}i {BASE_NS + n}").status_code == 204
    stats = wait_for(lambda: (s := engine.stats("slow")) and s["skipped_rows"] > 0 and s,
                     timeout=20)
    assert stats["lagging"] is True or stats["lag_flushes"] == 0
    assert stats["skipped_flushes"] > 0
    assert any("ERROR" in line and "--trigger-max-lag" in line for line in engine.logs("slow"))
    assert "--trigger-max-lag" in server.log()
    # the trigger goes on with what is left, and the server with everything else
    server.write(f"src,w=b n=100i {BASE_NS + 1000}")
    wait_for(lambda: any(p[0] == "b" for p in _points(engine, "dst")), timeout=15)
    assert _count(engine, "src") == 31


def test_kill9_while_behind_replays_flushes_already_snapshotted(make_server, plugin_dir):
    # Snapshots every 2 flushes write the rows to Parquet; the WAL files stay for the trigger
    # that has not processed them, and after the kill it gets them from there.
    server = make_server("--plugin-dir", str(plugin_dir), "--wal-snapshot-size", "2")
    engine = Engine(server, plugin_dir)
    engine.plugin("slow.py", SLOW_COPY)
    assert engine.create("slow", "table:src", "slow.py", args={"sleep": "1"}).status_code == 200
    for n in range(12):
        assert server.write(f"src,w=a n={n}i {BASE_NS + n}").status_code == 204
    assert wait_for(lambda: engine.table_rows("SELECT count(*) AS n FROM system.parquet_files "
                                              "WHERE table_name = 'src'")[0]["n"])
    server.kill()
    wal_files = list((server.data_dir / "local" / "wal").glob("*.wal"))
    assert len(wal_files) >= 10  # kept past their snapshot
    server.start()
    engine.http = server.client()
    wait_for(lambda: _count(engine, "dst") >= 12, timeout=30)
    assert _points(engine, "dst") == _points(engine, "src")
    stats = wait_for(lambda: (s := engine.stats("slow")) and s["lag_flushes"] == 0 and s)
    assert stats["skipped_rows"] == 0
    # once the trigger has passed them, the next snapshot removes them
    for n in range(12, 16):
        server.write(f"src,w=a n={n}i {BASE_NS + n}")
    wait_for(lambda: len(list((server.data_dir / "local" / "wal").glob("*.wal"))) < 6,
             timeout=30)


def test_new_disabled_and_enabled_triggers_see_writes_from_then_on(make_server, plugin_dir):
    server = make_server("--plugin-dir", str(plugin_dir))
    engine = Engine(server, plugin_dir)
    engine.plugin("copy.py", COPY)
    engine.ensure_db("test")
    server.write(f"src,w=before n=0i {BASE_NS}")
    assert engine.create("copy", "table:src", "copy.py").status_code == 200
    server.write(f"src,w=enabled n=1i {BASE_NS + 1}")
    wait_for(lambda: _count(engine, "dst") == 1)
    assert engine.http.post(f"{TRIGGER_URL}/disable",
                            params={"db": "test", "trigger_name": "copy"}).status_code == 200
    server.write(f"src,w=disabled n=2i {BASE_NS + 2}")
    server.restart()  # a disabled trigger holds no WAL and owes nothing after a restart
    engine.http = server.client()
    server.write(f"src,w=disabled n=3i {BASE_NS + 3}")
    assert engine.http.post(f"{TRIGGER_URL}/enable",
                            params={"db": "test", "trigger_name": "copy"}).status_code == 200
    server.write(f"src,w=again n=4i {BASE_NS + 4}")
    wait_for(lambda: _count(engine, "dst") == 2)
    time.sleep(0.5)
    assert {w for w, _ in _points(engine, "dst")} == {"enabled", "again"}
