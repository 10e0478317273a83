"""Damaged catalog and index files at start-up, and what the WAL and catalog record so that
a deleted table's rows can never come back: the server process as a whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.helpers import wait_for
from timewell.storage.oplog import decode_record
from timewell.storage.walfile import decode


def node_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "local"


def catalog_records(tmp_path: Path) -> list[Path]:
    return sorted((node_dir(tmp_path) / "catalog" / "log").glob("*.json"))


def make_catalog_records(server: ServerProcess) -> None:
    assert server.write("a v=1 1", db="one").status_code == 204
    assert server.write("b v=1 1", db="two").status_code == 204
    assert server.write("c v=1 1", db="three").status_code == 204


def test_torn_last_catalog_record_is_skipped_and_the_server_starts(make_server, tmp_path):
    server = make_server()
    make_catalog_records(server)
    server.kill()
    records = catalog_records(tmp_path)
    torn = records[-1].with_name(f"{int(records[-1].stem) + 1:020d}.json")
    torn.write_bytes(records[-1].read_bytes()[:20])  # the write a crash cut off
    server.start()
    assert "skipping damaged last record" in server.log()
    assert not torn.exists()
    assert server.rows("SELECT v FROM c", db="three") == [{"v": 1.0}]
    assert server.write("d v=1 1", db="four").status_code == 204
    server.kill()
    server.start()  # the record set aside is not in the middle of the log now
    assert server.rows("SELECT v FROM d", db="four") == [{"v": 1.0}]


def test_damaged_catalog_record_in_the_middle_stops_start_up(make_server, tmp_path):
    server = make_server()
    make_catalog_records(server)
    server.kill()
    middle = catalog_records(tmp_path)[1]
    data = bytearray(middle.read_bytes())
    data[-2] ^= 0x01
    middle.write_bytes(bytes(data))
    with pytest.raises(RuntimeError) as failed:
        server.start()
    # a message that names the file and what to do, not a traceback
    assert f"Error: local/catalog/log/{middle.name} is damaged" in str(failed.value)
    assert "Restore the file from a backup" in str(failed.value)
    assert "Traceback" not in str(failed.value)


def test_damaged_index_checkpoint_stops_start_up(make_server, tmp_path):
    index = node_dir(tmp_path) / "index"
    index.mkdir(parents=True)
    (index / "checkpoint.json").write_bytes(b"TWLOG\x00\x01\n\x00\x00")
    with pytest.raises(RuntimeError) as failed:
        make_server()
    assert "Error: local/index/checkpoint.json is damaged" in str(failed.value)
    assert "Traceback" not in str(failed.value)


def test_wal_writes_carry_table_ids_and_deletes_record_the_wal_sequence(make_server,
                                                                        tmp_path):
    server = make_server()
    assert server.write("t v=1 1").status_code == 204
    assert server.write("t v=2 2\nu v=3 3").status_code == 204
    client = server.client()
    assert client.delete("/api/v3/configure/table",
                         params={"db": "test", "table": "t"}).status_code == 200
    server.kill()
    wal = sorted((node_dir(tmp_path) / "wal").glob("*.wal"))
    writes = [w for path in wal for w in decode(path.read_bytes())[1]]
    ids = {(w.table, w.table_id) for w in writes}
    assert len(ids) == 2 and None not in {table_id for _, table_id in ids}
    ops = [op for path in catalog_records(tmp_path) for op in decode_record(path.read_bytes())]
    [delete] = [op for op in ops if op["op"] == "delete_table"]
    assert delete["wal_sequence"] == int(wal[-1].stem)
    created = {op["table"]: op["table_id"] for op in ops if op["op"] == "create_table"}
    assert ids == set(created.items())
    server.start()
    wait_for(lambda: server.rows("SELECT v FROM u") == [{"v": 3.0}])
