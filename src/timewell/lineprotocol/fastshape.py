"""One shape the columnar fast path can take: the pattern its lines must match exactly, and
the bulk extraction of their columns.

A line matches only when it is plainly written: no escapes, no leading or repeated spaces,
tag values and strings free of ` ,=\\`, integers short enough that they cannot overflow. For
such a line the exact parser is certain to accept it with the sample's shape, and separators
can be turned into spaces and the lines read as a space-delimited table by Arrow's CSV
reader, which converts the value columns in C++. Everything else is left to the exact parser.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from .exact import Point
from .types import FieldType

# The patterns below are written in the common subset of RE2 (Arrow's regex engine) and
# Python's `re`, so the same text tests a single line here and whole columns in Arrow.
# Control characters are kept out of names and values to stay clear of anything the CSV
# reader might treat specially (it would end a row at `\r`).
_PLAIN = r"[^\x00-\x08\x0a-\x1f\x7f ,=\\]"
_TAG_VALUE = _PLAIN + "+"
# Integers of up to 18 digits, or 19 starting 1-8, fit in int64 (2**63 ~ 9.22e18); longer
# ones go to the exact parser, which checks the range and reports overflow.
_INT64 = r"-?(?:[0-9]{1,18}|[1-8][0-9]{18})"
_UINT64 = r"(?:[0-9]{1,19}|1[0-7][0-9]{18})"  # 2**64 ~ 1.84e19
_VALUE = {
    FieldType.FLOAT: r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?",
    FieldType.INTEGER: _INT64 + "i",
    FieldType.UINTEGER: _UINT64 + "u",
    FieldType.BOOLEAN: r"(?:t|T|true|True|TRUE|f|F|false|False|FALSE)",
    FieldType.STRING: r'"' + _PLAIN.replace(" ,=", ' ,="') + '*"',
}
_REGEX_SPECIAL = frozenset("\\^$.|?*+()[]{}-#&~")
_NAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f ,="\\]')

_PARSE_OPTIONS = pcsv.ParseOptions(
    delimiter=" ", quote_char=False, escape_char=False, ignore_empty_lines=False
)


def _literal(name: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in name)


class FastShape:
    """The fast-path form of one line shape: measurement, tag keys, typed fields, and whether
    lines carry a timestamp."""

    def __init__(self, sample: Point) -> None:
        self.shape = sample.shape
        self.has_time = sample.has_time
        table, tag_keys, field_types = self.shape
        self.prefix = table + ("," if tag_keys else " ")
        pattern = _literal(table)
        for key in tag_keys:
            pattern += f",{_literal(key)}={_TAG_VALUE}"
        pattern += " " + ",".join(f"{_literal(k)}={_VALUE[t]}" for k, t in field_types)
        if self.has_time:
            pattern += " " + _INT64
        self.line_pattern = pattern
        self._python = re.compile(pattern)
        self._read = self._read_options_factory()

    @staticmethod
    def accepts(sample: Point) -> bool:
        """Whether the sample's names can be written literally (no escapes needed)."""
        table, tag_keys, field_types = sample.shape
        names = (table, *tag_keys, *(k for k, _ in field_types))
        return not any(_NAME_UNSAFE.search(name) for name in names) and not table.startswith(
            "#"
        )

    def matches(self, line: str) -> bool:
        return self._python.fullmatch(line) is not None

    def line_regex(self) -> str:
        return f"^{self.line_pattern}$"

    def body_regex(self) -> str:
        """Matches a whole body made only of this shape's lines (optionally `\\n`-ended)."""
        return f"^(?:{self.line_pattern}\\n)*{self.line_pattern}\\n?$"

    def extract(self, data: bytes) -> tuple[dict[str, pa.Array], dict[str, pa.Array], pa.Array]:
        """Columns of `data`: `\\n`-separated lines all matching this shape. Returns tag
        columns, field columns and the raw (unscaled) timestamp column, or an empty array
        when lines carry no timestamp."""
        data = data.replace(b",", b" ").replace(b"=", b" ")
        names, convert = self._read
        table = pcsv.read_csv(
            pa.py_buffer(data),
            read_options=pcsv.ReadOptions(
                use_threads=False, column_names=names, block_size=len(data) + 1
            ),
            parse_options=_PARSE_OPTIONS,
            convert_options=convert,
        )
        _, tag_keys, field_types = self.shape

        def column(index: int) -> pa.Array:
            return table.column(f"c{index}").combine_chunks()

        tags = {key: column(2 + 2 * i) for i, key in enumerate(tag_keys)}
        first_field = 2 + 2 * len(tag_keys)
        fields = {
            key: _finish(column(first_field + 2 * i), ftype)
            for i, (key, ftype) in enumerate(field_types)
        }
        times = column(first_field + 2 * len(field_types) - 1) if self.has_time else pa.array(
            [], pa.int64()
        )
        return tags, fields, times

    def _read_options_factory(self) -> tuple[list[str], pcsv.ConvertOptions]:
        _, tag_keys, field_types = self.shape
        # Tokens: measurement, (tag key, tag value)*, (field key, field value)*, [timestamp].
        count = 1 + 2 * len(tag_keys) + 2 * len(field_types) + (1 if self.has_time else 0)
        names = [f"c{i}" for i in range(count)]
        types: dict[str, pa.DataType] = {}
        for i in range(len(tag_keys)):
            types[f"c{2 + 2 * i}"] = pa.string()
        first_field = 2 + 2 * len(tag_keys)
        for i, (_, ftype) in enumerate(field_types):
            direct = ftype in (FieldType.FLOAT, FieldType.BOOLEAN)
            types[f"c{first_field + 2 * i}"] = ftype.arrow_type if direct else pa.string()
        if self.has_time:
            types[names[-1]] = pa.int64()
        convert = pcsv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            null_values=[],
            true_values=["t", "T", "true", "True", "TRUE"],
            false_values=["f", "F", "false", "False", "FALSE"],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=False,  # the body was decoded as UTF-8 before
        )
        return names, convert


def _finish(raw: pa.Array, ftype: FieldType) -> pa.Array:
    """Turn a CSV column of this field's tokens into the field's arrow type."""
    if ftype in (FieldType.FLOAT, FieldType.BOOLEAN):
        return raw
    as_bytes = raw.view(pa.binary())
    if ftype is FieldType.STRING:
        return pc.binary_slice(as_bytes, 1, -1).view(pa.string())  # drop the quotes
    return pc.cast(pc.binary_slice(as_bytes, 0, -1), ftype.arrow_type)  # drop `i` / `u`
