"""The catalog on the object store: `<node-id>/catalog/` as a log plus checkpoint.

Records and checkpoints are checksummed; a damaged file holding acknowledged changes stops
start-up with `CorruptLog` (see `storage/oplog.py`)."""

from __future__ import annotations

from timewell.storage.objectstore import ObjectStore
from timewell.storage.oplog import CorruptLog, OpLog

__all__ = ["CatalogLog", "CorruptLog"]


class CatalogLog(OpLog):
    def __init__(self, store: ObjectStore, prefix: str, checkpoint_every: int = 100) -> None:
        super().__init__(store, f"{prefix}/catalog", checkpoint_every)
