"""Where each trigger is, durably: a write trigger's cursor (the last WAL flush it has fully
processed) and a schedule trigger's last completed fire time. One small JSON object per
trigger under `<node-id>/engine/cursors/`, written with the object store's durable put (an
fsync'd rename on disk, a completed PUT on S3), so a trigger resumes where it was after a
restart or a crash."""

from __future__ import annotations

import logging
from urllib.parse import quote, unquote

import orjson

from timewell.storage.objectstore import ObjectStore

log = logging.getLogger(__name__)


def cursor_key(database: str, trigger_name: str) -> str:
    """How a WAL file names a trigger whose cursor it commits."""
    return f"{quote(database, safe='')}/{quote(trigger_name, safe='')}"


def parse_cursor_key(key: str) -> tuple[str, str]:
    database, _, name = key.partition("/")
    return unquote(database), unquote(name)


class CursorStore:
    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self._store = store
        self._prefix = f"{prefix}/engine/cursors/"

    def _path(self, database: str, trigger_name: str) -> str:
        # quoted: database and trigger names may hold characters a path may not
        return f"{self._prefix}{cursor_key(database, trigger_name)}.json"

    def load_all(self) -> dict[tuple[str, str], dict]:
        """Every trigger's record (blocking I/O); an unreadable one is logged and left out
        (that trigger starts at the end of the WAL, as a new one does)."""
        records = {}
        for meta in self._store.list(self._prefix):
            database, _, name = meta.path[len(self._prefix):].partition("/")
            if not name.endswith(".json"):
                continue
            try:
                record = orjson.loads(self._store.get(meta.path))
            except Exception as e:
                log.error("unreadable trigger cursor %s (%s): the trigger starts at the end "
                          "of the WAL", meta.path, e)
                continue
            records[(unquote(database), unquote(name[:-5]))] = record
        return records

    def save(self, database: str, trigger_name: str, record: dict) -> None:
        """Durably (blocking I/O)."""
        self._store.durable_put(self._path(database, trigger_name), orjson.dumps(record))

    def delete(self, database: str, trigger_name: str) -> None:
        self._store.delete(self._path(database, trigger_name))
