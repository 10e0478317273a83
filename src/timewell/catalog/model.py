"""What the catalog knows: databases, their tables, and each table's typed columns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pyarrow as pa

from timewell.lineprotocol.types import FieldType


class ColumnType(enum.Enum):
    """A column's kind, fixed by its first write. Values are the names users see in errors."""

    TAG = "tag"
    FLOAT = "float64"
    INTEGER = "int64"
    UINTEGER = "uint64"
    STRING = "utf8"
    BOOLEAN = "bool"
    TIME = "time"

    @classmethod
    def of_field(cls, field_type: FieldType) -> ColumnType:
        return cls(field_type.value)

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self]


TAG_ARROW_TYPE = pa.dictionary(pa.int32(), pa.string())
TIME_ARROW_TYPE = pa.timestamp("ns")
_ARROW_TYPES = {
    ColumnType.TAG: TAG_ARROW_TYPE,
    ColumnType.FLOAT: pa.float64(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.UINTEGER: pa.uint64(),
    ColumnType.STRING: pa.string(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.TIME: TIME_ARROW_TYPE,
}


@dataclass
class Table:
    name: str
    columns: dict[str, ColumnType] = field(default_factory=dict)  # in order of creation
    deleted: bool = False
    hard_delete_at_ns: int | None = None  # when a deleted table's files go
    # Unique in the catalog and never reused (names are, once a deleted table is purged):
    # WAL writes carry it, so rows of a deleted table never land in a new one of that name.
    table_id: int | None = None
    deleted_wal_sequence: int | None = None  # the last WAL file written before the delete

    @property
    def series_key(self) -> list[str]:
        """Tag columns in the order they first appeared."""
        return [name for name, kind in self.columns.items() if kind is ColumnType.TAG]

    def arrow_schema(self) -> pa.Schema:
        """The query schema: columns sorted by name, as InfluxDB 3 shows them."""
        return pa.schema(
            [pa.field(name, self.columns[name].arrow_type) for name in sorted(self.columns)]
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "columns": [[name, kind.value] for name, kind in self.columns.items()],
            "deleted": self.deleted,
            "hard_delete_at_ns": self.hard_delete_at_ns,
            "table_id": self.table_id,
            "deleted_wal_sequence": self.deleted_wal_sequence,
        }

    @classmethod
    def from_json(cls, data: dict) -> Table:
        columns = {name: ColumnType(kind) for name, kind in data["columns"]}
        return cls(data["name"], columns, data.get("deleted", False),
                   data.get("hard_delete_at_ns"), data.get("table_id"),
                   data.get("deleted_wal_sequence"))


@dataclass
class TriggerDefinition:
    """A processing-engine trigger: which plugin runs on which event, with which settings."""

    name: str
    plugin_filename: str
    trigger_specification: str
    trigger_arguments: dict[str, str] | None = None
    run_async: bool = False
    error_behavior: str = "log"  # log | retry | disable
    disabled: bool = False
    extra: dict = field(default_factory=dict)  # e.g. plugin source and version, public flag

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> TriggerDefinition:
        return cls(**data)


@dataclass
class LastCacheDefinition:
    table: str
    name: str
    key_columns: list[str]
    value_columns: list[str] | None  # None: every non-key column, including ones added later
    count: int = 1
    ttl_s: float = 4 * 3600

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> LastCacheDefinition:
        return cls(**data)


@dataclass
class DistinctCacheDefinition:
    table: str
    name: str
    columns: list[str]
    max_cardinality: int = 100_000
    max_age_s: float = 86_400

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> DistinctCacheDefinition:
        return cls(**data)


@dataclass
class TokenDefinition:
    """An API token as the catalog keeps it: never the token itself, only its SHA-512."""

    id: int
    name: str
    hash: str  # hex SHA-512 of the token text
    created_at_ms: int
    expiry_ms: int | None = None  # None: never expires
    description: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> TokenDefinition:
        return cls(**data)


@dataclass
class Database:
    name: str
    retention_period_ns: int | None = None
    deleted: bool = False
    tables: dict[str, Table] = field(default_factory=dict)
    hard_delete_at_ns: int | None = None  # when a deleted database's files go
    deleted_wal_sequence: int | None = None  # the last WAL file written before the delete
    triggers: dict[str, TriggerDefinition] = field(default_factory=dict)
    last_caches: dict[str, LastCacheDefinition] = field(default_factory=dict)
    distinct_caches: dict[str, DistinctCacheDefinition] = field(default_factory=dict)

    def live_tables(self) -> dict[str, Table]:
        return {name: t for name, t in self.tables.items() if not t.deleted}

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "retention_period_ns": self.retention_period_ns,
            "deleted": self.deleted,
            "hard_delete_at_ns": self.hard_delete_at_ns,
            "deleted_wal_sequence": self.deleted_wal_sequence,
            "tables": [t.to_json() for t in self.tables.values()],
            "triggers": [t.to_json() for t in self.triggers.values()],
            "last_caches": [c.to_json() for c in self.last_caches.values()],
            "distinct_caches": [c.to_json() for c in self.distinct_caches.values()],
        }

    @classmethod
    def from_json(cls, data: dict) -> Database:
        tables = {t["name"]: Table.from_json(t) for t in data["tables"]}
        db = cls(data["name"], data.get("retention_period_ns"), data.get("deleted", False), tables,
                 hard_delete_at_ns=data.get("hard_delete_at_ns"),
                 deleted_wal_sequence=data.get("deleted_wal_sequence"))
        for t in data.get("triggers", []):
            db.triggers[t["name"]] = TriggerDefinition.from_json(t)
        for c in data.get("last_caches", []):
            db.last_caches[c["name"]] = LastCacheDefinition.from_json(c)
        for c in data.get("distinct_caches", []):
            db.distinct_caches[c["name"]] = DistinctCacheDefinition.from_json(c)
        return db
