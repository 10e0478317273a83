"""Table ids: unique, never reused, durable; carried by the WAL writes of the write path."""

from __future__ import annotations

import asyncio

import orjson

from timewell.catalog import Catalog, ColumnType
from timewell.catalog.persistence import CatalogLog
from timewell.lineprotocol import Precision
from timewell.storage.objectstore import ObjectStore
from timewell.write import WriteLimits, WriteService


def load(store: ObjectStore, every: int = 100) -> Catalog:
    return Catalog.load(CatalogLog(store, "node", checkpoint_every=every))


def ids(catalog: Catalog) -> dict[tuple[str, str], int]:
    return {(db.name, t.name): t.table_id for db in catalog.databases.values()
            for t in db.tables.values()}


def test_ids_are_unique_never_reused_and_survive_reload(tmp_path):
    store = ObjectStore.file(tmp_path)
    catalog = load(store, every=4)
    catalog.create_database("a")
    catalog.create_database("b")
    catalog.create_table("a", "t", ["h"], [("v", ColumnType.FLOAT)])
    catalog.create_table("b", "t", ["h"], [])
    first = catalog.table("a", "t").table_id
    catalog.delete_table("a", "t", wal_sequence=17)
    assert catalog.databases["a"].tables["t"].deleted_wal_sequence == 17
    catalog.commit([{"op": "purge_table", "db": "a", "table": "t"}])  # the name is free again
    catalog.create_table("a", "t", ["h"], [])
    second = catalog.table("a", "t").table_id
    assert len({first, second, catalog.table("b", "t").table_id}) == 3
    assert second > first
    for every in (4, 1000):  # through the checkpoint and through the log only
        assert ids(load(store, every)) == ids(catalog)
    # the counter is part of the state: an id freed by a purge is not handed out again
    catalog.commit([{"op": "purge_table", "db": "a", "table": "t"}])
    reloaded = load(store, every=4)
    reloaded.create_table("a", "t", ["h"], [])
    assert reloaded.table("a", "t").table_id not in {first, second}


def test_deleted_tables_wal_sequence_survives_a_checkpoint(tmp_path):
    store = ObjectStore.file(tmp_path)
    catalog = load(store, every=1)
    catalog.create_database("a")
    catalog.create_table("a", "t", [], [("v", ColumnType.FLOAT)])
    catalog.delete_table("a", "t", wal_sequence=5)
    assert load(store).databases["a"].tables["t"].deleted_wal_sequence == 5


def test_catalogs_from_before_ids_get_them_deterministically(tmp_path):
    store = ObjectStore.file(tmp_path)
    table = {"name": "t", "columns": [["v", "float64"], ["time", "time"]], "deleted": False}
    state = {"databases": [{"name": "a", "tables": [table, {**table, "name": "u"}]}]}
    store.put("node/catalog/checkpoint.json", orjson.dumps({"sequence": 1, "state": state}))
    store.put(f"node/catalog/log/{2:020d}.json", orjson.dumps([
        {"op": "create_table", "db": "a", "table": "w", "columns": [["v", "float64"]]}]))
    first, second = load(store), load(store)
    assert ids(first) == ids(second) == {("a", "t"): 1, ("a", "u"): 2, ("a", "w"): 3}
    first.create_table("a", "x", [], [])
    assert ids(load(store))[("a", "x")] == 4


def test_is_live_table():
    catalog = load(ObjectStore.memory())
    catalog.create_database("a")
    catalog.create_table("a", "t", [], [])
    old = catalog.table("a", "t").table_id
    assert catalog.is_live_table("a", "t", old)
    assert catalog.is_live_table("a", "t", None)  # WAL files from before ids: by name
    assert not catalog.is_live_table("a", "t", old + 100)
    assert not catalog.is_live_table("a", "nope", old)
    catalog.delete_table("a", "t")
    assert not catalog.is_live_table("a", "t", old)
    catalog.commit([{"op": "purge_table", "db": "a", "table": "t"}])
    catalog.create_table("a", "t", [], [])
    assert not catalog.is_live_table("a", "t", old)  # the name now belongs to another table
    assert catalog.is_live_table("a", "t", catalog.table("a", "t").table_id)
    catalog.delete_database("a")
    assert not catalog.is_live_table("a", "t", None)


class FakeWal:
    def __init__(self) -> None:
        self.writes = []

    async def write(self, writes, no_sync: bool) -> None:
        self.writes.extend(writes)


def test_write_path_puts_the_table_id_in_each_wal_write():
    catalog = load(ObjectStore.memory())
    wal = FakeWal()
    service = WriteService(catalog, wal, WriteLimits())

    async def write(lp: str) -> None:
        await service.write_lp("db", lp.encode(), Precision.NANOSECOND, accept_partial=True,
                               no_sync=False)

    asyncio.run(write("cpu v=1 1\nmem v=2 2"))  # new tables: ids exist only after the commit
    asyncio.run(write("cpu v=3 3"))
    by_table = [(w.table, w.table_id) for w in wal.writes]
    assert by_table == [("cpu", catalog.table("db", "cpu").table_id),
                        ("mem", catalog.table("db", "mem").table_id),
                        ("cpu", catalog.table("db", "cpu").table_id)]
    assert all(table_id is not None for _, table_id in by_table)
