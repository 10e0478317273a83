"""Properties of both parser paths: valid points round-trip, the fast path agrees with the
exact parser on any input, and nothing but `LineProtocolError` ever escapes."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager, suppress
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timewell.lineprotocol import (
    FieldType,
    LineProtocolError,
    Precision,
    columnar,
    exact,
    parse,
    parse_exact,
    parse_with_stats,
)

DEFAULT_TIME = 1_234_567

# Characters that need escaping somewhere, plus some that merely look dangerous.
NASTY = " ,=\\\"#\t\r'é🙂"
# Plain names let the fast path take lines; nasty ones need escapes and go to the exact parser.
plain_names = st.text(st.sampled_from(list("abcxyz019_-.")), min_size=1, max_size=6)
nasty_names = st.text(st.sampled_from(list("abcxyz019_-." + NASTY)), min_size=1, max_size=8)


def escape_measurement(name: str) -> str:
    return name.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def escape_key(name: str) -> str:
    return escape_measurement(name).replace("=", "\\=")


def render_value(ftype: FieldType, value: object, spelling: int) -> str:
    if ftype is FieldType.FLOAT:
        assert isinstance(value, float)
        if spelling % 2 and value.is_integer() and abs(value) < 1e15:
            return str(int(value))  # a bare integer is a float too
        return repr(value)
    if ftype is FieldType.INTEGER:
        return f"{value}i"
    if ftype is FieldType.UINTEGER:
        return f"{value}u"
    if ftype is FieldType.BOOLEAN:
        spellings = ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE")
        return spellings[spelling % 5 + (0 if value else 5)]
    assert isinstance(value, str)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Quotes and backslashes need escapes (exact parser); the rest are fine on the fast path.
STRING_CHARS = 'ab01é =,#\t"\\'


def small_or_any(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(max(low, -999), 999) | st.integers(low, high)


field_values = st.one_of(
    st.tuples(st.just(FieldType.FLOAT), st.floats(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just(FieldType.INTEGER), small_or_any(-(2**63), 2**63 - 1)),
    st.tuples(st.just(FieldType.UINTEGER), small_or_any(0, 2**64 - 1)),
    st.tuples(st.just(FieldType.BOOLEAN), st.booleans()),
    st.tuples(st.just(FieldType.STRING), st.text(st.sampled_from(list(STRING_CHARS)), max_size=6)),
)


timestamps = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(10**10), 10**10),
    st.integers(10**18, 2 * 10**18),
    st.sampled_from(
        [
            4_999_999_999,
            5_000_000_000,
            4_999_999_999_999,
            5_000_000_000_000,
            4_999_999_999_999_999,
            5_000_000_000_000_000,
            9_223_372_036,
            9_223_372_037,
            -9_223_372_037,
            2**63 - 1,
            -(2**63),
        ]
    ),
)


@st.composite
def points(draw: st.DrawFn) -> tuple:
    """(table, tags, fields, timestamp or None) with all keys distinct and not `time`."""
    names = draw(st.sampled_from([plain_names, plain_names, nasty_names]))
    table = draw(names.filter(lambda n: n[0] not in "#\t"))
    keys = draw(st.lists(names.filter(lambda n: n != "time"), min_size=1, max_size=5, unique=True))
    split = draw(st.integers(0, len(keys) - 1))
    tag_keys, field_keys = keys[:split], keys[split:]
    tags = tuple((k, draw(names)) for k in tag_keys)
    fields = tuple((k, *draw(field_values)) for k in field_keys)
    timestamp = draw(st.none() | timestamps)
    return table, tags, fields, timestamp


def render(point: tuple, spelling: int = 0) -> str:
    table, tags, fields, timestamp = point
    line = escape_measurement(table)
    line += "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in tags)
    line += " " + ",".join(f"{escape_key(k)}={render_value(t, v, spelling)}" for k, t, v in fields)
    return line if timestamp is None else f"{line} {timestamp}"


def expected_row(number: int, point: tuple) -> tuple:
    table, tags, fields, timestamp = point
    return (
        number,
        table,
        tags,
        tuple((k, (t, v)) for k, t, v in fields),
        DEFAULT_TIME if timestamp is None else timestamp,
    )


@contextmanager
def eager_fast_path():
    """Let the fast path take even tiny bodies and groups, so small examples exercise it."""
    with (
        mock.patch.object(columnar, "_MIN_ROUND_LINES", 1),
        mock.patch.object(columnar, "_MIN_FAST_BODY_LINES", 0),
    ):
        yield


@settings(max_examples=60, deadline=None)
@given(st.lists(points(), min_size=1, max_size=6), st.integers(0, 4), st.integers(1, 4))
def test_valid_points_round_trip(batch: list, spelling: int, copies: int) -> None:
    body = "\n".join(render(p, spelling) for p in batch * copies).encode()
    expected = [expected_row(i, p) for i, p in enumerate(batch * copies, 1)]
    for parser in (parse, parse_exact):
        with eager_fast_path():
            result = parser(body, Precision.NANOSECOND, DEFAULT_TIME)
        assert result.errors == []
        assert result.line_count == len(expected)
        assert result.rows() == expected


def mutate(line: str, data: st.DataObject) -> str:
    """One random edit: insert, delete or replace a character."""
    position = data.draw(st.integers(0, len(line)))
    char = data.draw(st.sampled_from(list(NASTY + "0i u.e-+\n")))
    kind = data.draw(st.sampled_from(["insert", "delete", "replace"]))
    if kind == "insert":
        return line[:position] + char + line[position:]
    if kind == "delete":
        return line[:position] + line[position + 1 :]
    return line[:position] + char + line[position + 1 :]


LP_CHARS = st.sampled_from(list('cpu,host=a b v=1.5i0u"\\#\t\r\n -etTfF9'))


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Mostly-valid bodies: shapes repeated (so the fast path has groups to take), with
    mutated lines, random text, blank lines, comments and CRLF endings mixed in."""
    templates = draw(st.lists(points(), min_size=1, max_size=3))
    lines = []
    for _ in range(draw(st.integers(1, 25))):
        choice = draw(st.integers(0, 9))
        if choice <= 5:
            table, tags, fields, _ = draw(st.sampled_from(templates))
            stamp = draw(st.none() | timestamps)
            line = render((table, tags, fields, stamp), draw(st.integers(0, 4)))
        elif choice <= 7:
            line = mutate(render(draw(st.sampled_from(templates))), st_data(draw))
        elif choice == 8:
            line = draw(st.text(LP_CHARS, max_size=30))
        else:
            line = draw(st.sampled_from(["", "  ", "# comment", "  #x", "\t", "\r"]))
        lines.append(line)
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return (ending.join(lines) + draw(st.sampled_from(["", ending]))).encode()


def st_data(draw: st.DrawFn) -> st.DataObject:
    return draw(st.data())


def assert_same(body: bytes, precision: Precision) -> None:
    with eager_fast_path():
        fast = parse(body, precision, DEFAULT_TIME)
    exact = parse_exact(body, precision, DEFAULT_TIME)
    assert fast.errors == exact.errors
    assert fast.rows() == exact.rows()
    assert fast.line_count == exact.line_count
    assert fast.lines == exact.lines


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), st.sampled_from(list(Precision)))
def test_fast_path_agrees_with_exact_parser(body: bytes, precision: Precision) -> None:
    assert_same(body, precision)


@settings(max_examples=200, deadline=None)
@given(st.text(LP_CHARS, max_size=200), st.sampled_from(list(Precision)))
def test_fast_path_agrees_on_random_text(text: str, precision: Precision) -> None:
    assert_same(text.encode(), precision)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(list(Precision)))
def test_arbitrary_bytes_raise_only_line_protocol_error(body: bytes, precision: Precision) -> None:
    for parser in (parse, parse_exact):
        with suppress(LineProtocolError):
            parser(body, precision)


def test_repeated_valid_lines_take_the_fast_path() -> None:
    body = "\n".join(
        f'm,host=h{i % 7} v={i}.5,n={i}i,s="x",b=t {1_700_000_000_000_000_000 + i}'
        for i in range(50)
    ).encode()
    _, stats = parse_with_stats(body)
    assert stats.exact_lines == 0


def outcome(parser: Callable[[str, Precision, int], object], line: str, precision: Precision):
    try:
        return parser(line, precision, DEFAULT_TIME)
    except exact.LineInvalid as exc:
        return str(exc)


@settings(max_examples=80, deadline=None)
@given(st.lists(points(), min_size=1, max_size=3), st.data())
def test_plain_split_agrees_with_the_scanner(batch: list, data: st.DataObject) -> None:
    """The exact parser's `str.split` shortcut changes nothing: same points, same errors."""
    for point in batch:
        line = render(point)
        for candidate in (line, mutate(line, data), data.draw(st.text(LP_CHARS, max_size=30))):
            for precision in Precision:
                assert outcome(exact.parse_line, candidate, precision) == outcome(
                    exact._parse_scanning, candidate, precision
                )
