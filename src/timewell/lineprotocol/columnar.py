"""The columnar fast path: parse plainly written lines in bulk with Arrow, and hand every
other line to the exact parser.

How a body goes through:

0. A small body (a few dozen lines) goes to the exact parser: cheaper than any setup.
1. A body whose lines all share the first line's shape is checked with one regex over the
   whole body and read in one go (`FastShape.extract`). This is the common batch from one
   client and the fastest path.
2. Otherwise the body is split into lines, blank and comment lines are dropped, and shapes are
   taken one at a time: the first remaining line is parsed exactly, its shape becomes a
   pattern, and every remaining line matching it is read in bulk. Lines the pattern does not
   match stay for later rounds, and finally go to the exact parser.

The exact parser decides every error; the fast path only ever takes lines it can prove valid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from .arrays import arange, join, string_array
from .exact import LineInvalid, Point, parse_exact, parse_line, parse_lines
from .fastshape import FastShape
from .lines import LEADING_WHITESPACE, check_utf8, is_skipped, normalize_line_endings
from .segments import merge_segments, segments_from_points
from .timestamps import scale_column
from .types import FieldType, LineError, ParsedBody, Precision, Segment

# A round costs a few passes over the remaining lines; below these sizes the exact parser is
# cheaper, and after this many rounds the shapes left are too scattered to be worth it.
_MIN_ROUND_LINES = 16
_MAX_ROUNDS = 64
_MAX_SMALL_ROUNDS = 8
# Bodies of fewer lines than this (a client writing point by point) cost less line by line
# than the fast path's fixed overhead of a few hundred microseconds.
_MIN_FAST_BODY_LINES = 32


@dataclass
class FastPathStats:
    """How many counted lines each parser took for one body."""

    fast_lines: int = 0
    exact_lines: int = 0


def parse(
    body: bytes, precision: Precision = Precision.AUTO, default_time_ns: int | None = None
) -> ParsedBody:
    """Parse a body: the columnar fast path, with the exact parser for what it declines."""
    return parse_with_stats(body, precision, default_time_ns)[0]


def parse_with_stats(
    body: bytes, precision: Precision = Precision.AUTO, default_time_ns: int | None = None
) -> tuple[ParsedBody, FastPathStats]:
    """`parse`, also reporting how many lines the fast path took."""
    if len(body) < 64 * _MIN_FAST_BODY_LINES and body.count(b"\n") < _MIN_FAST_BODY_LINES:
        result = parse_exact(body, precision, default_time_ns)
        return result, FastPathStats(exact_lines=result.line_count)
    check_utf8(body)
    if default_time_ns is None:
        default_time_ns = time.time_ns()
    data = normalize_line_endings(body)
    if data.endswith(b"\n"):
        data = data[:-1]  # the empty line after the last newline is skipped anyway
    if not data:
        return ParsedBody(), FastPathStats()
    return _whole_body(data, precision, default_time_ns) or _by_lines(
        data, precision, default_time_ns
    )


def _whole_body(
    data: bytes, precision: Precision, default_time_ns: int
) -> tuple[ParsedBody, FastPathStats] | None:
    newline = data.find(b"\n")
    first = (data if newline < 0 else data[:newline]).decode()
    shape = _fast_shape(first, precision, default_time_ns)
    if shape is None:
        return None
    # The last line is a cheap test of whether the whole-body regex is worth running.
    if newline >= 0 and not shape.matches(data[data.rfind(b"\n") + 1 :].decode()):
        return None
    if not pc.match_substring_regex(string_array(data), shape.body_regex())[0].as_py():
        return None
    try:
        tags, fields, raw_time = shape.extract(data)
    except pa.ArrowException:
        return None
    count = len(next(iter(fields.values())))
    segment, bad = _segment(
        shape, tags, fields, raw_time, arange(1, count), precision, default_time_ns
    )
    if bad is not None:
        return None  # a rare overflow: the line-by-line path sorts those lines out
    return ParsedBody(segments=[segment], line_count=count), FastPathStats(fast_lines=count)


def _by_lines(
    data: bytes, precision: Precision, default_time_ns: int
) -> tuple[ParsedBody, FastPathStats]:
    lines = pc.list_flatten(pc.split_pattern(string_array(data), "\n"))
    if _may_skip(data):
        content = pc.utf8_ltrim(lines, characters=LEADING_WHITESPACE)
        counted = pc.invert(pc.or_(pc.equal(content, ""), pc.starts_with(content, "#")))
        numbers = pc.cumulative_sum(pc.cast(counted, pa.int32()))
        remaining = pc.indices_nonzero(counted).cast(pa.int32())
    else:
        counted = None
        numbers = arange(1, len(lines))
        remaining = arange(0, len(lines))
    line_count = len(remaining)

    rounds = _Rounds(lines, numbers, precision, default_time_ns)
    while len(remaining):
        shape, remaining = rounds.next_shape(remaining)
        if shape is None:
            break
        if rounds.count >= _MAX_ROUNDS or rounds.small >= _MAX_SMALL_ROUNDS:
            rounds.leftovers.append(remaining)
            break
        remaining = rounds.take(shape, remaining)
    parts, points, errors = rounds.parts, rounds.points, rounds.errors
    if rounds.leftovers:
        rest = pa.concat_arrays(rounds.leftovers)
        more_points, more_errors = parse_lines(
            zip(numbers.take(rest).to_pylist(), lines.take(rest).to_pylist(), strict=True),
            precision,
            default_time_ns,
        )
        points += more_points
        errors += more_errors
    errors.sort(key=lambda e: e.line_number)
    fast_lines = sum(len(p) for p in parts)
    body = ParsedBody(
        segments=merge_segments([*parts, *segments_from_points(points)]),
        errors=errors,
        line_count=line_count,
        lines=(lines if counted is None else lines.filter(counted)).to_pylist() if errors else None,
    )
    return body, FastPathStats(fast_lines=fast_lines, exact_lines=line_count - fast_lines)


class _Rounds:
    """The state of taking a body's lines shape by shape."""

    def __init__(
        self, lines: pa.Array, numbers: pa.Array, precision: Precision, default_time_ns: int
    ) -> None:
        self.lines = lines
        self.numbers = numbers
        self.precision = precision
        self.default_time_ns = default_time_ns
        self.parts: list[Segment] = []
        self.points: list[tuple[int, Point]] = []
        self.errors: list[LineError] = []
        self.leftovers: list[pa.Array] = []  # line indices for the exact parser
        self.count = 0
        self.small = 0

    def next_shape(self, remaining: pa.Array) -> tuple[FastShape | None, pa.Array]:
        """Parse lines from the front of `remaining` exactly until one has a shape the fast
        path can take; return that shape and the lines from that one on."""
        start, size = 0, 16
        while start < len(remaining):
            chunk = remaining.slice(start, size)
            texts = self.lines.take(chunk).to_pylist()
            numbers = self.numbers.take(chunk).to_pylist()
            for offset, (line, number) in enumerate(zip(texts, numbers, strict=True)):
                try:
                    sample = parse_line(line, self.precision, self.default_time_ns)
                except LineInvalid as exc:
                    self.errors.append(LineError(number, line, str(exc)))
                    continue
                if len(remaining) - start - offset >= _MIN_ROUND_LINES:
                    shape = _fast_shape_of(sample, line)
                    if shape is not None:
                        return shape, remaining.slice(start + offset)
                self.points.append((number, sample))
            start += len(chunk)
            size = min(4 * size, 4096)  # a long run of exact lines: convert in bigger chunks
        return None, remaining.slice(len(remaining))

    def take(self, shape: FastShape, remaining: pa.Array) -> pa.Array:
        """Read every remaining line of `shape` in bulk; return the lines left."""
        self.count += 1
        sample = remaining.slice(0, 1)
        hits, hit_lines, remaining = _take_shape(shape, self.lines, remaining)
        self.small += len(hits) < _MIN_ROUND_LINES
        if not len(hits):
            # The sample matched its pattern in Python but not in Arrow: never expected, but
            # it must not be sampled again forever.
            self.leftovers.append(sample)
            return remaining.slice(1)
        try:
            tags, fields, raw_time = shape.extract(join(hit_lines, "\n"))
        except pa.ArrowException:  # never expected; the exact parser is always right
            self.leftovers.append(hits)
            return remaining
        segment, bad = _segment(
            shape,
            tags,
            fields,
            raw_time,
            self.numbers.take(hits),
            self.precision,
            self.default_time_ns,
        )
        self.parts.append(segment)
        if bad is not None:
            self.leftovers.append(hits.filter(bad))
        return remaining


def _fast_shape(line: str, precision: Precision, default_time_ns: int) -> FastShape | None:
    if is_skipped(line):
        return None
    try:
        sample = parse_line(line, precision, default_time_ns)
    except LineInvalid:
        return None
    return _fast_shape_of(sample, line)


def _fast_shape_of(sample: Point, line: str) -> FastShape | None:
    shape = FastShape.for_sample(sample)
    # A sample its own shape's pattern rejects (an escape, a long integer, ...) would make a
    # round that may take nothing; the exact parser has it already.
    return shape if shape is not None and shape.matches(line) else None


def _take_shape(
    shape: FastShape, lines: pa.Array, remaining: pa.Array
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Split `remaining` line indices into those matching `shape` and the rest; also return
    the matching lines' text."""
    # A prefix test over every line is far cheaper than copying the remaining lines for the
    # regex, and rules out other measurements.
    maybe = pc.starts_with(lines, shape.prefix).take(remaining)
    candidates = remaining.filter(maybe)
    candidate_lines = lines.take(candidates)
    matched = pc.match_substring_regex(candidate_lines, shape.line_regex())
    hits = pc.replace_with_mask(maybe, maybe, matched)  # back to one flag per remaining line
    return (
        candidates.filter(matched),
        candidate_lines.filter(matched),
        remaining.filter(pc.invert(hits)),
    )


def _segment(
    shape: FastShape,
    tags: dict[str, pa.Array],
    fields: dict[str, pa.Array],
    raw_time: pa.Array,
    line_numbers: pa.Array,
    precision: Precision,
    default_time_ns: int,
) -> tuple[Segment, pa.Array | None]:
    """The segment of a fast group, minus rows that turned out invalid after all (a float
    beyond float64, a timestamp overflowing on scaling); those come back as a mask."""
    count = len(line_numbers)
    bad: pa.Array | None = None
    table, tag_keys, field_types = shape.shape
    for key, ftype in field_types:
        if ftype is FieldType.FLOAT:
            infinite = pc.is_inf(fields[key])
            if pc.any(infinite).as_py():
                bad = infinite if bad is None else pc.or_(bad, infinite)
    if shape.has_time:
        times, overflow = scale_column(raw_time, precision)
        if overflow is not None:
            bad = overflow if bad is None else pc.or_(bad, overflow)
    else:
        times = pa.repeat(pa.scalar(default_time_ns, pa.int64()), count)
    segment = Segment(
        table=table,
        tag_keys=tag_keys,
        field_types=field_types,
        tags=tags,
        fields=fields,
        time=times,
        line_numbers=line_numbers,
    )
    if bad is None:
        return segment, None
    keep = pc.invert(bad)
    segment.tags = {k: v.filter(keep) for k, v in tags.items()}
    segment.fields = {k: v.filter(keep) for k, v in fields.items()}
    segment.time = times.filter(keep)
    segment.line_numbers = line_numbers.filter(keep)
    return segment, bad


def _may_skip(data: bytes) -> bool:
    """Whether any line might be blank or a comment; False proves every line is counted."""
    return (
        data[:1] in (b" ", b"\t", b"\n")
        or data.endswith(b"\n")
        or b"#" in data
        or b"\n\n" in data
        or b"\n " in data
        or b"\n\t" in data
    )
