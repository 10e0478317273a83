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
        }

    @classmethod
    def from_json(cls, data: dict) -> Table:
        columns = {name: ColumnType(kind) for name, kind in data["columns"]}
        return cls(data["name"], columns, data.get("deleted", False))


@dataclass
class Database:
    name: str
    retention_period_ns: int | None = None
    deleted: bool = False
    tables: dict[str, Table] = field(default_factory=dict)

    def live_tables(self) -> dict[str, Table]:
        return {name: t for name, t in self.tables.items() if not t.deleted}

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "retention_period_ns": self.retention_period_ns,
            "deleted": self.deleted,
            "tables": [t.to_json() for t in self.tables.values()],
        }

    @classmethod
    def from_json(cls, data: dict) -> Database:
        tables = {t["name"]: Table.from_json(t) for t in data["tables"]}
        return cls(data["name"], data.get("retention_period_ns"), data.get("deleted", False),
                   tables)
