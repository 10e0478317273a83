"""InfluxQL results: series, and their shapes on the wire.

InfluxDB 1.x answers `/query` with `{"results":[{"statement_id":0,"series":[...]}]}` (JSON,
optionally chunked) or CSV; InfluxDB 3 answers InfluxQL with one table whose first column,
`iox::measurement`, names each row's series. Both come from the same `Series` list.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import orjson
import pyarrow as pa

from timewell.query.influxql import zone

EPOCH_UNITS_NS = {"ns": 1, "n": 1, "u": 1_000, "µ": 1_000, "ms": 1_000_000,
                  "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
DEFAULT_CHUNK_SIZE = 10_000


@dataclass
class Series:
    name: str | None
    tags: dict[str, str]  # GROUP BY tag values; empty without GROUP BY tags
    columns: list[str]  # "time" first for SELECT results, its values int nanoseconds
    values: list[list]
    grouped: bool = False  # a GROUP BY named tags, so v1 shows "tags" even when empty
    location: str | None = None  # tz(): times written with this zone's offset


def limited(rows: list, limit: int, offset: int) -> list:
    """`rows` cut by OFFSET and LIMIT (0: none)."""
    if offset:
        rows = rows[offset:]
    if limit:
        rows = rows[:limit]
    return rows


def ordered_series(series: list[Series], descending: bool, soffset: int,
                   slimit: int) -> list[Series]:
    """A statement's series in InfluxQL's order (by name, then tag values), cut by SOFFSET
    and SLIMIT, then reversed with ORDER BY time DESC (1.x cuts before it reverses)."""
    series = sorted(series, key=lambda s: (s.name, tuple(s.tags.values())))
    if soffset:
        series = series[soffset:]
    if slimit:
        series = series[:slimit]
    return series[::-1] if descending else series


@dataclass
class StatementResult:
    statement_id: int
    series: list[Series] = field(default_factory=list)
    error: str | None = None


# -- v1 JSON


def v1_json(results: list[StatementResult], epoch: str | None = None) -> bytes:
    return orjson.dumps({"results": [_v1_result(r, epoch) for r in results]})


def v1_json_chunks(results: list[StatementResult], epoch: str | None,
                   chunk_size: int) -> Iterator[bytes]:
    """Chunked responses as 1.x streams them: one JSON object per line, each with a part of one
    series; `partial` marks a series (and a statement) that continues in the next object."""
    chunk_size = chunk_size if chunk_size > 0 else DEFAULT_CHUNK_SIZE
    for result in results:
        if result.error is not None or not result.series:
            yield orjson.dumps({"results": [_v1_result(result, epoch)]}) + b"\n"
            continue
        pieces: list[dict] = []
        for series in result.series:
            values = series.values
            starts = range(0, max(len(values), 1), chunk_size)
            for start in starts:
                piece = _v1_series(series, epoch, values[start:start + chunk_size])
                if start + chunk_size < len(values):
                    piece["partial"] = True
                pieces.append(piece)
        for i, piece in enumerate(pieces):
            body: dict = {"statement_id": result.statement_id, "series": [piece]}
            if i + 1 < len(pieces):
                body["partial"] = True
            yield orjson.dumps({"results": [body]}) + b"\n"


def _v1_result(result: StatementResult, epoch: str | None) -> dict:
    body: dict = {"statement_id": result.statement_id}
    if result.error is not None:
        body["error"] = result.error
    elif result.series:
        body["series"] = [_v1_series(s, epoch, s.values) for s in result.series]
    return body


def _v1_series(series: Series, epoch: str | None, values: list[list]) -> dict:
    body: dict = {}
    if series.name is not None:
        body["name"] = series.name
    if series.tags or series.grouped:
        body["tags"] = dict(sorted(series.tags.items()))
    body["columns"] = series.columns
    timed = bool(series.columns) and series.columns[0] == "time"
    unit = EPOCH_UNITS_NS.get(epoch) if epoch else None
    if values or not series.columns or series.columns[0] == "time":
        body["values"] = [_v1_row(row, timed, unit, series.location) for row in values]
    return body  # a SHOW with nothing to list (SHOW USERS) has columns only, as in 1.x


def _v1_row(row: list, timed: bool, unit: int | None, location: str | None = None) -> list:
    out = [_v1_value(v) for v in row]
    if timed and row and row[0] is not None:
        if unit:
            out[0] = _epoch(row[0], unit)
        elif location is not None:
            out[0] = zone.rfc3339(row[0], zone.load(location), rfc3339)
        else:
            out[0] = rfc3339(row[0])
    return out


def _v1_value(value):
    # Go's encoding/json writes an integral float64 without a fraction (4, not 4.0).
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < 1e21:
            return int(value)
    return value


def _epoch(ns: int, unit: int) -> int:
    quotient = abs(ns) // unit
    return quotient if ns >= 0 else -quotient  # Go's integer division truncates toward zero


@functools.lru_cache(maxsize=4096)  # the same bucket starts repeat across series
def rfc3339(ns: int) -> str:
    """RFC 3339 with as many fraction digits as needed, as Go's time.RFC3339Nano prints."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = _seconds_text(seconds)
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def _seconds_text(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    year, month, day = _civil(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def _civil(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian date for days since 1970-01-01 (any int64 nanosecond time)."""
    days += 719_468
    era = (days if days >= 0 else days - 146_096) // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return (year + (month <= 2), month, day)


# -- v1 CSV


def v1_csv(results: list[StatementResult], epoch: str | None = None) -> bytes:
    """CSV as 1.x writes it: `name,tags,<columns>`, times as integers, a blank line and a new
    header whenever the statement or the columns change."""
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    unit = EPOCH_UNITS_NS.get(epoch) if epoch else 1
    header: list[str] | None = None
    for result in results:
        if result.error is not None:
            writer.writerows([["error"], [result.error]])
            continue
        for i, series in enumerate(result.series):
            if header is None or i == 0 or series.columns != header:
                if header is not None:
                    sink.write("\n")
                header = series.columns
                writer.writerow(["name", "tags", *header])
            tags = ",".join(f"{_escape_tag(k)}={_escape_tag(v)}"
                            for k, v in sorted(series.tags.items()))
            timed = bool(series.columns) and series.columns[0] == "time"
            for row in series.values:
                cells = [_csv_cell(v) for v in row]
                if timed and row and row[0] is not None:
                    cells[0] = str(_epoch(row[0], unit or 1))
                writer.writerow([series.name or "", tags, *cells])
    return sink.getvalue().encode()


def _escape_tag(text: str) -> str:
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text
    return str(value)


# -- v3 table


def v3_table(series_list: list[Series]) -> pa.Table:
    """All series as one table: `iox::measurement`, `time`, the GROUP BY tags, the values."""
    timed = any(s.columns[:1] == ["time"] for s in series_list)
    tag_keys = list(dict.fromkeys(k for s in series_list for k in sorted(s.tags)))
    value_names = list(dict.fromkeys(c for s in series_list
                                     for c in (s.columns[1:] if timed else s.columns)))
    measurement: list[str | None] = []
    times: list[int | None] = []
    tags: dict[str, list] = {k: [] for k in tag_keys}
    values: dict[str, list] = {c: [] for c in value_names}
    for series in series_list:
        n = len(series.values)
        measurement.extend([series.name] * n)
        index = {c: i for i, c in enumerate(series.columns)}
        if timed:
            times.extend(row[0] for row in series.values)
        for key in tag_keys:
            tags[key].extend([series.tags.get(key)] * n)
        for name in value_names:
            position = index.get(name)
            values[name].extend([None] * n if position is None
                                else [row[position] for row in series.values])
    columns: dict[str, pa.Array] = {"iox::measurement": pa.array(measurement, pa.string())}
    if timed:
        columns["time"] = pa.array(times, pa.timestamp("ns"))
    for key in tag_keys:
        columns[key] = pa.array(tags[key], pa.string())
    for name in value_names:
        if name in columns:
            continue
        columns[name] = _array(values[name])
    if not series_list:
        return pa.table({"iox::measurement": pa.array([], pa.string())})
    return pa.table(columns)


def _array(values: list) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
