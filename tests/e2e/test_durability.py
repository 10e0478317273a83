"""Acknowledged writes survive SIGKILL; a damaged WAL file costs only itself."""

from __future__ import annotations

import signal
import threading

import httpx


def test_acknowledged_write_survives_sigkill(make_server):
    server = make_server()
    assert server.write("dur,host=a v=1 1\ndur,host=b v=2 2").status_code == 204
    server.kill()
    server.start()
    assert server.rows("SELECT host, v FROM dur ORDER BY host") == [
        {"host": "a", "v": 1.0}, {"host": "b", "v": 2.0}]


def test_catalog_survives_restart(make_server):
    server = make_server()
    client = server.client()
    assert client.post("/api/v3/configure/database", json={"db": "empty"}).status_code == 200
    assert client.post("/api/v3/configure/table", json={
        "db": "empty", "table": "t", "tags": ["h"],
        "fields": [{"name": "f", "type": "float64"}]}).status_code == 200
    server.kill()
    server.start()
    names = [d["iox::database"] for d in
             server.client().get("/api/v3/configure/database?format=json").json()]
    assert "empty" in names
    columns = server.rows("SHOW COLUMNS FROM t", db="empty")
    assert [(c["column_name"], c["data_type"]) for c in columns] == [
        ("f", "Float64"), ("h", "Dictionary(Int32, Utf8)"), ("time", "Timestamp(Nanosecond, None)")]


def test_concurrent_writers_all_survive_sigkill(make_server):
    server = make_server()
    errors = []

    def writer(n: int) -> None:
        with httpx.Client() as client:
            for i in range(20):
                r = client.post(f"{server.url}/api/v3/write_lp", params={"db": "test"},
                                content=f"cc,w=w{n} v={i}i {i + 1}".encode())
                if r.status_code != 204:
                    errors.append(r.text)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    server.kill()
    server.start()
    assert server.rows("SELECT count(*) AS n FROM cc") == [{"n": 160}]


def test_corrupt_last_wal_file_is_skipped_and_earlier_data_kept(make_server, tmp_path):
    server = make_server()
    assert server.write("w v=1 1").status_code == 204
    assert server.write("w v=2 2").status_code == 204
    server.kill()
    wal_files = sorted((tmp_path / "data" / "local" / "wal").glob("*.wal"))
    assert len(wal_files) >= 2
    last = wal_files[-1]
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # a torn write
    server.start()
    assert server.rows("SELECT v FROM w ORDER BY time") == [{"v": 1.0}]
    assert "corrupt WAL file" in server.log()
    # the server keeps going and new writes land in new files
    assert server.write("w v=3 3").status_code == 204
    server.kill()
    server.start()
    assert server.rows("SELECT v FROM w ORDER BY time") == [{"v": 1.0}, {"v": 3.0}]


def test_flipped_byte_is_detected_by_checksum(make_server, tmp_path):
    server = make_server()
    assert server.write("f v=1 1").status_code == 204
    assert server.write("f v=2 2").status_code == 204
    server.kill()
    last = sorted((tmp_path / "data" / "local" / "wal").glob("*.wal"))[-1]
    data = bytearray(last.read_bytes())
    data[-5] ^= 0xFF
    last.write_bytes(bytes(data))
    server.start()
    assert server.rows("SELECT v FROM f") == [{"v": 1.0}]
    assert "checksum" in server.log()


def test_graceful_shutdown_flushes_no_sync_writes(make_server):
    server = make_server("--wal-flush-interval", "10s")
    assert server.write("g v=1 1", no_sync="true").status_code == 204
    assert server.stop(signal.SIGTERM) == 0
    server.start()
    assert server.rows("SELECT v FROM g") == [{"v": 1.0}]


def test_sigterm_answers_waiting_writer(make_server):
    server = make_server("--wal-flush-interval", "5s")
    result = {}

    def write() -> None:
        result["status"] = server.write("sw v=1 1").status_code

    thread = threading.Thread(target=write)
    thread.start()
    import time

    time.sleep(1.0)  # the write is waiting for the (5 s away) flush
    assert server.stop(signal.SIGTERM) == 0
    thread.join(10)
    assert result.get("status") == 204
    server.start()
    assert server.rows("SELECT v FROM sw") == [{"v": 1.0}]


def test_memory_object_store_runs(make_server):
    server = make_server("--object-store", "memory")
    assert server.write("mem v=1 1").status_code == 204
    assert server.rows("SELECT v FROM mem") == [{"v": 1.0}]
