"""Files replaced by compaction leave the object store only when no running query reads them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from timewell.config import Settings, StorageSettings
from timewell.lineprotocol import Precision
from timewell.node import Node

DB = "pins"


def file_paths(node: Node) -> set[str]:
    return {f.path for f in node.index.files(DB, "cpu")}


def test_compaction_keeps_replaced_files_until_the_query_reading_them_ends(tmp_path: Path):
    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path, without_auth=True, wal_flush_interval_s=0.01,
                            storage=StorageSettings(wal_snapshot_size=10**6,
                                                    maintenance_interval_s=3600))
        node = Node(settings)
        await node.start()
        try:
            base = time.time_ns() - 60 * 1_000_000_000
            for i in range(3):  # three snapshots of one time chunk that overlap in time
                body = f"cpu,host=a v={i} {base}\ncpu,host=b v={i} {base + 1}".encode()
                await node.writer.write_lp(DB, body, Precision.NANOSECOND, False, False)
                await node.snapshots.snapshot()
            replaced = file_paths(node)
            assert len(replaced) == 3

            lease = node.data.lease()  # a query that has planned its scan and is still reading
            view = lease.view(DB, "cpu")
            assert {f.path for f in view.files} == replaced

            await node.maintenance.run_once()  # compacts the overlapping files into one
            assert len(file_paths(node)) == 1 and not file_paths(node) & replaced
            on_store = {m.path for m in node.store.list(f"{settings.node_id}/dbs/")}
            assert replaced <= on_store  # still readable by the running query
            rows = node.data.read_file(view.files[0], _schema(node))
            assert rows.num_rows == 2

            lease.release()
            await node.maintenance.run_once()
            on_store = {m.path for m in node.store.list(f"{settings.node_id}/dbs/")}
            assert not replaced & on_store  # gone once nobody reads them
            result = node.query.sql(DB, "SELECT host, v FROM cpu ORDER BY host").to_pylist()
            assert result == [{"host": "a", "v": 2.0}, {"host": "b", "v": 2.0}]
        finally:
            await node.stop()

    asyncio.run(scenario())


def _schema(node: Node):
    with node.catalog.lock:
        return node.catalog.table(DB, "cpu").arrow_schema()
