"""Query results as json, jsonl, csv, pretty tables or Parquet, as the v3 query API returns them."""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterator

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from timewell.errors import InvalidRequest


class ResultFormat(enum.Enum):
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    PRETTY = "pretty"
    PARQUET = "parquet"
    ARROW = "arrow"  # an Arrow IPC stream

    @property
    def streams(self) -> bool:
        """Whether answers in this format are sent batch by batch as they are computed."""
        return self in (ResultFormat.JSONL, ResultFormat.CSV, ResultFormat.ARROW)

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @classmethod
    def parse(cls, text: str) -> ResultFormat:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidRequest(
                f"unknown format '{text}': use json, jsonl, csv, pretty, parquet or arrow"
            ) from None

    @classmethod
    def from_accept(cls, accept: str | None) -> ResultFormat:
        """The format an `Accept` header asks for; json when it names none we know."""
        for part in (accept or "").split(","):
            media = part.split(";")[0].strip().lower()
            for fmt, known in _MEDIA_TYPES.items():
                if media == known:
                    return fmt
        return cls.JSON


_MEDIA_TYPES = {
    ResultFormat.JSON: "application/json",
    ResultFormat.JSONL: "application/jsonl",
    ResultFormat.CSV: "text/csv",
    ResultFormat.PRETTY: "text/plain",
    ResultFormat.PARQUET: "application/vnd.apache.parquet",
    ResultFormat.ARROW: "application/vnd.apache.arrow.stream",
}


def render_stream(schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                  fmt: ResultFormat) -> Iterator[bytes]:
    """A streaming format's bytes, a piece per batch (CSV's header, Arrow's schema first)."""
    if fmt is ResultFormat.ARROW:
        sink = _Pieces()
        with pa.ipc.new_stream(sink, schema) as writer:
            yield sink.take()
            for batch in batches:
                writer.write_batch(batch)
                yield sink.take()
        yield sink.take()  # the end-of-stream marker
        return
    header = fmt is ResultFormat.CSV
    for batch in batches:
        table = pa.Table.from_batches([batch], schema)
        if fmt is ResultFormat.CSV:
            yield _csv(_printable(table), header=header).encode()
            header = False
        else:
            yield render(table, fmt)
    if header:  # no rows: the header alone
        yield _csv(schema.empty_table(), header=True).encode()


class _Pieces(io.RawIOBase):
    """A write-only file keeping what was written until `take`n."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def render(table: pa.Table, fmt: ResultFormat) -> bytes:
    if fmt is ResultFormat.ARROW:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()
    if fmt is ResultFormat.PARQUET:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()
    table = _printable(table)
    if fmt is ResultFormat.JSON:
        return orjson.dumps(_rows(table), default=str)
    if fmt is ResultFormat.JSONL:
        return b"".join(orjson.dumps(row, default=str) + b"\n" for row in _rows(table))
    if fmt is ResultFormat.CSV:
        return _csv(table).encode()
    # as upstream's HTTP API: no newline after the table (its CLI adds one when printing)
    return pretty(table).removesuffix("\n").encode()


def pretty(table: pa.Table) -> str:
    """An ASCII table like DataFusion's (and the influxdb3 CLI's) pretty printer."""
    names = table.column_names
    columns = [[_cell(v) for v in table.column(i).to_pylist()] for i in range(len(names))]
    widths = [max([len(name), *map(len, col)]) for name, col in zip(names, columns, strict=True)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [rule, "|" + "|".join(f" {n:<{w}} " for n, w in zip(names, widths, strict=True)) + "|",
             rule]
    for row in zip(*columns, strict=True):
        lines.append("|" + "|".join(f" {v:<{w}} " for v, w in zip(row, widths, strict=True)) + "|")
    if table.num_rows:
        lines.append(rule)
    return "\n".join(lines) + "\n"


def _csv(table: pa.Table, header: bool = True) -> str:
    """Header once, quotes only where a value needs them."""
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    if header:
        writer.writerow(table.column_names)
    columns = [[_cell(v) for v in column.to_pylist()] for column in table.columns]
    writer.writerows(zip(*columns, strict=True))
    return sink.getvalue()


def _cell(value) -> str:
    """A value as Arrow's display prints it: lists `[a, b]` and structs `{k: v}`, their
    strings unquoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_cell(v)}" for k, v in value.items()) + "}"
    return str(value)


def _rows(table: pa.Table) -> list[dict]:
    """Row objects without their null members, as InfluxDB 3's JSON output has them."""
    return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]


def _printable(table: pa.Table) -> pa.Table:
    """Timestamps as `2024-01-01T00:00:00[.fff]` text and dictionaries as plain strings."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, timestamp_text(table.column(i)))
        elif pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
        elif pa.types.is_duration(field.type):
            # Python's timedelta has no nanoseconds; durations are shown as integers of their
            # unit (nanoseconds for system.queries.end2end_duration).
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    return table


def timestamp_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO-8601 without zone; the fraction has 0, 3, 6 or 9 digits, as chrono's `%.f` prints it."""
    ns = column.cast(pa.timestamp("ns", tz=column.type.tz))
    seconds = pc.floor_temporal(ns, unit="second")
    base = pc.strftime(seconds.cast(pa.timestamp("s", tz=column.type.tz)),
                       format="%Y-%m-%dT%H:%M:%S")
    fraction = pc.subtract(ns.cast(pa.int64()), seconds.cast(pa.int64()))
    millis = pc.equal(pc.remainder(fraction, 1_000_000), 0)
    micros = pc.equal(pc.remainder(fraction, 1_000), 0)
    digits = pc.if_else(millis, 3, pc.if_else(micros, 6, 9))
    scaled = pc.if_else(millis, pc.divide(fraction, 1_000_000),
                        pc.if_else(micros, pc.divide(fraction, 1_000), fraction))
    text = pc.cast(scaled, pa.string())
    padded = pc.if_else(pc.equal(digits, 3), pc.utf8_lpad(text, 3, "0"),
                        pc.if_else(pc.equal(digits, 6), pc.utf8_lpad(text, 6, "0"),
                                   pc.utf8_lpad(text, 9, "0")))
    suffix = pc.if_else(pc.equal(fraction, 0), "", pc.binary_join_element_wise(".", padded, ""))
    return pc.binary_join_element_wise(base, suffix, "")
