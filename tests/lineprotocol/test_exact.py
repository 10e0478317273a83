"""The exact parser, rule by rule (contract §1)."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from timewell.lineprotocol import (
    FieldType,
    LineError,
    LineProtocolError,
    ParsedBody,
    Precision,
    parse_exact,
)

DEFAULT = 1_111
F, INT, U, S, B = (
    FieldType.FLOAT,
    FieldType.INTEGER,
    FieldType.UINTEGER,
    FieldType.STRING,
    FieldType.BOOLEAN,
)


def parse_one(line: str, precision: Precision = Precision.NANOSECOND) -> tuple:
    """The single row of a one-line body, or fail with its error."""
    result = parse_exact(line.encode(), precision, DEFAULT)
    assert result.errors == [], result.errors
    (row,) = result.rows()
    return row


def error_of(line: str, precision: Precision = Precision.NANOSECOND) -> str:
    result = parse_exact(line.encode(), precision, DEFAULT)
    assert result.rows() == []
    (error,) = result.errors
    assert error.line_number == 1
    assert error.original_line == line
    return error.message


def fields_of(line: str) -> tuple:
    return parse_one(line)[3]


# --- structure -------------------------------------------------------------------------------


def test_measurement_tags_fields_and_timestamp() -> None:
    assert parse_one("cpu,host=a,region=eu usage=1.5,n=3i 1700000000000000000") == (
        1,
        "cpu",
        (("host", "a"), ("region", "eu")),
        (("usage", (F, 1.5)), ("n", (INT, 3))),
        1700000000000000000,
    )


def test_tags_and_fields_keep_line_order() -> None:
    row = parse_one("m,z=1,a=2 y=1,b=2")
    assert [k for k, _ in row[2]] == ["z", "a"]
    assert [k for k, _ in row[3]] == ["y", "b"]


def test_no_tags() -> None:
    assert parse_one("m v=1 5") == (1, "m", (), (("v", (F, 1.0)),), 5)


def test_missing_timestamp_uses_the_default_time() -> None:
    assert parse_one("m v=1")[4] == DEFAULT


def test_default_time_is_now_when_not_given() -> None:
    before = time.time_ns()
    result = parse_exact(b"m v=1")
    assert before <= result.rows()[0][4] <= time.time_ns()


@pytest.mark.parametrize(
    "line",
    ["m  v=1  5", "m v=1 5   ", "m,t=x   v=1", "  m v=1", "\t m v=1", "m v=1   "],
)
def test_leading_whitespace_and_repeated_spaces_between_sections(line: str) -> None:
    row = parse_one(line)
    assert row[1] == "m"
    assert row[3] == (("v", (F, 1.0)),)


def test_a_tab_is_not_a_section_separator() -> None:
    assert "invalid field value '1\t5'" in error_of("m v=1\t5")


def test_quotes_in_names_and_tag_values_are_ordinary_characters() -> None:
    assert parse_one('"m",t="x" "f"=1')[1:4] == ('"m"', (("t", '"x"'),), (('"f"', (F, 1.0)),))


def test_equals_in_measurement_and_tag_value_is_literal() -> None:
    assert parse_one("a=b,t=x=y v=1")[1:3] == ("a=b", (("t", "x=y"),))


# --- field values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("-1", -1.0),
        ("1.5", 1.5),
        ("-1.2e+78", -1.2e78),
        ("1e5", 1e5),
        ("1E-5", 1e-5),
        ("0.000", 0.0),
        ("007.5", 7.5),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("4.9e-324", 5e-324),
        ("1e-400", 0.0),
    ],
)
def test_floats(text: str, value: float) -> None:
    assert fields_of(f"m v={text}") == (("v", (F, value)),)


@pytest.mark.parametrize(
    "text",
    [
        ".5",
        "1.",
        "-.5",
        "+1",
        "1e",
        "1e+",
        "NaN",
        "nan",
        "inf",
        "-Inf",
        "0x10",
        "1_000",
        "١",
        "1.5.5",
        "--1",
        "1a",
    ],
)
def test_invalid_floats(text: str) -> None:
    assert error_of(f"m v={text}").startswith(f"invalid field value '{text}' for field 'v': ")


def test_float_out_of_range() -> None:
    assert error_of("m v=1e999") == "float value '1e999' out of range for float64 field 'v'"
    assert error_of("m v=-2e308") == "float value '-2e308' out of range for float64 field 'v'"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0i", 0),
        ("12i", 12),
        ("-12i", -12),
        ("-0i", 0),
        ("007i", 7),
        ("9223372036854775807i", 2**63 - 1),
        ("-9223372036854775808i", -(2**63)),
    ],
)
def test_integers(text: str, value: int) -> None:
    assert fields_of(f"m n={text}") == (("n", (INT, value)),)


@pytest.mark.parametrize(
    "text", ["9223372036854775808i", "-9223372036854775809i", "1" * 5000 + "i"]
)
def test_integer_out_of_range(text: str) -> None:
    assert error_of(f"m n={text}") == f"integer value '{text}' out of range for int64 field 'n'"


@pytest.mark.parametrize(
    ("text", "value"), [("0u", 0), ("12u", 12), ("18446744073709551615u", 2**64 - 1)]
)
def test_unsigned_integers(text: str, value: int) -> None:
    assert fields_of(f"m n={text}") == (("n", (U, value)),)


@pytest.mark.parametrize("text", ["18446744073709551616u", "-1u", "-0u"])
def test_unsigned_integer_out_of_range(text: str) -> None:
    message = f"unsigned integer value '{text}' out of range for uint64 field 'n'"
    assert error_of(f"m n={text}") == message


@pytest.mark.parametrize("text", ["1.5i", "i", "1e5i", "+1i", "0x1i", "1iu", "1u5", "u"])
def test_malformed_integers(text: str) -> None:
    assert error_of(f"m n={text}").startswith(f"invalid field value '{text}' for field 'n'")


@pytest.mark.parametrize("text", ["t", "T", "true", "True", "TRUE"])
def test_true(text: str) -> None:
    assert fields_of(f"m b={text}") == (("b", (B, True)),)


@pytest.mark.parametrize("text", ["f", "F", "false", "False", "FALSE"])
def test_false(text: str) -> None:
    assert fields_of(f"m b={text}") == (("b", (B, False)),)


@pytest.mark.parametrize("text", ["tRUE", "yes", "fALSE", "tru", "0b", "truee"])
def test_invalid_booleans(text: str) -> None:
    assert error_of(f"m b={text}").startswith(f"invalid field value '{text}'")


def test_invalid_value_message_names_value_field_and_what_is_expected() -> None:
    assert error_of("m usage=abc") == (
        "invalid field value 'abc' for field 'usage': expected a float (1.5), an integer (12i), "
        "an unsigned integer (12u), a boolean (t, f, true, false) or a double-quoted string"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('""', ""),
        ('"hello"', "hello"),
        ('"a b,c=d"', "a b,c=d"),
        ('"say \\"hi\\""', 'say "hi"'),
        ('"back\\\\slash"', "back\\slash"),
        ('"new\\nline"', "new\\nline"),  # only \" and \\ are escapes in strings
        ('"ends\\\\"', "ends\\"),
        ('"tab\there"', "tab\there"),
        ('"#not a comment"', "#not a comment"),
        ('"é🙂"', "é🙂"),
    ],
)
def test_strings(text: str, value: str) -> None:
    assert fields_of(f"m s={text} 1") == (("s", (S, value)),)


def test_string_between_fields() -> None:
    assert fields_of('m a=1i,s="x, y",b=t') == (
        ("a", (INT, 1)),
        ("s", (S, "x, y")),
        ("b", (B, True)),
    )


@pytest.mark.parametrize("line", ['m s="abc', 'm s="abc\\"', 'm s="'])
def test_unterminated_string(line: str) -> None:
    assert error_of(line) == "unterminated string value for field 's': missing closing '\"'"


def test_characters_after_a_closing_quote() -> None:
    assert error_of('m s="a"b') == (
        "invalid string value for field 's': unexpected characters after the closing quote: 'b'"
    )


def test_a_quote_inside_an_unquoted_value_is_invalid() -> None:
    assert error_of('m s=a"b"').startswith("invalid field value 'a\"b\"' for field 's'")


# --- escapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("my\\ cpu", "my cpu"),
        ("a\\,b", "a,b"),
        ("a\\\\b", "a\\b"),
        ("a\\=b", "a\\=b"),
        ("a\\xb", "a\\xb"),
        ("a\\\\", "a\\"),
        ("\\ lead", " lead"),
    ],
)
def test_measurement_escapes(raw: str, name: str) -> None:
    assert parse_one(f"{raw} v=1")[1] == name


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("a\\ b", "a b"),
        ("a\\,b", "a,b"),
        ("a\\=b", "a=b"),
        ("a\\\\b", "a\\b"),
        ("a\\xb", "a\\xb"),
        ("a\\\\", "a\\"),
    ],
)
def test_tag_key_tag_value_and_field_key_escapes(raw: str, name: str) -> None:
    row = parse_one(f"m,{raw}={raw} {raw}x=1")
    assert row[2] == ((name, name),)
    assert row[3] == ((name + "x", (F, 1.0)),)


def test_escaped_separators_do_not_split() -> None:
    row = parse_one("m\\,x\\ y,k\\ 1=v\\,1\\ 2\\=3 f\\=1=2i")
    assert row[1:4] == ("m,x y", (("k 1", "v,1 2=3"),), (("f=1", (INT, 2)),))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("cpu\\", "measurement ends with a backslash: 'cpu\\' (write '\\\\' for one)"),
        ("m,host\\", "tag key ends with a backslash: 'host\\' (write '\\\\' for one)"),
        ("m,host=a\\", "value of tag 'host' ends with a backslash: 'a\\' (write '\\\\' for one)"),
        ("m v\\", "field key ends with a backslash: 'v\\' (write '\\\\' for one)"),
    ],
)
def test_a_name_ending_in_a_backslash_is_an_error(line: str, message: str) -> None:
    assert error_of(line) == message


# --- per-line errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("cpu", "no fields in line: expected '<field>=<value>' after the series key"),
        ("cpu,host=a", "no fields in line: expected '<field>=<value>' after the series key"),
        ("cpu   ", "no fields in line: expected '<field>=<value>' after the series key"),
        ("cpu,host= v=1", "tag 'host' has an empty value"),
        ("cpu,host=,x=1 v=1", "tag 'host' has an empty value"),
        ("cpu,host=a,host=b v=1", "duplicate tag key 'host'"),
        ("cpu v=1,v=2", "duplicate field key 'v'"),
        ("cpu time=1", "column name 'time' is reserved and cannot be a field"),
        ("cpu,time=x v=1", "column name 'time' is reserved and cannot be a tag"),
        ("cpu,v=x v=1", "column 'v' is used as both a tag and a field"),
        ("cpu v=1 10 xyz", "trailing characters after timestamp: 'xyz'"),
        ("cpu v=1 10 11", "trailing characters after timestamp: '11'"),
        ("cpu v=1 abc", "invalid timestamp 'abc': expected an integer"),
        ("cpu v=1 1.5", "invalid timestamp '1.5': expected an integer"),
        ("cpu v=1 +5", "invalid timestamp '+5': expected an integer"),
        ("cpu v=1 w=2", "invalid timestamp 'w=2': expected an integer"),
        ("cpu v=1 9223372036854775808", "timestamp '9223372036854775808' out of range for int64"),
        ("cpu v=1 " + "9" * 5000, f"timestamp '{'9' * 5000}' out of range for int64"),
        ("cpu v=", "field 'v' has an empty value"),
        ("cpu v=,w=1", "field 'v' has an empty value"),
        ("cpu v", "field 'v' has no value: expected 'v=<value>'"),
        ("cpu v=1,w", "field 'w' has no value: expected 'w=<value>'"),
        ("cpu =1", "missing field key before '='"),
        ("cpu v=1,", "missing field key: expected '<field>=<value>'"),
        ("cpu,host v=1", "tag 'host' has no value: expected 'host=<value>'"),
        ("cpu, v=1", "missing tag key: expected '<tag>=<value>'"),
        ("cpu,=a v=1", "missing tag key before '='"),
        (",host=a v=1", "missing measurement name at the start of the line"),
        ("  ,host=a v=1", "missing measurement name at the start of the line"),
    ],
)
def test_errors(line: str, message: str) -> None:
    assert error_of(line) == message


def test_a_time_measurement_is_allowed() -> None:
    assert parse_one("time v=1")[1] == "time"


# --- precision -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "stamp", "nanos"),
    [
        (Precision.NANOSECOND, 1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        (Precision.MICROSECOND, 1_700_000_000_123_456, 1_700_000_000_123_456_000),
        (Precision.MILLISECOND, 1_700_000_000_123, 1_700_000_000_123_000_000),
        (Precision.SECOND, 1_700_000_000, 1_700_000_000_000_000_000),
        (Precision.SECOND, -1, -1_000_000_000),
        (Precision.NANOSECOND, -(2**63), -(2**63)),
        (Precision.NANOSECOND, 2**63 - 1, 2**63 - 1),
    ],
)
def test_explicit_precision_scales(precision: Precision, stamp: int, nanos: int) -> None:
    assert parse_one(f"m v=1 {stamp}", precision)[4] == nanos


@pytest.mark.parametrize(
    ("stamp", "nanos"),
    [
        (0, 0),
        (1_700_000_000, 1_700_000_000 * 10**9),
        (4_999_999_999, 4_999_999_999 * 10**9),
        (5_000_000_000, 5_000_000_000 * 10**6),
        (-4_999_999_999, -4_999_999_999 * 10**9),
        (-5_000_000_000, -5_000_000_000 * 10**6),
        (1_700_000_000_000, 1_700_000_000_000 * 10**6),
        (4_999_999_999_999, 4_999_999_999_999 * 10**6),
        (5_000_000_000_000, 5_000_000_000_000 * 10**3),
        (1_700_000_000_000_000, 1_700_000_000_000_000 * 10**3),
        (4_999_999_999_999_999, 4_999_999_999_999_999 * 10**3),
        (5_000_000_000_000_000, 5_000_000_000_000_000),
        (1_700_000_000_000_000_000, 1_700_000_000_000_000_000),
        (-(2**63), -(2**63)),
    ],
)
def test_auto_precision_guesses_by_magnitude(stamp: int, nanos: int) -> None:
    assert parse_one(f"m v=1 {stamp}", Precision.AUTO)[4] == nanos


def test_auto_is_the_default_precision() -> None:
    assert parse_exact(b"m v=1 1700000000", default_time_ns=0).rows()[0][4] == 1_700_000_000 * 10**9


@pytest.mark.parametrize(
    ("precision", "stamp"),
    [
        (Precision.SECOND, 9_223_372_037),
        (Precision.SECOND, -9_223_372_037),
        (Precision.MILLISECOND, 9_223_372_036_855),
        (Precision.MICROSECOND, -9_223_372_036_854_776),
    ],
)
def test_overflow_on_scaling_is_an_error_for_that_line(precision: Precision, stamp: int) -> None:
    result = parse_exact(f"m v=1 {stamp}\nm v=2 1".encode(), precision, DEFAULT)
    assert [r[0] for r in result.rows()] == [2]
    assert result.errors == [
        LineError(
            1,
            f"m v=1 {stamp}",
            f"timestamp '{stamp}' out of range for precision '{precision.value}': "
            "in nanoseconds it does not fit in int64",
        )
    ]


def test_largest_timestamps_that_scale() -> None:
    assert parse_one("m v=1 9223372036", Precision.SECOND)[4] == 9_223_372_036 * 10**9
    assert parse_one("m v=1 -9223372036", Precision.SECOND)[4] == -9_223_372_036 * 10**9


def test_the_default_time_is_not_scaled() -> None:
    assert parse_one("m v=1", Precision.SECOND)[4] == DEFAULT


# --- lines -----------------------------------------------------------------------------------


def test_blank_lines_and_comments_are_skipped_and_not_counted() -> None:
    body = b"# header\n\nm v=1 1\n   \n  # indented comment\n\t\nm v=oops 2\nm v=3 3\n"
    result = parse_exact(body, Precision.NANOSECOND, DEFAULT)
    assert result.line_count == 3
    assert [r[0] for r in result.rows()] == [1, 3]
    assert result.errors == [LineError(2, "m v=oops 2", result.errors[0].message)]


def test_crlf_line_endings() -> None:
    body = b'm v=1 1\r\nm s="a" 2\r\n\r\n# c\r\nm v=3\r'
    result = parse_exact(body, Precision.NANOSECOND, DEFAULT)
    assert result.errors == []
    assert [(r[0], r[4]) for r in result.rows()] == [(1, 1), (2, 2), (3, DEFAULT)]


def test_only_one_carriage_return_is_a_line_ending() -> None:
    result = parse_exact(b"m v=1\r\r\n", Precision.NANOSECOND, DEFAULT)
    assert result.errors[0].original_line == "m v=1\r"
    assert result.errors[0].message.startswith("invalid field value '1\r'")


def test_original_line_is_the_whole_line_without_its_ending() -> None:
    result = parse_exact(b"  m v=x 1  \r\n", Precision.NANOSECOND)
    assert result.errors[0].original_line == "  m v=x 1  "


def test_errors_do_not_stop_later_lines() -> None:
    result = parse_exact(b"m v=1 1\nbad\nm v=2 2\nm v= 3\nm v=4 4", Precision.NANOSECOND)
    assert [r[0] for r in result.rows()] == [1, 3, 5]
    assert [e.line_number for e in result.errors] == [2, 4]
    assert result.line_count == 5


def test_lines_are_kept_only_when_there_are_errors() -> None:
    assert parse_exact(b"m v=1\n# c\nm v=2").lines is None
    assert parse_exact(b"m v=1\n# c\nbad").lines == ["m v=1", "bad"]


def test_an_empty_body_has_no_lines() -> None:
    for body in (b"", b"\n\n", b"# only a comment\n", b"  \r\n"):
        result = parse_exact(body)
        assert (result.line_count, result.segments, result.errors) == (0, [], [])


def test_a_body_that_is_not_utf8_is_rejected_whole() -> None:
    with pytest.raises(LineProtocolError, match=r"^request body is not valid UTF-8: byte 0xff"):
        parse_exact(b'm v=1\nm s="\xff"')
    with pytest.raises(LineProtocolError, match=r"\(line 2\)"):
        parse_exact(b'm v=1\nm s="\xc3"')


# --- segments --------------------------------------------------------------------------------


def test_lines_group_into_segments_by_table_tag_keys_and_typed_fields() -> None:
    body = b"\n".join(
        [
            b"cpu,host=a v=1 1",
            b"cpu,host=b v=2 2",
            b"cpu,host=a v=3i 3",  # another field type
            b"cpu v=4 4",  # no tags
            b"cpu,region=x,host=a v=5 5",  # other tag keys
            b"mem,host=a v=6 6",  # another table
            b"cpu,host=c v=7 7",
        ]
    )
    result = parse_exact(body, Precision.NANOSECOND)
    shapes = {(s.table, s.tag_keys, s.field_types): s for s in result.segments}
    assert len(shapes) == 5
    cpu = shapes[("cpu", ("host",), (("v", F),))]
    assert cpu.line_numbers.to_pylist() == [1, 2, 7]
    assert cpu.tags["host"].to_pylist() == ["a", "b", "c"]
    assert cpu.fields["v"].to_pylist() == [1.0, 2.0, 7.0]
    assert cpu.time.to_pylist() == [1, 2, 7]
    assert len(cpu) == 3


def test_segment_arrays_have_the_documented_types() -> None:
    result = parse_exact(b'm,t=x f=1,i=1i,u=1u,s="s",b=t 5')
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


def test_rows_is_a_normal_form_sorted_by_line() -> None:
    result = parse_exact(b"b v=1 1\na v=2 2\nb v=3 3", Precision.NANOSECOND)
    assert isinstance(result, ParsedBody)
    assert [r[:2] for r in result.rows()] == [(1, "b"), (2, "a"), (3, "b")]
