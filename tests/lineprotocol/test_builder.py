"""LineBuilder behaves exactly like upstream InfluxDB 3's, and what it builds parses back."""

from __future__ import annotations

import math
from collections import OrderedDict
from decimal import Decimal

import pytest

from timewell.lineprotocol.builder import (
    InfluxDBError,
    InvalidKeyError,
    InvalidLineError,
    InvalidMeasurementError,
    LineBuilder,
)

L = LineBuilder

BUILD_CASES = [
    # basics
    (L("cpu").int64_field("n", 1), "cpu n=1i"),
    (L("cpu").int64_field("n", -42), "cpu n=-42i"),
    (L("cpu").int64_field("n", 2**63 - 1), "cpu n=9223372036854775807i"),
    (L("cpu").int64_field("n", -(2**63)), "cpu n=-9223372036854775808i"),
    (L("cpu").uint64_field("n", 0), "cpu n=0u"),
    (L("cpu").uint64_field("n", 2**64 - 1), "cpu n=18446744073709551615u"),
    (L("cpu").bool_field("ok", True).bool_field("bad", False), "cpu ok=t,bad=f"),
    (L("cpu").bool_field("ok", 1).bool_field("bad", ""), "cpu ok=t,bad=f"),
    (L("cpu").string_field("s", "hello"), 'cpu s="hello"'),
    (L("cpu").string_field("s", ""), 'cpu s=""'),
    # floats
    (L("m").float64_field("f", 1.0), "m f=1.0"),
    (L("m").float64_field("f", 1.5), "m f=1.5"),
    (L("m").float64_field("f", -2.25), "m f=-2.25"),
    (L("m").float64_field("f", 0.1), "m f=0.1"),
    (L("m").float64_field("f", 1e20), "m f=100000000000000000000.0"),
    (L("m").float64_field("f", -0.0), "m f=0.0"),
    (L("m").float64_field("f", 1.5e-7), "m f=1.5e-07"),
    (L("m").float64_field("f", 3), "m f=3.0"),
    (L("m").float64_field("f", True), "m f=1.0"),
    (L("m").float64_field("f", Decimal("2.5")), "m f=2.5"),
    # timestamps
    (L("m").int64_field("n", 1).time_ns(0), "m n=1i 0"),
    (L("m").int64_field("n", 1).time_ns(1_700_000_000_000_000_000), "m n=1i 1700000000000000000"),
    (L("m").int64_field("n", 1).time_ns(-5), "m n=1i -5"),
    (L("m").int64_field("n", 1).time_ns(5).time_ns(None), "m n=1i"),
    # tags, in insertion order, values escaped at build time
    (
        L("cpu").tag("host", "a").tag("region", "eu").int64_field("n", 1),
        "cpu,host=a,region=eu n=1i",
    ),
    (L("cpu").tag("host", "a b").int64_field("n", 1), "cpu,host=a\\ b n=1i"),
    (L("cpu").tag("host", "a,b=c").int64_field("n", 1), "cpu,host=a\\,b\\=c n=1i"),
    (L("cpu").tag("path", "C:\\tmp").int64_field("n", 1), "cpu,path=C:\\\\tmp n=1i"),
    (
        L("cpu").tag("n", 5).tag("f", 1.5).tag("b", None).int64_field("x", 1),
        "cpu,n=5,f=1.5,b=None x=1i",
    ),
    (
        L("cpu").tag("host", "a").tag("host", "b").tag("dc", "x").int64_field("n", 1),
        "cpu,host=b,dc=x n=1i",
    ),
    # measurement escaping: commas only (backslashes are left alone, as upstream)
    (L("a,b").int64_field("n", 1), "a\\,b n=1i"),
    (L("a\\b").int64_field("n", 1), "a\\b n=1i"),
    (L("a=b").int64_field("n", 1), "a=b n=1i"),
    # keys: tag keys written raw, field keys escaped (only backslash can occur)
    (L("m").tag("k\\1", "v").int64_field("f\\1", 1), "m,k\\1=v f\\\\1=1i"),
    # string escaping
    (L("m").string_field("s", 'say "hi"'), 'm s="say \\"hi\\""'),
    (L("m").string_field("s", "back\\slash"), 'm s="back\\\\slash"'),
    (L("m").string_field("s", '\\"'), 'm s="\\\\\\""'),
    (L("m").string_field("s", "a,b c=d"), 'm s="a,b c=d"'),
    # unicode passes through
    (
        L("température").tag("lieu", "café ☕").string_field("note", "naïve 🙂"),
        'température,lieu=café\\ ☕ note="naïve 🙂"',
    ),
    # field order is insertion order; re-setting a field keeps its place
    (L("m").int64_field("b", 1).float64_field("a", 2.0).int64_field("b", 3), "m b=3i,a=2.0"),
    (
        L("m")
        .tag("t", "v")
        .string_field("s", "x")
        .bool_field("b", True)
        .uint64_field("u", 7)
        .time_ns(123),
        'm,t=v s="x",b=t,u=7u 123',
    ),
]


@pytest.mark.parametrize(("builder", "expected"), BUILD_CASES, ids=[e for _, e in BUILD_CASES])
def test_build_output(builder: LineBuilder, expected: str) -> None:
    assert builder.build() == expected


def test_methods_chain_and_return_the_same_builder() -> None:
    b = LineBuilder("m")
    assert b.tag("t", "v") is b
    assert b.int64_field("i", 1) is b
    assert b.uint64_field("u", 1) is b
    assert b.float64_field("f", 1.0) is b
    assert b.string_field("s", "x") is b
    assert b.bool_field("b", True) is b
    assert b.time_ns(1) is b


def test_attributes_hold_raw_tags_and_formatted_fields_in_order() -> None:
    b = LineBuilder("cpu").tag("host", "a b").tag("dc", 3).int64_field("n", 5)
    b.string_field("s", 'q"').float64_field("f", 2.0)
    assert b.measurement == "cpu"
    assert isinstance(b.tags, OrderedDict)
    assert isinstance(b.fields, OrderedDict)
    assert list(b.tags.items()) == [("host", "a b"), ("dc", "3")]
    assert list(b.fields.items()) == [("n", "5i"), ("s", '"q\\""'), ("f", "2.0")]


def test_attributes_can_be_edited_before_build() -> None:
    # Upstream keeps these public and build() reads them, so plugins may mutate them.
    b = LineBuilder("cpu").int64_field("n", 1)
    b.measurement = "mem load"
    b.tags["host"] = "x y"
    assert b.build() == "mem\\ load,host=x\\ y n=1i"


def test_build_can_be_called_repeatedly() -> None:
    b = LineBuilder("m").int64_field("n", 1)
    assert b.build() == b.build() == "m n=1i"


def test_non_finite_floats_are_formatted_not_rejected() -> None:
    # Upstream does no check; the server refuses the line when it is written.
    assert LineBuilder("m").float64_field("f", math.nan).build() == "m f=nan"
    assert LineBuilder("m").float64_field("f", math.inf).build() == "m f=inf"
    assert LineBuilder("m").float64_field("f", -math.inf).build() == "m f=-inf"


def test_values_are_not_type_checked_like_upstream() -> None:
    assert LineBuilder("m").int64_field("n", "5").build() == "m n=5i"
    assert LineBuilder("m").int64_field("n", "x").build() == "m n=xi"
    assert LineBuilder("m").int64_field("n", True).build() == "m n=Truei"
    assert LineBuilder("m").int64_field("n", 1.5).build() == "m n=1.5i"
    assert LineBuilder("m").uint64_field("n", 1.5).build() == "m n=1.5u"
    assert LineBuilder("m").int64_field("n", 1).time_ns("now").build() == "m n=1i now"


def test_newlines_are_not_escaped_like_upstream() -> None:
    # Line protocol has no newline escape; the server splits such a line when it is written.
    assert LineBuilder("m").string_field("s", "a\nb").build() == 'm s="a\nb"'
    assert LineBuilder("m").tag("t", "a\nb").int64_field("n", 1).build() == "m,t=a\nb n=1i"


def test_empty_measurement_is_accepted_like_upstream() -> None:
    assert LineBuilder("").int64_field("n", 1).build() == " n=1i"


# errors


def test_measurement_with_space_is_rejected() -> None:
    with pytest.raises(InvalidMeasurementError, match="Measurement name cannot contain spaces"):
        LineBuilder("cpu load")


@pytest.mark.parametrize(
    "method", ["tag", "int64_field", "uint64_field", "float64_field", "string_field", "bool_field"]
)
@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "key cannot be empty"),
        ("a b", "key 'a b' cannot contain spaces"),
        ("a,b", "key 'a,b' cannot contain commas"),
        ("a=b", "key 'a=b' cannot contain equals signs"),
    ],
)
def test_invalid_keys_are_rejected(method: str, key: str, message: str) -> None:
    value = "v" if method in ("tag", "string_field") else 1
    kind = "tag" if method == "tag" else "field"
    builder = LineBuilder("m")
    with pytest.raises(InvalidKeyError) as info:
        getattr(builder, method)(key, value)
    assert str(info.value) == f"{kind} {message}"
    assert not builder.tags and not builder.fields


def test_key_checks_run_in_upstream_order() -> None:
    with pytest.raises(InvalidKeyError, match="cannot contain spaces"):
        LineBuilder("m").int64_field("a ,=", 1)
    with pytest.raises(InvalidKeyError, match="cannot contain commas"):
        LineBuilder("m").int64_field("a,=", 1)


def test_build_without_fields_is_rejected() -> None:
    with pytest.raises(InvalidLineError) as info:
        LineBuilder("cpu").tag("host", "a b").build()
    assert str(info.value) == "At least one field is required: cpu,host=a\\ b"
    with pytest.raises(InvalidLineError, match="At least one field is required: cpu$"):
        LineBuilder("cpu").time_ns(5).build()


def test_negative_uint64_is_a_value_error() -> None:
    builder = LineBuilder("m")
    with pytest.raises(ValueError, match="uint64 field 'u' cannot be negative"):
        builder.uint64_field("u", -1)
    assert not builder.fields


def test_error_classes_share_the_upstream_base() -> None:
    for cls in (InvalidMeasurementError, InvalidKeyError, InvalidLineError):
        assert issubclass(cls, InfluxDBError)
        # Upstream subclasses Exception only: a plugin's `except ValueError` must not catch them.
        assert not issubclass(cls, ValueError)
    assert InfluxDBError.__bases__ == (Exception,)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: LineBuilder(5), TypeError),
        (lambda: LineBuilder("m").uint64_field("u", "5"), TypeError),
        (lambda: LineBuilder("m").float64_field("f", "1.5"), TypeError),
        (lambda: LineBuilder("m").float64_field("f", None), TypeError),
        (lambda: LineBuilder("m").string_field("s", 5), AttributeError),
        (lambda: LineBuilder("m").int64_field(5, 1), TypeError),
        (lambda: LineBuilder("m").tag(None, "v"), InvalidKeyError),
    ],
)
def test_wrong_value_types_fail_as_upstream(call, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


# round trip through the server's own parser


ROUND_TRIP_TAGS = {"host": "a b,c=d\\e", "région": "café ☕", "plain": "x"}
ROUND_TRIP_FIELDS = [
    ("i", "int64_field", -(2**63)),
    ("u", "uint64_field", 2**64 - 1),
    ("f1", "float64_field", 1.0),
    ("f2", "float64_field", 1.5),
    ("f3", "float64_field", 1e20),
    ("f4", "float64_field", -0.0),
    ("f5", "float64_field", 1.5e-7),
    ("f6", "float64_field", -1.2e78),
    ("s", "string_field", 'quote " back \\ and \\" both, = and 🙂'),
    ("b1", "bool_field", True),
    ("b2", "bool_field", False),
    ("key\\with\\backslashes", "int64_field", 7),
]


def test_round_trip_through_parse_exact() -> None:
    lineprotocol = pytest.importorskip("timewell.lineprotocol")
    parse_exact = getattr(lineprotocol, "parse_exact", None)
    if parse_exact is None:
        pytest.skip("timewell.lineprotocol.parse_exact is not available yet")
    types = lineprotocol.FieldType

    builder = LineBuilder("weather,station")
    for key, value in ROUND_TRIP_TAGS.items():
        builder.tag(key, value)
    for key, method, value in ROUND_TRIP_FIELDS:
        getattr(builder, method)(key, value)
    builder.time_ns(1_700_000_000_123_456_789)

    parsed = parse_exact(builder.build().encode(), lineprotocol.Precision.NANOSECOND)
    assert parsed.errors == []
    [(_, table, tags, fields, time_ns)] = parsed.rows()
    assert table == "weather,station"
    assert dict(tags) == ROUND_TRIP_TAGS
    expected_types = {
        "int64_field": types.INTEGER,
        "uint64_field": types.UINTEGER,
        "float64_field": types.FLOAT,
        "string_field": types.STRING,
        "bool_field": types.BOOLEAN,
    }
    assert [key for key, _ in fields] == [key for key, _, _ in ROUND_TRIP_FIELDS]
    for (key, (ftype, got)), (_, method, value) in zip(fields, ROUND_TRIP_FIELDS, strict=True):
        assert ftype is expected_types[method], key
        assert got == value and type(got) is type(value), key
    assert time_ns == 1_700_000_000_123_456_789


def test_round_trip_without_time_uses_the_default_time() -> None:
    lineprotocol = pytest.importorskip("timewell.lineprotocol")
    if not hasattr(lineprotocol, "parse_exact"):
        pytest.skip("timewell.lineprotocol.parse_exact is not available yet")
    line = LineBuilder("m").int64_field("n", 1).build()
    parsed = lineprotocol.parse_exact(line.encode(), default_time_ns=42)
    assert parsed.errors == []
    assert parsed.rows()[0][4] == 42
