"""The parser's output: columnar segments of lines that share one shape, plus per-line errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pyarrow as pa


class LineProtocolError(ValueError):
    """A whole request body cannot be parsed (for example it is not UTF-8)."""


class FieldType(enum.Enum):
    """The five field types of line protocol; the value is the name users see in errors and APIs."""

    FLOAT = "float64"
    INTEGER = "int64"
    UINTEGER = "uint64"
    STRING = "utf8"
    BOOLEAN = "bool"

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self]


_ARROW_TYPES = {
    FieldType.FLOAT: pa.float64(),
    FieldType.INTEGER: pa.int64(),
    FieldType.UINTEGER: pa.uint64(),
    FieldType.STRING: pa.string(),
    FieldType.BOOLEAN: pa.bool_(),
}


class Precision(enum.Enum):
    """Timestamp precision of a write; AUTO guesses per line from the magnitude."""

    AUTO = "auto"
    SECOND = "s"
    MILLISECOND = "ms"
    MICROSECOND = "us"
    NANOSECOND = "ns"

    @classmethod
    def parse(cls, text: str) -> Precision:
        """Accept every spelling of the contract (`s`, `second`, `u`, `microsecond`, ...)."""
        try:
            return _PRECISION_NAMES[text.strip().lower()]
        except KeyError:
            raise LineProtocolError(
                f"invalid precision '{text}': use one of auto, s, ms, us, ns"
            ) from None


_PRECISION_NAMES = {
    "auto": Precision.AUTO,
    "s": Precision.SECOND,
    "second": Precision.SECOND,
    "ms": Precision.MILLISECOND,
    "millisecond": Precision.MILLISECOND,
    "us": Precision.MICROSECOND,
    "u": Precision.MICROSECOND,
    "microsecond": Precision.MICROSECOND,
    "ns": Precision.NANOSECOND,
    "n": Precision.NANOSECOND,
    "nanosecond": Precision.NANOSECOND,
}


@dataclass(frozen=True)
class LineError:
    """One rejected line. `line_number` is 1-based over counted lines (blank and comment lines
    are not counted); `original_line` is the full text of the line."""

    line_number: int
    original_line: str
    message: str


@dataclass
class Segment:
    """Lines of one table that share one shape: the same tag keys and the same fields with the
    same types, in the same order. Every array has one entry per line, in line order.

    - `tags`: tag key -> pa.string() array (no nulls)
    - `fields`: field key -> array of that field's arrow type (no nulls)
    - `time`: pa.int64() nanoseconds since the epoch, already scaled by precision, with the
      default (ingest) time filled in for lines without a timestamp
    - `line_numbers`: pa.int32(), 1-based counted line numbers
    """

    table: str
    tag_keys: tuple[str, ...]
    field_types: tuple[tuple[str, FieldType], ...]
    tags: dict[str, pa.Array]
    fields: dict[str, pa.Array]
    time: pa.Array
    line_numbers: pa.Array

    def __len__(self) -> int:
        return len(self.time)


@dataclass
class ParsedBody:
    """The result of parsing one request body."""

    segments: list[Segment] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    line_count: int = 0
    lines: list[str] | None = None  # counted lines' text, filled only when errors need it

    def rows(self) -> list[tuple]:
        """Every parsed line as `(line_number, table, tags, fields, time)` sorted by line number,
        with `tags`/`fields` as tuples of (key, value) in line order and field values as
        `(FieldType, python value)`. A normal form for comparing the two parser paths."""
        out = []
        for seg in self.segments:
            tag_cols = [seg.tags[k].to_pylist() for k in seg.tag_keys]
            field_cols = [seg.fields[k].to_pylist() for k, _ in seg.field_types]
            times = seg.time.to_pylist()
            for i, line_number in enumerate(seg.line_numbers.to_pylist()):
                tags = tuple((k, col[i]) for k, col in zip(seg.tag_keys, tag_cols, strict=True))
                fields = tuple(
                    (k, (t, col[i]))
                    for (k, t), col in zip(seg.field_types, field_cols, strict=True)
                )
                out.append((line_number, seg.table, tags, fields, times[i]))
        out.sort(key=lambda r: r[0])
        return out
