"""Arrow data as the Python values plugins receive: rows of dicts, timestamps as int
nanoseconds, tags and strings as str, NULL as None."""

from __future__ import annotations

import pyarrow as pa

from timewell.lineprotocol import ParsedBody
from timewell.storage.wal import WalFlush


def plain_columns(table: pa.Table) -> pa.Table:
    """Timestamps as int64 nanoseconds and dictionaries as their values."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            column = table.column(i)
            if field.type.unit != "ns":
                column = column.cast(pa.timestamp("ns", tz=field.type.tz))
            table = table.set_column(i, field.name, column.cast(pa.int64()))
        elif pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def query_rows(table: pa.Table) -> list[dict]:
    return plain_columns(table).to_pylist()


def written_rows(table: pa.Table) -> list[dict]:
    """Rows holding only the columns each line wrote."""
    return [{k: v for k, v in row.items() if v is not None}
            for row in plain_columns(table).to_pylist()]


def flush_batches(flush: WalFlush, database: str, table: str | None) -> list[dict]:
    """`table_batches` for a write trigger: one entry per table of `database` in the flush
    (only `table` when given)."""
    return [
        {"table_name": write.table, "rows": written_rows(write.data)}
        for write in flush.writes
        if write.database == database and (table is None or write.table == table)
    ]


def parsed_batches(parsed: ParsedBody, table: str | None = None) -> list[dict]:
    """`table_batches` straight from parsed line protocol (dry runs write nothing)."""
    by_table: dict[str, list[tuple[int, dict]]] = {}
    for line_number, name, tags, fields, time_ns in parsed.rows():
        if table is not None and name != table:
            continue
        row = dict(tags)
        row.update((key, value) for key, (_, value) in fields)
        row["time"] = time_ns
        by_table.setdefault(name, []).append((line_number, row))
    return [{"table_name": name, "rows": [row for _, row in rows]}
            for name, rows in by_table.items()]
