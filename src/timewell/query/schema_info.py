"""`information_schema` with the type spellings of InfluxDB 3 (DataFusion's own view spells
the time type `Timestamp(ns)`, which plugins and tools written for InfluxDB 3 do not expect)."""

from __future__ import annotations

import pyarrow as pa

_SIMPLE_TYPES = {
    pa.float64(): "Float64",
    pa.float32(): "Float32",
    pa.int64(): "Int64",
    pa.int32(): "Int32",
    pa.int16(): "Int16",
    pa.int8(): "Int8",
    pa.uint64(): "UInt64",
    pa.uint32(): "UInt32",
    pa.uint16(): "UInt16",
    pa.uint8(): "UInt8",
    pa.string(): "Utf8",
    pa.large_string(): "LargeUtf8",
    pa.utf8(): "Utf8",
    pa.bool_(): "Boolean",
    pa.binary(): "Binary",
    pa.null(): "Null",
}
_TIME_UNITS = {"s": "Second", "ms": "Millisecond", "us": "Microsecond", "ns": "Nanosecond"}

INFORMATION_SCHEMA_TABLES = ("tables", "views", "columns", "schemata")


def table_type(schema: str) -> str:
    """`information_schema.tables.table_type` of the tables of `schema`."""
    return "VIEW" if schema == "information_schema" else "BASE TABLE"


def type_name(data_type: pa.DataType) -> str:
    """The DataFusion / InfluxDB 3 spelling of an Arrow type, e.g. `Dictionary(Int32, Utf8)`."""
    if data_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[data_type]
    if pa.types.is_dictionary(data_type):
        return f"Dictionary({type_name(data_type.index_type)}, {type_name(data_type.value_type)})"
    if pa.types.is_timestamp(data_type):
        zone = f'Some("{data_type.tz}")' if data_type.tz else "None"
        return f"Timestamp({_TIME_UNITS[data_type.unit]}, {zone})"
    if pa.types.is_duration(data_type):
        return f"Duration({_TIME_UNITS[data_type.unit]})"
    return str(data_type)


def tables_table(schemas: dict[str, dict[str, pa.Schema]]) -> pa.Table:
    """`schemas`: schema name -> table name -> Arrow schema, for every queryable table."""
    rows = [
        ("public", schema, name, table_type(schema))
        for schema, tables in schemas.items()
        for name in sorted(tables)
    ]
    rows += [("public", "information_schema", name, table_type("information_schema"))
             for name in INFORMATION_SCHEMA_TABLES]
    return _table(["table_catalog", "table_schema", "table_name", "table_type"], rows)


def columns_table(schemas: dict[str, dict[str, pa.Schema]]) -> pa.Table:
    rows = [
        ("public", schema, table, field.name, position, None,
         "NO" if _not_null(schema, field) else "YES", type_name(field.type))
        for schema, tables in schemas.items()
        for table, arrow_schema in sorted(tables.items())
        for position, field in enumerate(arrow_schema)
    ]
    names = ["table_catalog", "table_schema", "table_name", "column_name", "ordinal_position",
             "column_default", "is_nullable", "data_type"]
    types = [pa.string()] * 4 + [pa.uint64(), pa.string(), pa.string(), pa.string()]
    return _table(names, rows, types)


def _not_null(schema: str, field: pa.Field) -> bool:
    # a row always has a time (upstream's iox tables declare it NOT NULL)
    return not field.nullable or (schema == "iox" and field.name == "time")


def views_table() -> pa.Table:
    return _table(["table_catalog", "table_schema", "table_name", "definition"], [])


def schemata_table(schemas: list[str]) -> pa.Table:
    rows = [("public", name, None, None, None, None, None) for name in schemas]
    names = ["catalog_name", "schema_name", "schema_owner", "default_character_set_catalog",
             "default_character_set_schema", "default_character_set_name", "sql_path"]
    return _table(names, rows)


def view_schemas() -> dict[str, pa.Schema]:
    """The Arrow schemas of the `information_schema` views, by name."""
    return {"tables": tables_table({}).schema, "views": views_table().schema,
            "columns": columns_table({}).schema, "schemata": schemata_table([]).schema}


def _table(names: list[str], rows: list[tuple], types: list[pa.DataType] | None = None):
    types = types or [pa.string()] * len(names)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pa.table(
        [pa.array(list(col), type=t) for col, t in zip(columns, types, strict=True)],
        names=names,
    )
