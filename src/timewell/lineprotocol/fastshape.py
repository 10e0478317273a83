"""One shape the columnar fast path can take: the pattern its lines must match exactly, and
the bulk extraction of their columns.

A line matches only when it is plainly written: no escapes, no leading or repeated spaces, no
quotes or backslashes inside strings, tag values free of ` ,="\\`, integers short enough
that they cannot overflow. For such a line the exact parser is certain to accept it with the
sample's shape. Extraction cuts the strings out at their quotes, turns every remaining
separator into `=`, and reads the lines as an `=`-delimited table with Arrow's CSV reader,
which converts the value columns in C++. Everything else is left to the exact parser.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from .arrays import join, strided, string_array
from .exact import Point
from .types import FieldType

# The patterns below are written in the common subset of RE2 (Arrow's regex engine) and
# Python's `re`, so the same text tests a single line here and whole columns in Arrow.
# Control characters are kept out of names and values to stay clear of anything the CSV
# reader might treat specially (it would end a row at `\r`).
_TAG_VALUE = r'[^\x00-\x08\x0a-\x1f\x7f ,="\\]+'
# Integers of up to 18 digits, or 19 starting 1-8, fit in int64 (2**63 ~ 9.22e18); longer
# ones go to the exact parser, which checks the range and reports overflow.
_INT64 = r"-?(?:[0-9]{1,18}|[1-8][0-9]{18})"
_UINT64 = r"(?:[0-9]{1,19}|1[0-7][0-9]{18})"  # 2**64 ~ 1.84e19
_VALUE = {
    FieldType.FLOAT: r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?",
    FieldType.INTEGER: _INT64 + "i",
    FieldType.UINTEGER: _UINT64 + "u",
    FieldType.BOOLEAN: r"(?:t|T|true|True|TRUE|f|F|false|False|FALSE)",
    FieldType.STRING: r'"[^\x00-\x08\x0a-\x1f\x7f"\\]*"',
}
_REGEX_SPECIAL = frozenset("\\^$.|?*+()[]{}-#&~")
_NAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f ,="\\]')

_PARSE_OPTIONS = pcsv.ParseOptions(
    delimiter="=", quote_char=False, escape_char=False, ignore_empty_lines=False
)


_CACHE: dict[tuple[object, bool], FastShape | None] = {}
_CACHE_SIZE = 1024


def _literal(name: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in name)


class FastShape:
    """The fast-path form of one line shape: measurement, tag keys, typed fields, and whether
    lines carry a timestamp."""

    @classmethod
    def for_sample(cls, sample: Point) -> FastShape | None:
        """The fast shape of a sample line's shape, or None when it cannot have one. Shapes
        recur from request to request, so they are kept (a bounded number of them)."""
        key = (sample.shape, sample.has_time)
        try:
            return _CACHE[key]
        except KeyError:
            pass
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        shape = _CACHE[key] = cls(sample) if cls.accepts(sample) else None
        return shape

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
        self._strings = [k for k, t in field_types if t is FieldType.STRING]
        self._python = re.compile(pattern)
        self._read: tuple[list[str], pcsv.ConvertOptions | None] | None = None

    @staticmethod
    def accepts(sample: Point) -> bool:
        """Whether the sample's names can be written literally (no escapes needed)."""
        table, tag_keys, field_types = sample.shape
        names = (table, *tag_keys, *(k for k, _ in field_types))
        return not any(_NAME_UNSAFE.search(name) for name in names) and not table.startswith("#")

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
        strings: dict[str, pa.Array] = {}
        if self._strings:
            data, strings = self._cut_strings(data)
        # `=` is the most frequent separator, so the others become `=` (fewer replacements).
        data = data.replace(b",", b"=").replace(b" ", b"=")
        if self._read is None:
            self._read = self._read_options()
        names, convert = self._read
        if convert is None:  # nothing but strings: no table to read
            table = None
        else:
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
            assert table is not None
            return table.column(f"c{index}").combine_chunks()

        tags = {key: column(2 + 2 * i) for i, key in enumerate(tag_keys)}
        first_field = 2 + 2 * len(tag_keys)
        fields = {
            key: strings[key] if key in strings else _finish(column(first_field + 2 * i), ftype)
            for i, (key, ftype) in enumerate(field_types)
        }
        times = column(len(names) - 1) if self.has_time else pa.array([], pa.int64())
        count = len(next(iter(fields.values())))
        if any(len(c) != count for c in (*tags.values(), *fields.values())) or (
            self.has_time and len(times) != count
        ):
            raise pa.ArrowInvalid("columns of a fast shape differ in length")  # never expected
        return tags, fields, times

    def _cut_strings(self, data: bytes) -> tuple[bytes, dict[str, pa.Array]]:
        """Cut the string values out of the lines, so they may hold separators: returns the
        lines without them and the string columns. Every line has exactly two quotes per
        string field, since the pattern allows none inside strings or tag values."""
        pieces = pc.list_flatten(pc.split_pattern(string_array(data), '"'))
        per_line = 2 * len(self._strings)
        count = (len(pieces) - 1) // per_line
        columns = {
            key: pieces.take(strided(1 + 2 * i, per_line, count))
            for i, key in enumerate(self._strings)
        }
        outside = pieces.take(strided(0, 2, count * len(self._strings) + 1))
        return join(outside, ""), columns

    def _read_options(self) -> tuple[list[str], pcsv.ConvertOptions | None]:
        _, tag_keys, field_types = self.shape
        # Tokens: measurement, (tag key, tag value)*, (field key, field value)*, [timestamp].
        count = 1 + 2 * len(tag_keys) + 2 * len(field_types) + (1 if self.has_time else 0)
        names = [f"c{i}" for i in range(count)]
        types: dict[str, pa.DataType] = {}
        for i in range(len(tag_keys)):
            types[f"c{2 + 2 * i}"] = pa.string()
        first_field = 2 + 2 * len(tag_keys)
        for i, (_, ftype) in enumerate(field_types):
            if ftype is not FieldType.STRING:  # cut out before, see `_cut_strings`
                direct = ftype in (FieldType.FLOAT, FieldType.BOOLEAN)
                types[f"c{first_field + 2 * i}"] = ftype.arrow_type if direct else pa.string()
        if self.has_time:
            types[names[-1]] = pa.int64()
        if not types:
            return names, None
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
    return pc.cast(pc.binary_slice(raw.view(pa.binary()), 0, -1), ftype.arrow_type)  # `i`, `u`
