"""Parquet snapshots, queries over buffer + files, crash safety, retention, deletes, compaction."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, free_port
from tests.helpers import wait_for

MINUTE_NS = 60 * 1_000_000_000
SNAPSHOT_EVERY_2 = ("--wal-snapshot-size", "2", "--gen1-duration", "1m")


def lines(start_minute: int, count: int, hosts: int = 3) -> str:
    """`count` rows per host, one a minute from `start_minute` (minutes since an hour ago)."""
    base = time.time_ns() - 60 * MINUTE_NS
    return "\n".join(f"cpu,host=h{h} v={m}i {base + m * MINUTE_NS + h}"
                     for m in range(start_minute, start_minute + count) for h in range(hosts))


def parquet_files(server: ServerProcess, db: str = "test") -> list[dict]:
    return server.rows("SELECT table_name, path, row_count, min_time, max_time "
                       "FROM system.parquet_files ORDER BY path", db=db)


def wal_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "local" / "wal").glob("*.wal"))


SUMMARY = "SELECT host, count(*) AS n, sum(v) AS total FROM cpu GROUP BY host ORDER BY host"


def test_snapshot_writes_parquet_and_queries_see_both(make_server, tmp_path):
    server = make_server(*SNAPSHOT_EVERY_2)
    assert server.write(lines(0, 5), precision="ns").status_code == 204
    assert server.write(lines(5, 5), precision="ns").status_code == 204
    files = wait_for(lambda: parquet_files(server))
    assert {f["table_name"] for f in files} == {"cpu"}
    assert sum(f["row_count"] for f in files) == 30
    assert len({f["path"].rsplit("/", 2)[-2] for f in files}) == 10  # one file per minute chunk
    # more data stays in the buffer: queries see buffer and files as one table
    assert server.write(lines(10, 1), precision="ns").status_code == 204
    expected = [{"host": f"h{h}", "n": 11, "total": sum(range(11))} for h in range(3)]
    assert server.rows(SUMMARY) == expected
    wait_for(lambda: len(wal_files(tmp_path / "data")) <= 1)
    server.kill()
    server.start()
    assert server.rows(SUMMARY) == expected


def test_time_filter_prunes_files(make_server):
    server = make_server(*SNAPSHOT_EVERY_2)
    server.write(lines(0, 2), precision="ns")
    server.write(lines(40, 2), precision="ns")
    wait_for(lambda: len(parquet_files(server)) == 4)
    plan = server.rows("EXPLAIN SELECT * FROM cpu WHERE time > now() - interval '21 minutes'")
    physical = next(r["plan"] for r in plan if r["plan_type"] == "physical_plan")
    assert "number_of_fragments=2" in physical, physical
    assert len(server.rows("SELECT * FROM cpu WHERE time > now() - interval '21 minutes'")) == 6


@pytest.mark.parametrize("step", ["files-written", "index-persisted", "wal-removed"])
def test_crash_during_snapshot_loses_and_duplicates_nothing(make_server, tmp_path, step):
    server = ServerProcess(tmp_path / "data", *SNAPSHOT_EVERY_2)
    os.environ["TIMEWELL_FAULT_SNAPSHOT"] = step
    try:
        server.start()
        assert server.write(lines(0, 4), precision="ns").status_code == 204
        server.write(lines(4, 4), precision="ns")  # the second flush starts the snapshot
        assert server.process.wait(20) == 137  # died at the chosen step
    finally:
        del os.environ["TIMEWELL_FAULT_SNAPSHOT"]
    server.start()
    expected = [{"host": f"h{h}", "n": 8, "total": sum(range(8))} for h in range(3)]
    assert server.rows(SUMMARY) == expected
    # and after the next snapshot completes, still exactly once
    server.write(lines(8, 1), precision="ns")
    server.write(lines(9, 1), precision="ns")
    wait_for(lambda: sum(f["row_count"] for f in parquet_files(server)) == 30)
    server.kill()
    server.start()
    assert server.rows(SUMMARY) == [{"host": f"h{h}", "n": 10, "total": sum(range(10))}
                                    for h in range(3)]
    stored = sorted(p.name for p in (tmp_path / "data" / "local" / "dbs").rglob("*.parquet"))
    assert len(stored) == len(parquet_files(server))  # orphans of the crash were removed
    server.kill()


def test_retention_hides_rows_and_drops_expired_files(make_server):
    server = make_server(*SNAPSHOT_EVERY_2, "--maintenance-interval", "200ms")
    client = server.client()
    assert client.post("/api/v3/configure/database",
                       json={"db": "ret", "retention_period": "30m"}).status_code == 200
    server.write(lines(0, 3), db="ret", precision="ns")  # 60..58 minutes ago: expired
    server.write(lines(55, 3), db="ret", precision="ns")  # 5..3 minutes ago: kept
    assert server.rows("SELECT count(*) AS n FROM cpu", db="ret") == [{"n": 9}]
    wait_for(lambda: all(f["max_time"] > "" for f in parquet_files(server, "ret"))
             and len(parquet_files(server, "ret")) == 3)
    # retention can be changed; removing it shows nothing older (the files are gone)
    assert client.put("/api/v3/configure/database",
                      json={"db": "ret", "retention_period": None}).status_code == 200
    assert server.rows("SELECT count(*) AS n FROM cpu", db="ret") == [{"n": 9}]


def test_soft_delete_then_hard_delete(make_server, tmp_path):
    server = make_server(*SNAPSHOT_EVERY_2, "--maintenance-interval", "200ms")
    for db in ("soft", "hard"):
        server.write(lines(0, 2), db=db, precision="ns")
        server.write(lines(2, 2), db=db, precision="ns")
        wait_for(lambda db=db: parquet_files(server, db))
    client = server.client()
    assert client.delete("/api/v3/configure/database", params={"db": "soft"}).status_code == 200
    assert server.query("SELECT * FROM cpu", db="soft").status_code == 404
    refused = server.write("cpu v=1i 1", db="soft")
    assert refused.status_code == 400 and "deleted" in refused.json()["error"]
    assert client.post("/api/v3/configure/database", json={"db": "soft"}).status_code == 409
    bad = client.delete("/api/v3/configure/database", params={"db": "hard",
                                                               "hard_delete_at": "soon"})
    assert bad.status_code == 400 and "hard_delete_at" in bad.json()["error"]
    assert client.delete("/api/v3/configure/database",
                         params={"db": "hard", "hard_delete_at": "now"}).status_code == 200
    dbs = tmp_path / "data" / "local" / "dbs"
    wait_for(lambda: not list((dbs / "hard").rglob("*.parquet")), timeout=120)
    assert list((dbs / "soft").rglob("*.parquet"))  # kept until its hard-delete time
    wait_for(lambda: client.post("/api/v3/configure/database",
                                 json={"db": "hard"}).status_code == 200)
    server.kill()
    server.start()
    assert server.query("SELECT * FROM cpu", db="hard").status_code == 400  # a new, empty db


def test_compaction_merges_files_and_keeps_answers(make_server):
    server = make_server("--wal-snapshot-size", "1", "--gen1-duration", "1h",
                         "--maintenance-interval", "200ms")
    base = time.time_ns() - 10 * MINUTE_NS
    for i in range(10):
        body = "\n".join(f"cpu,host=h{h} v={i}i {base + i * 1000 + h}" for h in range(3))
        assert server.write(body, precision="ns").status_code == 204
    expected = [{"host": f"h{h}", "n": 10, "total": 45} for h in range(3)]
    wait_for(lambda: 0 < len(parquet_files(server)) < 8)
    assert server.rows(SUMMARY) == expected
    server.kill()
    server.start()
    assert server.rows(SUMMARY) == expected


def test_restart_replays_only_wal_not_snapshotted(make_server, tmp_path):
    server = make_server("--wal-snapshot-size", "3", "--gen1-duration", "1m")
    for i in range(3):
        server.write(lines(i, 1), precision="ns")
    wait_for(lambda: parquet_files(server))
    server.write(lines(3, 1), precision="ns")
    server.kill()
    server.start()
    assert "1 WAL files replayed" in server.log()
    assert server.rows("SELECT count(*) AS n FROM cpu") == [{"n": 12}]


@pytest.fixture
def s3_server(tmp_path):
    moto = Path(sys.executable).parent / "moto_server"
    if not moto.exists():
        pytest.skip("moto[server] is not installed (pip install -e '.[test]')")
    port = free_port()
    process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _reachable(url), timeout=30)
    assert httpx.put(f"{url}/timewell-test").status_code == 200
    yield url
    process.kill()
    process.wait(10)


def _reachable(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
        return True
    except httpx.HTTPError:
        return False


def test_s3_object_store_survives_node_replacement(make_server, tmp_path, s3_server):
    s3 = ["--object-store", "s3", "--bucket", "timewell-test", "--aws-endpoint", s3_server,
          "--aws-allow-http", "--aws-access-key-id", "test", "--aws-secret-access-key", "test",
          "--aws-default-region", "us-east-1", *SNAPSHOT_EVERY_2]
    first = make_server(*s3, data_dir=tmp_path / "node-a")
    assert first.write(lines(0, 3), precision="ns").status_code == 204
    assert first.write(lines(3, 3), precision="ns").status_code == 204
    wait_for(lambda: parquet_files(first))
    assert first.write(lines(6, 1), precision="ns").status_code == 204  # stays in the WAL
    first.kill()
    # a new node with nothing on its local disk, pointed at the same bucket
    second = make_server(*s3, data_dir=tmp_path / "node-b")
    assert second.rows(SUMMARY) == [{"host": f"h{h}", "n": 7, "total": sum(range(7))}
                                    for h in range(3)]
    assert not list((tmp_path / "node-b").rglob("*.parquet"))


def test_s3_a_replacement_node_supersedes_the_old_one(make_server, tmp_path, s3_server):
    """Two servers on one bucket with one node id (a replacement started before the old one
    stopped): the old one's next WAL file is taken (S3's If-None-Match), so it refuses the
    write and stops; nothing it had acknowledged is lost, and the new one's file is intact."""
    s3 = ["--object-store", "s3", "--bucket", "timewell-test", "--aws-endpoint", s3_server,
          "--aws-allow-http", "--aws-access-key-id", "test", "--aws-secret-access-key", "test",
          "--aws-default-region", "us-east-1"]
    old = make_server(*s3, data_dir=tmp_path / "node-a")
    assert old.write(lines(0, 2), precision="ns").status_code == 204
    new = make_server(*s3, data_dir=tmp_path / "node-b")
    assert new.write(lines(2, 1), precision="ns").status_code == 204
    refused = old.write(lines(3, 1), precision="ns")
    assert refused.status_code == 503
    assert "another process has written to the WAL ahead of this one" in refused.text
    assert old.process.wait(10) != 0
    assert new.rows("SELECT count(*) AS n FROM cpu") == [{"n": 9}]
    assert new.write(lines(3, 1), precision="ns").status_code == 204
    assert new.rows("SELECT count(*) AS n FROM cpu") == [{"n": 12}]
