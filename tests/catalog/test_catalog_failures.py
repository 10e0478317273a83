"""The catalog when its log cannot be written or is found damaged."""

from __future__ import annotations

import pytest

from tests.storage.faulty_store import FaultyStore, InjectedFault
from timewell.catalog import Catalog
from timewell.catalog.persistence import CatalogLog, CorruptLog


def load(store, every: int = 100) -> Catalog:
    return Catalog.load(CatalogLog(store, "node", checkpoint_every=every))


def test_a_change_that_cannot_be_made_durable_is_not_applied(tmp_path):
    store = FaultyStore.file(tmp_path)
    catalog = load(store)
    store.fail_put_after_write = True
    with pytest.raises(InjectedFault):
        catalog.create_database("a")
    assert catalog.live_databases() == []
    store.fail_put_after_write = False
    assert load(store).live_databases() == []  # its record was removed
    catalog.create_database("a")
    assert [d.name for d in load(store).live_databases()] == ["a"]


def test_a_failed_checkpoint_does_not_fail_the_change(tmp_path):
    store = FaultyStore.file(tmp_path)
    store.only, store.fail_put_before_write = "checkpoint", True
    catalog = load(store, every=1)
    catalog.create_database("a")  # committed; only the checkpoint failed
    store.fail_put_before_write = False
    catalog.create_database("b")
    assert [d.name for d in load(store).live_databases()] == ["a", "b"]


def test_damaged_catalog_stops_loading_with_the_file_named(tmp_path):
    store = FaultyStore.file(tmp_path)
    catalog = load(store)
    catalog.create_database("a")
    catalog.create_database("b")
    first = store.list("node/catalog/log/")[0].path
    store.put(first, store.get(first)[:-1])
    with pytest.raises(CorruptLog, match=first):
        load(store)
