from __future__ import annotations

import pytest

from timewell.catalog import Catalog, ColumnType, DatabaseNotFound
from timewell.catalog.persistence import CatalogLog
from timewell.errors import AlreadyExists, InvalidRequest
from timewell.storage.objectstore import ObjectStore


def load(store: ObjectStore, every: int = 100) -> Catalog:
    return Catalog.load(CatalogLog(store, "node", checkpoint_every=every))


def test_changes_survive_reload_through_log_and_checkpoint(tmp_path):
    store = ObjectStore.file(tmp_path)
    catalog = load(store, every=3)
    for i in range(7):
        catalog.create_database(f"db{i}")
    catalog.create_table("db1", "t", ["host"], [("v", ColumnType.FLOAT)])
    catalog.delete_database("db0")
    reloaded = load(store, every=3)
    assert [d.name for d in reloaded.live_databases()] == [f"db{i}" for i in range(1, 7)]
    assert reloaded.table("db1", "t").columns == {
        "host": ColumnType.TAG, "v": ColumnType.FLOAT, "time": ColumnType.TIME}
    assert len(store.list("node/catalog/log/")) < 3  # older records folded into the checkpoint
    with pytest.raises(DatabaseNotFound):
        reloaded.database("db0")


def test_names_are_checked():
    catalog = load(ObjectStore.memory())
    for bad in ["", "has space", "_internal", "a/b/c", "x" * 65, "é"]:
        with pytest.raises(InvalidRequest):
            catalog.create_database(bad)
    catalog.create_database("ok-name_1")
    catalog.create_database("db/rp")
    with pytest.raises(AlreadyExists):
        catalog.create_database("ok-name_1")
    with pytest.raises(InvalidRequest):
        catalog.create_table("ok-name_1", "t", ["time"], [])
    with pytest.raises(InvalidRequest):
        catalog.create_table("ok-name_1", "t", ["a"], [("a", ColumnType.FLOAT)])


def test_table_schema_is_sorted_by_name():
    catalog = load(ObjectStore.memory())
    catalog.create_database("d")
    catalog.create_table("d", "t", ["zone", "host"], [("b", ColumnType.INTEGER)])
    table = catalog.table("d", "t")
    assert table.series_key == ["zone", "host"]
    assert table.arrow_schema().names == ["b", "host", "time", "zone"]
