"""Upstream `influxdb3/tests/server/gen1_lookback_guard.rs`: after snapshots to Parquet and a
kill, a restarted server replays what it must without rewriting files written before the
restart, and loses no rows."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conformance.conftest import query_sql, write_lp

TOTAL_WRITES = 10
NODE_ID = "lookback-dataloss"


def _files(node: Path) -> dict[Path, int]:
    """The Parquet and JSON files under the node's directory, with their mtimes."""
    return {path: path.stat().st_mtime_ns for path in sorted(node.rglob("*"))
            if path.is_file() and path.suffix in (".parquet", ".json")}


def _count(server) -> list:
    response = query_sql(server, "testdb", "SELECT COUNT(*) AS cnt FROM cpu")
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for_parquet(node: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not any(node.rglob("*.parquet")):
        assert time.monotonic() < deadline, "no snapshot to Parquet"
        time.sleep(0.1)


def test_gen1_lookback_guard_test_lookback_lt_gen1_data_loss_on_restart(make_module_server):
    # upstream's --gen1-lookback-duration and --snapshotted-wal-files-to-keep have no timewell
    # counterpart: a snapshot after every WAL flush, and WAL files go once snapshotted
    server = make_module_server("--node-id", NODE_ID, "--gen1-duration", "10m",
                                "--wal-snapshot-size", "1")
    node = server.data_dir / NODE_ID
    for i in range(1, TOTAL_WRITES + 1):
        write_lp(server, "testdb", f"cpu,host=server{i} usage={i}.0 {i * 1_000_000_000}",
                 precision="nanosecond")
        time.sleep(0.05)
    _wait_for_parquet(node)
    time.sleep(3)
    assert _count(server) == [{"cnt": TOTAL_WRITES}]
    wal_files = [p for p in (node / "wal").iterdir() if p.is_file()]
    assert len(wal_files) <= 1 + 2, wal_files
    before = _files(node)

    server.kill()
    server.start()
    _wait_for_parquet(node)
    time.sleep(3)
    assert _count(server) == [{"cnt": TOTAL_WRITES}]
    after = _files(node)
    modified = [path for path, mtime in before.items() if path in after and after[path] != mtime]
    assert not modified, modified
