"""The catalog: databases, tables and typed columns, persisted as a log plus checkpoints.

Every change is an operation (a small JSON dict) that is first made durable and then applied,
so the in-memory state is always something the object store can rebuild.

Each table gets an id from a counter kept in the catalog state, never reused: names are freed
when a deleted table is purged, ids are not, so the WAL's writes (which carry the id) can
always tell a deleted table's rows from those of a new table of the same name.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from timewell.catalog.model import (
    TAG_ARROW_TYPE,
    TIME_ARROW_TYPE,
    ColumnType,
    Database,
    DistinctCacheDefinition,
    LastCacheDefinition,
    Table,
    TokenDefinition,
    TriggerDefinition,
)
from timewell.catalog.names import check_column_name, check_database_name, check_table_name
from timewell.catalog.persistence import CatalogLog
from timewell.errors import AlreadyExists, Conflict, InvalidRequest, NotFound

log = logging.getLogger(__name__)

__all__ = [
    "Catalog",
    "ColumnType",
    "Database",
    "DistinctCacheDefinition",
    "LastCacheDefinition",
    "TokenDefinition",
    "TriggerDefinition",
    "DatabaseNotFound",
    "Table",
    "TableNotFound",
    "TAG_ARROW_TYPE",
    "TIME_ARROW_TYPE",
    "check_database_name",
    "check_table_name",
    "check_column_name",
]


class DatabaseNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"database not found: '{name}'")


class DatabaseDeleted(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"attempted to modify database '{name}', which was already deleted")


class TableNotFound(NotFound):
    def __init__(self, database: str, table: str) -> None:
        super().__init__(f"table '{table}' not found in database '{database}'")


class Catalog:
    """Thread-safe: hold `lock` to read a consistent state across several calls."""

    def __init__(self, log: CatalogLog) -> None:
        self._log = log
        self.lock = threading.RLock()
        self.databases: dict[str, Database] = {}
        self.tokens: dict[str, TokenDefinition] = {}  # by name
        self.next_table_id = 1

    @classmethod
    def load(cls, log: CatalogLog) -> Catalog:
        catalog = cls(log)
        state, commits = log.load()
        if state is not None:
            catalog.databases = {d["name"]: Database.from_json(d) for d in state["databases"]}
            catalog.tokens = {t["name"]: TokenDefinition.from_json(t)
                              for t in state.get("tokens", [])}
            catalog._number_tables(state.get("next_table_id", 1))
        for ops in commits:
            for op in ops:
                catalog._apply(op)
        return catalog

    # -- reading

    def database(self, name: str) -> Database:
        """A live database; DatabaseNotFound for unknown or deleted ones."""
        db = self.databases.get(name)
        if db is None or db.deleted:
            raise DatabaseNotFound(name)
        return db

    def live_databases(self) -> list[Database]:
        with self.lock:
            return [db for db in self.databases.values() if not db.deleted]

    def table(self, database: str, table: str) -> Table:
        t = self.database(database).tables.get(table)
        if t is None or t.deleted:
            raise TableNotFound(database, table)
        return t

    def is_live_table(self, database: str, table: str, table_id: int | None) -> bool:
        """Whether rows written to `database.table` under `table_id` (a WAL TableWrite's) belong
        to a live table now: False once the database or table is deleted or purged, or when the
        name belongs to a newer table. A `table_id` of None (WAL files from before table ids)
        is matched by name only.

        Does not take `lock` (a commit holds it across I/O), so WAL subscribers can call it on
        the event loop: single dict lookups and attribute reads are atomic, a table's id never
        changes, and `deleted` only goes from False to True."""
        db = self.databases.get(database)
        t = db.tables.get(table) if db is not None and not db.deleted else None
        if t is None or t.deleted:
            return False
        return table_id is None or t.table_id == table_id

    # -- changing

    def commit(self, ops: Iterable[dict]) -> None:
        """Make `ops` durable, then apply them. New tables get their ids here."""
        with self.lock:
            ops = self._with_table_ids(ops)
            if not ops:
                return
            self._log.append(ops)
            for op in ops:
                self._apply(op)
            if self._log.wants_checkpoint():
                try:
                    self._log.checkpoint(self.to_json())
                except Exception:  # the ops are committed all the same; the log holds them
                    log.exception("could not checkpoint the catalog; retried at the next change")

    def create_database(self, name: str, retention_period_ns: int | None = None) -> None:
        check_database_name(name)
        with self.lock:
            existing = self.databases.get(name)
            if existing is not None:
                if existing.deleted:
                    raise AlreadyExists(
                        f"database '{name}' was deleted and its name is kept until its data is "
                        "removed; choose another name"
                    )
                raise AlreadyExists(f"database '{name}' already exists")
            self.commit([create_database_op(name, retention_period_ns)])

    def delete_database(self, name: str, hard_delete_at_ns: int | None = None,
                        wal_sequence: int | None = None) -> None:
        """Soft-delete: writes refused, queries see nothing; files go at `hard_delete_at_ns`.
        `wal_sequence` is the last WAL file written so far (the purge waits until it is gone)."""
        with self.lock:
            self.database(name)
            self.commit([{"op": "delete_database", "name": name,
                          "hard_delete_at": hard_delete_at_ns, "wal_sequence": wal_sequence}])

    def set_retention(self, name: str, retention_period_ns: int | None) -> None:
        with self.lock:
            found = self.databases.get(name)
            if found is not None and found.deleted:
                raise DatabaseDeleted(name)
            self.database(name)
            self.commit([{"op": "set_retention", "name": name,
                          "retention_period_ns": retention_period_ns}])

    def create_table(self, database: str, table: str, tags: list[str],
                     fields: list[tuple[str, ColumnType]], max_columns: int | None = None) -> None:
        """Define a table, creating its database if there is none by that name; at most
        `max_columns` columns (`time` included), as writes are held to."""
        check_table_name(table)
        names = [*tags, *(name for name, _ in fields)]
        _check_column_count(table, len(names) + 1, max_columns)  # and `time`, as writes count
        for name in names:
            check_column_name(name)
        if len(set(names)) != len(names):
            raise InvalidRequest(f"table '{table}': a column name is given twice")
        with self.lock:
            ops = []
            if database not in self.databases:  # as a write would, and as upstream does
                check_database_name(database)
                ops.append(create_database_op(database, None))
            elif table in self.database(database).tables:
                raise AlreadyExists(f"table '{table}' already exists in database '{database}'")
            columns = [(t, ColumnType.TAG) for t in tags] + list(fields)
            self.commit([*ops, create_table_op(database, table, columns)])

    def add_columns(self, database: str, table: str, tags: list[str],
                    fields: list[tuple[str, ColumnType]], max_columns: int | None = None) -> None:
        """Declare columns on an existing table, add-only: a column it has at the same type is
        left as is, at another type refused; at most `max_columns` columns in all."""
        columns = [(t, ColumnType.TAG) for t in tags] + list(fields)
        if not columns:
            raise InvalidRequest(f"table '{table}': no columns to add: name 'tags' or 'fields'")
        names = [name for name, _ in columns]
        for name in names:
            check_column_name(name)
        if len(set(names)) != len(names):
            raise InvalidRequest(f"table '{table}': a column name is given twice")
        with self.lock:
            known = self.table(database, table).columns
            for name, kind in columns:
                if name in known and known[name] != kind:
                    raise InvalidRequest(f"column '{name}' of table '{table}' is "
                                         f"{known[name].value}, not {kind.value}: columns "
                                         "can be added, not changed")
            new = [(name, kind) for name, kind in columns if name not in known]
            _check_column_count(table, len(known) + len(new), max_columns)
            if new:
                self.commit([add_columns_op(database, table, new)])

    def delete_table(self, database: str, table: str, hard_delete_at_ns: int | None = None,
                     wal_sequence: int | None = None) -> None:
        """Soft-delete: writes refused, queries see nothing; files go at `hard_delete_at_ns`.
        `wal_sequence` is the last WAL file written so far (the purge, which frees the name,
        waits until it is gone)."""
        with self.lock:
            self.table(database, table)
            self.commit([{"op": "delete_table", "db": database, "table": table,
                          "hard_delete_at": hard_delete_at_ns, "wal_sequence": wal_sequence}])

    def _with_table_ids(self, ops: Iterable[dict]) -> list[dict]:
        """`ops` with an id in each create_table that has none (call with the lock held)."""
        stamped, next_id = [], self.next_table_id
        for op in ops:
            if op["op"] == "create_table" and op.get("table_id") is None:
                op = {**op, "table_id": next_id}
            if op["op"] == "create_table":
                next_id = max(next_id, op["table_id"] + 1)
            stamped.append(op)
        return stamped

    def _number_tables(self, next_table_id: int) -> None:
        """Give ids to tables loaded from a checkpoint written before ids existed."""
        tables = [t for db in self.databases.values() for t in db.tables.values()]
        known = [t.table_id for t in tables if t.table_id is not None]
        self.next_table_id = max([next_table_id, *(i + 1 for i in known)])
        for t in tables:
            if t.table_id is None:
                t.table_id = self._take_table_id(None)

    def _take_table_id(self, table_id: int | None) -> int:
        """`table_id`, or the next free id when None (log records from before ids existed)."""
        if table_id is None:
            table_id = self.next_table_id
        self.next_table_id = max(self.next_table_id, table_id + 1)
        return table_id

    def _apply(self, op: dict) -> None:
        kind = op["op"]
        if kind == "create_database":
            self.databases[op["name"]] = Database(op["name"], op.get("retention_period_ns"))
        elif kind == "delete_database":
            self.databases[op["name"]].deleted = True
            self.databases[op["name"]].hard_delete_at_ns = op.get("hard_delete_at")
            self.databases[op["name"]].deleted_wal_sequence = op.get("wal_sequence")
        elif kind == "set_retention":
            self.databases[op["name"]].retention_period_ns = op["retention_period_ns"]
        elif kind == "purge_database":  # a deleted database's files are gone: free its name
            self.databases.pop(op["name"], None)
        elif kind == "purge_table":
            db = self.databases.get(op["db"])
            if db is not None:
                db.tables.pop(op["table"], None)
        elif kind == "create_table":
            columns = {name: ColumnType(t) for name, t in op["columns"]}
            columns["time"] = ColumnType.TIME
            self.databases[op["db"]].tables[op["table"]] = Table(
                op["table"], columns, table_id=self._take_table_id(op.get("table_id")))
        elif kind == "add_columns":
            table = self.databases[op["db"]].tables[op["table"]]
            for name, t in op["columns"]:
                table.columns[name] = ColumnType(t)
        elif kind == "delete_table":
            table = self.databases[op["db"]].tables[op["table"]]
            table.deleted = True
            table.hard_delete_at_ns = op.get("hard_delete_at")
            table.deleted_wal_sequence = op.get("wal_sequence")
        elif kind == "put_trigger":  # create, or replace with changed settings
            trigger = TriggerDefinition.from_json(op["trigger"])
            self.databases[op["db"]].triggers[trigger.name] = trigger
        elif kind == "delete_trigger":
            self.databases[op["db"]].triggers.pop(op["name"], None)
        elif kind == "put_last_cache":
            cache = LastCacheDefinition.from_json(op["cache"])
            self.databases[op["db"]].last_caches[cache.name] = cache
        elif kind == "delete_last_cache":
            self.databases[op["db"]].last_caches.pop(op["name"], None)
        elif kind == "put_distinct_cache":
            cache = DistinctCacheDefinition.from_json(op["cache"])
            self.databases[op["db"]].distinct_caches[cache.name] = cache
        elif kind == "delete_distinct_cache":
            self.databases[op["db"]].distinct_caches.pop(op["name"], None)
        elif kind == "put_token":  # create, or replace (a regenerated token)
            token = TokenDefinition.from_json(op["token"])
            self.tokens[token.name] = token
        elif kind == "delete_token":
            self.tokens.pop(op["name"], None)
        else:
            raise ValueError(f"unknown catalog operation {kind!r}")

    def to_json(self) -> dict:
        with self.lock:
            return {"databases": [db.to_json() for db in self.databases.values()],
                    "tokens": [t.to_json() for t in self.tokens.values()],
                    "next_table_id": self.next_table_id}


def create_database_op(name: str, retention_period_ns: int | None = None) -> dict:
    return {"op": "create_database", "name": name, "retention_period_ns": retention_period_ns}


def _check_column_count(table: str, count: int, max_columns: int | None) -> None:
    if max_columns is not None and count > max_columns:
        raise InvalidRequest(f"table '{table}' would have {count} columns, more than the limit "
                             f"of {max_columns} (the server's max_columns_per_table)")


def create_table_op(database: str, table: str, columns: list[tuple[str, ColumnType]]) -> dict:
    return {"op": "create_table", "db": database, "table": table,
            "columns": [[name, kind.value] for name, kind in columns]}


def add_columns_op(database: str, table: str, columns: list[tuple[str, ColumnType]]) -> dict:
    return {"op": "add_columns", "db": database, "table": table,
            "columns": [[name, kind.value] for name, kind in columns]}
