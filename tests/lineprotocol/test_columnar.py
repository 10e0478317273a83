"""The columnar fast path: the exact parser's results, and most lines taken in bulk."""

from __future__ import annotations

from unittest import mock

import pyarrow as pa
import pytest

from timewell.lineprotocol import (
    FastPathStats,
    FieldType,
    LineProtocolError,
    ParsedBody,
    Precision,
    parse,
    parse_exact,
    parse_with_stats,
)
from timewell.lineprotocol.fastshape import FastShape

DEFAULT = 7_777
BASE = 1_700_000_000_000_000_000


def both(body: bytes, precision: Precision = Precision.AUTO) -> tuple[ParsedBody, FastPathStats]:
    """Parse with the fast path, check it matches the exact parser, return it and its stats."""
    fast, stats = parse_with_stats(body, precision, DEFAULT)
    exact = parse_exact(body, precision, DEFAULT)
    assert fast.errors == exact.errors
    assert fast.rows() == exact.rows()
    assert fast.line_count == exact.line_count
    assert fast.lines == exact.lines
    assert stats.fast_lines + stats.exact_lines == fast.line_count
    return fast, stats


def cpu_lines(count: int, start: int = 0) -> list[str]:
    return [
        f"cpu,host=host{i % 100:04d},region=us-west "
        f"usage_user={i % 97}.5,usage_system=3.25,idle={i % 100}i {BASE + i}"
        for i in range(start, start + count)
    ]


def body_of(lines: list[str], ending: str = "\n") -> bytes:
    return ending.join(lines).encode()


def test_a_clean_homogeneous_batch_never_falls_back() -> None:
    result, stats = both(body_of(cpu_lines(2000)) + b"\n")
    assert stats == FastPathStats(fast_lines=2000, exact_lines=0)
    (segment,) = result.segments
    assert segment.table == "cpu"
    assert segment.tag_keys == ("host", "region")
    assert segment.field_types == (
        ("usage_user", FieldType.FLOAT),
        ("usage_system", FieldType.FLOAT),
        ("idle", FieldType.INTEGER),
    )
    assert segment.line_numbers.to_pylist() == list(range(1, 2001))
    assert segment.tags["host"][42].as_py() == "host0042"
    assert segment.fields["idle"][42].as_py() == 42
    assert segment.time[42].as_py() == BASE + 42


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("trailer", ["", "\n", "\r\n"])
def test_line_endings_keep_the_fast_path(ending: str, trailer: str) -> None:
    _, stats = both(body_of(cpu_lines(50), ending).rstrip(b"\r\n") + trailer.encode())
    assert stats.exact_lines == 0


def test_fast_segments_have_the_documented_arrow_types() -> None:
    lines = [f'm,t=x{i} f={i}.5,i={i}i,u={i}u,s="s {i}",b=t {BASE + i}' for i in range(40)]
    result, stats = both(body_of(lines))
    assert stats.exact_lines == 0
    (segment,) = result.segments
    assert segment.tags["t"].type == pa.string()
    assert [segment.fields[k].type for k in "fiusb"] == [
        pa.float64(),
        pa.int64(),
        pa.uint64(),
        pa.string(),
        pa.bool_(),
    ]
    assert segment.time.type == pa.int64()
    assert segment.line_numbers.type == pa.int32()
    assert segment.fields["s"][3].as_py() == "s 3"


def test_comments_and_blank_lines_keep_line_numbers() -> None:
    lines = ["# exported by a tool", ""] + cpu_lines(30) + ["   ", "  # done"] + cpu_lines(30, 30)
    result, stats = both(body_of(lines))
    assert result.line_count == 60
    assert stats.exact_lines == 0
    assert result.segments[0].line_numbers.to_pylist() == list(range(1, 61))


def test_interleaved_shapes_each_go_fast() -> None:
    lines = []
    for i in range(200):
        lines.append(f"cpu,host=h{i % 5} v={i}.5 {BASE + i}")
        lines.append(f"mem,host=h{i % 5} used={i}i,free={i}u {BASE + i}")
        lines.append(f'log,host=h{i % 5},level=warn msg="disk {i}, slow: x=1",ok=f {BASE + i}')
        lines.append(f"ping up=true,n={i}")  # no timestamp: the default time
    result, stats = both(body_of(lines))
    assert stats.exact_lines == 0
    assert len(result.segments) == 4
    ping = next(s for s in result.segments if s.table == "ping")
    assert set(ping.time.to_pylist()) == {DEFAULT}


def test_strings_with_separators_go_fast() -> None:
    lines = [f'events text="a b, c=d {i}",n={i}i,note="" {BASE + i}' for i in range(40)]
    result, stats = both(body_of(lines))
    assert stats.exact_lines == 0
    assert result.rows()[5][3][0] == ("text", (FieldType.STRING, "a b, c=d 5"))


@pytest.mark.parametrize(
    "odd",
    [
        "cpu,host=a\\ b,region=us-west usage_user=1,usage_system=2,idle=3i 5",  # escape
        'cpu,host="q",region=us-west usage_user=1,usage_system=2,idle=3i 5',  # quote in tag
        "cpu,host=a,region=us-west usage_user=1,usage_system=2,idle=9000000000000000000i 5",
        "cpu,host=a,region=us-west  usage_user=1,usage_system=2,idle=3i 5",  # two spaces
        "  cpu,host=a,region=us-west usage_user=1,usage_system=2,idle=3i 5",  # indented
        "cpu,host=a,region=us-west usage_user=1,usage_system=2,idle=3i 5 ",  # trailing space
        "cpu,host=a,region=us-west usage_user=1,usage_system=2,idle=3i 9000000000000000000",
        'cpu,host=a,region=us-west usage_user=1,usage_system=2,idle=3i,s="x\\"y" 5',
    ],
)
def test_lines_the_fast_path_declines_go_to_the_exact_parser(odd: str) -> None:
    lines = cpu_lines(40)
    lines[17] = odd
    result, stats = both(body_of(lines))
    assert stats.exact_lines == 1
    assert result.errors == []
    assert 18 in [r[0] for r in result.rows()]


def test_errors_among_fast_lines_come_from_the_exact_parser() -> None:
    lines = cpu_lines(100)
    lines[3] = "cpu,host=a usage_user=oops 5"
    lines[50] = "cpu,host=a,host=b usage_user=1 5"
    lines[99] = "cpu"
    result, stats = both(body_of(lines))
    assert [(e.line_number, e.message) for e in result.errors] == [
        (4, result.errors[0].message),
        (51, "duplicate tag key 'host'"),
        (100, "no fields in line: expected '<field>=<value>' after the series key"),
    ]
    assert result.errors[0].message.startswith("invalid field value 'oops'")
    assert stats.fast_lines == 97
    assert result.lines is not None and len(result.lines) == 100


def test_timestamps_overflowing_on_scaling_are_errors_even_in_a_fast_group() -> None:
    lines = [f"m,t=x v={i} {1_700_000_000 + i}" for i in range(40)]
    lines[7] = "m,t=x v=1 9223372037"
    lines[8] = "m,t=x v=1 -9223372037"
    result, stats = both(body_of(lines), Precision.SECOND)
    assert [e.line_number for e in result.errors] == [8, 9]
    assert "out of range for precision 's'" in result.errors[0].message
    assert stats.fast_lines == 38


def test_floats_beyond_float64_are_errors_even_in_a_fast_group() -> None:
    lines = [f"m v={i}.5 {i}" for i in range(40)]
    lines[11] = "m v=1e999 11"
    result, _ = both(body_of(lines))
    assert [(e.line_number, e.message) for e in result.errors] == [
        (12, "float value '1e999' out of range for float64 field 'v'")
    ]


@pytest.mark.parametrize("precision", list(Precision))
def test_precision_in_bulk(precision: Precision) -> None:
    stamps = [
        0,
        1,
        -1,
        4_999_999_999,
        5_000_000_000,
        4_999_999_999_999,
        5_000_000_000_000,
        4_999_999_999_999_999,
        5_000_000_000_000_000,
        BASE,
        -BASE,
        1_700_000_000,
    ]
    lines = [f"m v={i} {stamp}" for i, stamp in enumerate(stamps * 3)]
    both(body_of(lines), precision)
    for stamp in stamps:  # and each magnitude alone, the batch-wide shortcut
        both(body_of([f"m v={i} {stamp}" for i in range(20)]), precision)


def test_the_same_shape_from_both_parsers_is_one_segment_in_line_order() -> None:
    lines = [f"m,t=a v={i} {i}" for i in range(40)]
    lines[5] = "m,t=a\\ b v=5 5"  # same shape, exact parser
    result, stats = both(body_of(lines))
    assert stats.exact_lines == 1
    (segment,) = result.segments
    assert segment.line_numbers.to_pylist() == list(range(1, 41))
    assert segment.tags["t"][5].as_py() == "a b"


def test_many_distinct_shapes_still_parse() -> None:
    lines = [f"m{i % 90},t=x f{i % 90}={i} {i}" for i in range(90 * 20)]
    _, stats = both(body_of(lines))
    assert stats.fast_lines > 0


def test_after_a_few_rounds_taking_few_lines_the_rest_goes_to_the_exact_parser() -> None:
    _, stats = both(body_of([f"m{i} v=1 1" for i in range(20)] * 5))  # 20 shapes, 5 lines each
    assert stats == FastPathStats(fast_lines=8 * 5, exact_lines=12 * 5)


def test_small_bodies_are_parsed_line_by_line() -> None:
    _, stats = both(body_of(cpu_lines(20)))
    assert stats == FastPathStats(fast_lines=0, exact_lines=20)


def test_only_errors() -> None:
    result, stats = both(body_of(["nope"] * 50))
    assert len(result.errors) == 50
    assert stats.fast_lines == 0


def test_parse_returns_the_same_body() -> None:
    body = body_of(cpu_lines(30))
    expected = parse_exact(body, default_time_ns=DEFAULT).rows()
    assert parse(body, Precision.AUTO, DEFAULT).rows() == expected


def test_empty_bodies() -> None:
    for body in (b"", b"\n", b"\r\n", b"# c\n\n"):
        result, stats = both(body)
        assert result.line_count == 0
        assert stats == FastPathStats()


def test_a_body_that_is_not_utf8_raises() -> None:
    with pytest.raises(LineProtocolError, match="not valid UTF-8"):
        parse(body_of(cpu_lines(30)) + b'\nm v="\xfe"')


def test_a_byte_order_mark_is_part_of_the_first_name_on_both_paths() -> None:
    result, stats = both(("\ufeff" + "\n".join(f"m,t=x v={i} {i}" for i in range(40))).encode())
    assert stats.exact_lines == 0
    assert result.rows()[0][1] == "\ufeffm"


@pytest.mark.parametrize("stamp", ["", " 5"])
def test_a_shape_of_only_strings(stamp: str) -> None:
    _, stats = both(body_of([f'm s="x {i}"{stamp}' for i in range(40)]))
    assert stats.exact_lines == 0


def test_a_pattern_arrow_never_matches_still_ends_with_exact_results() -> None:
    """Python's `re` and Arrow's RE2 read the same patterns; if they ever disagreed, the
    lines would still parse (exactly) rather than loop."""
    body = body_of([f"m,t=x v={i} {i}" for i in range(40)] + ["# c"])
    with mock.patch.object(FastShape, "line_regex", lambda self: "^NEVER$"):
        result, stats = both(body)
    assert stats.fast_lines == 0
    assert len(result.rows()) == 40
