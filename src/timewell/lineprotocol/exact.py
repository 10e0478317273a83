"""The exact parser: every rule of the contract, one line at a time.

It is the reference the columnar fast path must agree with, and the fallback for every line
that path declines; every per-line error message comes from here.

Grammar, read left to right after any leading spaces or tabs:

    measurement (',' tag_key '=' tag_value)* ' '+ field_key '=' value (',' field_key '=' value)*
    [' '+ timestamp] ' '*
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from typing import NamedTuple

from .lines import LEADING_WHITESPACE, check_utf8, is_skipped, split_lines
from .segments import segments_from_points
from .timestamps import INT64_MAX, INT64_MIN, scale
from .types import FieldType, LineError, ParsedBody, Precision

UINT64_MAX = (1 << 64) - 1
RESERVED = "time"

# Names run to the first unescaped terminator. A backslash always takes the next character
# with it (it is either an escape or kept literally), so "any char but terminators and
# backslash, or a backslash pair" finds the end; a lone backslash at the end of the line stops
# the scan and is reported as an error.
_MEASUREMENT_END = re.compile(r"[^ ,\\]*(?:\\.[^ ,\\]*)*", re.DOTALL)
_KEY_END = re.compile(r"[^ ,=\\]*(?:\\.[^ ,=\\]*)*", re.DOTALL)
_TAG_VALUE_END = _MEASUREMENT_END
_STRING = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_PLAIN_VALUE_END = re.compile(r"[^ ,]*")
_UNESCAPE_MEASUREMENT = re.compile(r"\\([ ,\\])")
_UNESCAPE_KEY = re.compile(r"\\([ ,=\\])")
_UNESCAPE_STRING = re.compile(r'\\(["\\])')

# Explicit [0-9]: Python's \d and int()/float() also accept other scripts' digits.
_FLOAT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
_DIGITS = frozenset("0123456789")
_FLOAT_TYPE, _INTEGER_TYPE, _UINTEGER_TYPE, _BOOLEAN_TYPE = (
    FieldType.FLOAT,
    FieldType.INTEGER,
    FieldType.UINTEGER,
    FieldType.BOOLEAN,
)
_TRUE = frozenset(("t", "T", "true", "True", "TRUE"))
_FALSE = frozenset(("f", "F", "false", "False", "FALSE"))
# int() refuses strings over 4300 digits; anything past this many is out of range anyway.
_MAX_DIGITS = 24

_EXPECTED_VALUE = (
    "expected a float (1.5), an integer (12i), an unsigned integer (12u), "
    "a boolean (t, f, true, false) or a double-quoted string"
)


class LineInvalid(Exception):
    """A line breaks a rule; the message says which, in words a user can act on."""


class Point(NamedTuple):
    """One parsed line. `fields` holds (key, type, value); `time` is in nanoseconds; `shape`
    is (table, tag keys, (field key, type) pairs), the key segments are grouped by."""

    table: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, FieldType, object], ...]
    time: int
    has_time: bool
    shape: tuple[str, tuple[str, ...], tuple[tuple[str, FieldType], ...]]


def _point(
    table: str,
    tags: dict[str, str],
    fields: dict[str, tuple[FieldType, object]],
    stamp: int,
    has_time: bool,
) -> Point:
    return Point(
        table,
        tuple(tags.items()),
        tuple([(k, t, v) for k, (t, v) in fields.items()]),
        stamp,
        has_time,
        (table, tuple(tags), tuple([(k, t) for k, (t, _) in fields.items()])),
    )


def parse_exact(
    body: bytes, precision: Precision = Precision.AUTO, default_time_ns: int | None = None
) -> ParsedBody:
    """Parse a whole body with the exact parser only."""
    text = check_utf8(body)
    if default_time_ns is None:
        default_time_ns = time.time_ns()
    counted = [line for line in split_lines(text) if not is_skipped(line)]
    points, errors = parse_lines(enumerate(counted, 1), precision, default_time_ns)
    return ParsedBody(
        segments=segments_from_points(points),
        errors=errors,
        line_count=len(counted),
        lines=counted if errors else None,
    )


def parse_lines(
    numbered: Iterable[tuple[int, str]], precision: Precision, default_time_ns: int
) -> tuple[list[tuple[int, Point]], list[LineError]]:
    """Parse (line_number, line) pairs of counted lines into points and errors."""
    points: list[tuple[int, Point]] = []
    errors: list[LineError] = []
    for number, line in numbered:
        try:
            points.append((number, parse_line(line, precision, default_time_ns)))
        except LineInvalid as exc:
            errors.append(LineError(number, line, str(exc)))
    return points, errors


def parse_line(line: str, precision: Precision, default_time_ns: int) -> Point:
    """Parse one counted line, or raise `LineInvalid`."""
    if "\\" not in line and '"' not in line:
        point = _parse_plain(line, precision, default_time_ns)
        if point is not None:
            return point
    return _parse_scanning(line, precision, default_time_ns)


def _parse_plain(line: str, precision: Precision, default_time_ns: int) -> Point | None:
    """The same parse for a line without escapes or strings, on `str.split`. Returns None at
    anything unusual (including every error), leaving it to the scanner."""
    sections = line.split(" ")
    if len(sections) == 2:
        series, field_set = sections
        stamp, has_time = default_time_ns, False
    elif len(sections) == 3:
        series, field_set, token = sections
        if not _INTEGER.fullmatch(token):
            return None
        number = _bounded_int(token)
        if number is None or not INT64_MIN <= number <= INT64_MAX:
            return None
        scaled = scale(number, precision)
        if scaled is None:
            return None
        stamp, has_time = scaled, True
    else:
        return None
    table, *tag_set = series.split(",")
    if not table or table[0] == "\t":
        return None
    seen = {RESERVED}  # any repeated key is an error; the scanner words it
    tags: list[tuple[str, str]] = []
    for tag in tag_set:
        key, equals, text = tag.partition("=")
        if not (key and equals and text) or key in seen:
            return None
        seen.add(key)
        tags.append((key, text))
    fields: list[tuple[str, FieldType, object]] = []
    shape: list[tuple[str, FieldType]] = []
    for field in field_set.split(","):
        key, equals, text = field.partition("=")
        if not (key and equals and text) or key in seen:
            return None
        seen.add(key)
        try:
            ftype, value = _typed_value(text, key)
        except LineInvalid:
            return None
        fields.append((key, ftype, value))
        shape.append((key, ftype))
    tag_tuple = tuple(tags)
    return Point(
        table,
        tag_tuple,
        tuple(fields),
        stamp,
        has_time,
        (table, tuple([k for k, _ in tag_tuple]), tuple(shape)),
    )


def _parse_scanning(line: str, precision: Precision, default_time_ns: int) -> Point:
    end_of_line = len(line)
    pos = end_of_line - len(line.lstrip(LEADING_WHITESPACE))

    end = _scan(_MEASUREMENT_END, line, pos, "measurement")
    if end == pos:
        raise LineInvalid("missing measurement name at the start of the line")
    table = _unescape(_UNESCAPE_MEASUREMENT, line[pos:end])
    pos = end

    tags: dict[str, str] = {}
    while pos < end_of_line and line[pos] == ",":
        key, pos = _key(line, pos + 1, "tag")
        end = _scan(_TAG_VALUE_END, line, pos, f"value of tag '{key}'")
        if end == pos:
            raise LineInvalid(f"tag '{key}' has an empty value")
        if key == RESERVED:
            raise LineInvalid(f"column name '{RESERVED}' is reserved and cannot be a tag")
        if key in tags:
            raise LineInvalid(f"duplicate tag key '{key}'")
        tags[key] = _unescape(_UNESCAPE_KEY, line[pos:end])
        pos = end

    pos = _skip_spaces(line, pos)
    if pos == end_of_line:
        raise LineInvalid("no fields in line: expected '<field>=<value>' after the series key")

    fields: dict[str, tuple[FieldType, object]] = {}
    while True:
        key, pos = _key(line, pos, "field")
        if key == RESERVED:
            raise LineInvalid(f"column name '{RESERVED}' is reserved and cannot be a field")
        if key in fields:
            raise LineInvalid(f"duplicate field key '{key}'")
        if key in tags:
            raise LineInvalid(f"column '{key}' is used as both a tag and a field")
        fields[key], pos = _field_value(line, pos, key)
        if pos < end_of_line and line[pos] == ",":
            pos += 1
            continue
        break

    pos = _skip_spaces(line, pos)
    if pos == end_of_line:
        stamp, has_time = default_time_ns, False
    else:
        end = line.find(" ", pos)
        end = end_of_line if end < 0 else end
        stamp, has_time = _timestamp(line[pos:end], precision), True
        rest = _skip_spaces(line, end)
        if rest < end_of_line:
            raise LineInvalid(f"trailing characters after timestamp: '{line[rest:]}'")

    return _point(table, tags, fields, stamp, has_time)


def _scan(pattern: re.Pattern[str], line: str, pos: int, what: str) -> int:
    end = pattern.match(line, pos).end()  # type: ignore[union-attr]  # always matches
    if end < len(line) and line[end] == "\\":
        # The scan stops at a backslash only when nothing follows it.
        raise LineInvalid(f"{what} ends with a backslash: '{line[pos:]}' (write '\\\\' for one)")
    return end


def _key(line: str, pos: int, kind: str) -> tuple[str, int]:
    """Scan `key=` and return the unescaped key and the position after the `=`."""
    end = _scan(_KEY_END, line, pos, f"{kind} key")
    key = _unescape(_UNESCAPE_KEY, line[pos:end])
    if end == len(line) or line[end] != "=":
        if not key:
            raise LineInvalid(f"missing {kind} key: expected '<{kind}>=<value>'")
        raise LineInvalid(f"{kind} '{key}' has no value: expected '{key}=<value>'")
    if not key:
        raise LineInvalid(f"missing {kind} key before '='")
    return key, end + 1


def _field_value(line: str, pos: int, key: str) -> tuple[tuple[FieldType, object], int]:
    if pos < len(line) and line[pos] == '"':
        match = _STRING.match(line, pos)
        if match is None:
            raise LineInvalid(f"unterminated string value for field '{key}': missing closing '\"'")
        end = match.end()
        if end < len(line) and line[end] not in " ,":
            raise LineInvalid(
                f"invalid string value for field '{key}': unexpected characters after the "
                f"closing quote: '{line[end:]}'"
            )
        return (FieldType.STRING, _unescape(_UNESCAPE_STRING, match.group(1))), end
    end = _PLAIN_VALUE_END.match(line, pos).end()  # type: ignore[union-attr]
    token = line[pos:end]
    if not token:
        raise LineInvalid(f"field '{key}' has an empty value")
    return _typed_value(token, key), end


def _typed_value(token: str, key: str) -> tuple[FieldType, object]:
    suffix = token[-1]
    if suffix in _DIGITS:
        if _FLOAT.fullmatch(token):
            number = float(token)
            if math.isinf(number):
                raise LineInvalid(f"float value '{token}' out of range for float64 field '{key}'")
            return _FLOAT_TYPE, number
    elif suffix == "i":
        if _INTEGER.fullmatch(token, 0, len(token) - 1):
            value = _bounded_int(token[:-1])
            if value is None or not INT64_MIN <= value <= INT64_MAX:
                raise LineInvalid(f"integer value '{token}' out of range for int64 field '{key}'")
            return _INTEGER_TYPE, value
    elif suffix == "u":
        if _INTEGER.fullmatch(token, 0, len(token) - 1):
            value = _bounded_int(token[:-1])
            if value is None or token[0] == "-" or value > UINT64_MAX:
                raise LineInvalid(
                    f"unsigned integer value '{token}' out of range for uint64 field '{key}'"
                )
            return _UINTEGER_TYPE, value
    elif token in _TRUE:
        return _BOOLEAN_TYPE, True
    elif token in _FALSE:
        return _BOOLEAN_TYPE, False
    raise LineInvalid(f"invalid field value '{token}' for field '{key}': {_EXPECTED_VALUE}")


def _timestamp(token: str, precision: Precision) -> int:
    if not _INTEGER.fullmatch(token):
        raise LineInvalid(f"invalid timestamp '{token}': expected an integer")
    value = _bounded_int(token)
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        raise LineInvalid(f"timestamp '{token}' out of range for int64")
    scaled = scale(value, precision)
    if scaled is None:
        raise LineInvalid(
            f"timestamp '{token}' out of range for precision '{precision.value}': "
            "in nanoseconds it does not fit in int64"
        )
    return scaled


def _bounded_int(digits: str) -> int | None:
    return int(digits) if len(digits) <= _MAX_DIGITS else None


def _skip_spaces(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] == " ":
        pos += 1
    return pos


def _unescape(pattern: re.Pattern[str], raw: str) -> str:
    return pattern.sub(r"\1", raw) if "\\" in raw else raw
