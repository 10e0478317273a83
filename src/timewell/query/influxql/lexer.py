"""InfluxQL tokens.

The scanner works on demand: the parser asks for the next token, and rescans from a `/` token's
position when the grammar expects a regular expression there (`/` is division elsewhere).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class InfluxQLSyntaxError(ValueError):
    """The text is not valid InfluxQL; the message says where, as InfluxDB 1.x does."""

    def __init__(self, message: str, text: str, pos: int | None) -> None:
        if pos is None:  # errors 1.x gives without a position (an unknown tz())
            super().__init__(f"error parsing query: {message}")
            return
        line = text.count("\n", 0, pos) + 1
        char = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"error parsing query: {message} at line {line}, char {char}")


# InfluxQL's reserved words (InfluxDB 1.x's keyword tokens): unquoted they are never an
# identifier, so a tag called `name` must be written `"name"`, as in 1.x and InfluxDB 3.
RESERVED = frozenset({
    "ALL", "ALTER", "ANALYZE", "AND", "ANY", "AS", "ASC", "BEGIN", "BY", "CARDINALITY",
    "CREATE", "CONTINUOUS", "DATABASE", "DATABASES", "DEFAULT", "DELETE", "DESC",
    "DESTINATIONS", "DIAGNOSTICS", "DISTINCT", "DROP", "DURATION", "END", "EVERY", "EXACT",
    "EXPLAIN", "FIELD", "FOR", "FROM", "GRANT", "GRANTS", "GROUP", "GROUPS", "IN", "INF",
    "INSERT", "INTO", "KEY", "KEYS", "KILL", "LIMIT", "MEASUREMENT", "MEASUREMENTS", "NAME",
    "OFFSET", "ON", "OR", "ORDER", "PASSWORD", "POLICY", "POLICIES", "PRIVILEGES",
    "QUERIES", "QUERY", "READ", "REPLICATION", "RESAMPLE", "RETENTION", "REVOKE", "SELECT",
    "SERIES", "SET", "SHARD", "SHARDS", "SLIMIT", "SOFFSET", "STATS", "SUBSCRIPTION",
    "SUBSCRIPTIONS", "TAG", "TO", "USER", "USERS", "VALUES", "WHERE", "WITH", "WRITE",
})


class Kind(enum.Enum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    DURATION = "duration"
    REGEX = "regex"
    PARAM = "bound parameter"
    OP = "operator"
    EOF = "EOF"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # identifiers and strings unescaped; operators as written
    pos: int
    quoted: bool = False  # a double-quoted identifier is never a keyword

    def is_keyword(self, *words: str) -> bool:
        return self.kind is Kind.IDENT and not self.quoted and self.text.upper() in words

    @property
    def reserved(self) -> bool:
        return self.kind is Kind.IDENT and not self.quoted and self.text.upper() in RESERVED

    def is_op(self, *ops: str) -> bool:
        return self.kind is Kind.OP and self.text in ops

    def describe(self) -> str:
        if self.kind is Kind.EOF:
            return "EOF"
        return self.text.upper() if self.reserved else self.text


# Longest first, so `<=` wins over `<`.
_OPERATORS = ("::", "=~", "!~", "!=", "<>", "<=", ">=", "=", "<", ">", "+", "-", "*", "/",
              "%", "&", "|", "^", "(", ")", ",", ";", ".", ":")

DURATION_UNITS_NS = {
    "ns": 1, "u": 1_000, "µ": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
    "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None) -> InfluxQLSyntaxError:
        return InfluxQLSyntaxError(message, self.text, pos)

    def next(self) -> Token:
        text = self.text
        self._skip_space_and_comments()
        start = self.pos
        if start >= len(text):
            return Token(Kind.EOF, "", start)
        ch = text[start]
        if _is_ident_start(ch):
            end = start
            while end < len(text) and _is_ident_char(text[end]):
                end += 1
            self.pos = end
            return Token(Kind.IDENT, text[start:end], start)
        if ch == '"':
            return Token(Kind.IDENT, self._quoted('"'), start, quoted=True)
        if ch == "'":
            return Token(Kind.STRING, self._quoted("'"), start)
        if ch.isdigit() or (ch == "." and start + 1 < len(text) and text[start + 1].isdigit()):
            return self._number()
        if ch == "$":
            end = start + 1
            while end < len(text) and (_is_ident_char(text[end])):
                end += 1
            if end == start + 1:
                raise self.error("found $, expected a bound parameter name", start)
            self.pos = end
            return Token(Kind.PARAM, text[start + 1:end], start)
        for op in _OPERATORS:
            if text.startswith(op, start):
                self.pos = start + len(op)
                return Token(Kind.OP, op, start)
        raise self.error(f"found {ch}, expected a token", start)

    def regex_at(self, pos: int) -> Token:
        """The regular expression literal `/.../` starting at `pos` (a `/` token's position)."""
        text = self.text
        out = []
        i = pos + 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] == "/":
                out.append("/")
                i += 2
                continue
            if ch == "/":
                self.pos = i + 1
                return Token(Kind.REGEX, "".join(out), pos)
            if ch == "\n":
                break
            out.append(ch)
            i += 1
        raise self.error("unterminated regex", pos)

    def _skip_space_and_comments(self) -> None:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch.isspace():
                self.pos += 1
            elif text.startswith("--", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("unterminated comment", self.pos)
                self.pos = end + 2
            else:
                return

    def _quoted(self, quote: str) -> str:
        text = self.text
        start = self.pos
        out = []
        i = start + 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                nxt = text[i + 1]
                out.append({"n": "\n", "t": "\t"}.get(nxt, nxt)
                           if nxt in (quote, "\\", "n", "t") else "\\" + nxt)
                i += 2
                continue
            if ch == quote:
                self.pos = i + 1
                return "".join(out)
            if ch == "\n":
                break
            out.append(ch)
            i += 1
        kind = "string" if quote == "'" else "identifier"
        raise self.error(f"unterminated quoted {kind}", start)

    def _number(self) -> Token:
        text = self.text
        start = end = self.pos
        while end < len(text) and text[end].isdigit():
            end += 1
        is_float = False
        if end < len(text) and text[end] == "." and end + 1 < len(text) and text[end + 1].isdigit():
            is_float = True
            end += 1
            while end < len(text) and text[end].isdigit():
                end += 1
        if not is_float and end < len(text) and (text[end].isalpha() or text[end] == "µ"):
            return self._duration(start)
        if end < len(text) and text[end] in "eE" and is_float:
            exp = end + 1
            if exp < len(text) and text[exp] in "+-":
                exp += 1
            if exp < len(text) and text[exp].isdigit():
                end = exp
                while end < len(text) and text[end].isdigit():
                    end += 1
        self.pos = end
        return Token(Kind.NUMBER if is_float else Kind.INTEGER, text[start:end], start)

    def _duration(self, start: int) -> Token:
        """`10m`, `1h30m`, `1700000000000ms`: digits and units, repeated."""
        text = self.text
        i = start
        while i < len(text) and (text[i].isdigit()):
            while i < len(text) and text[i].isdigit():
                i += 1
            unit = next((u for u in ("ns", "ms", "u", "µ", "s", "m", "h", "d", "w")
                         if text.startswith(u, i)), None)
            if unit is None:
                raise self.error(f"found {text[start:i + 1]}, expected a duration unit "
                                 "(ns, u, ms, s, m, h, d, w)", start)
            i += len(unit)
        if i < len(text) and _is_ident_char(text[i]):
            raise self.error(f"invalid duration {text[start:i + 1]}", start)
        self.pos = i
        return Token(Kind.DURATION, text[start:i], start)


def duration_ns(text: str) -> int:
    """Nanoseconds in a duration literal the lexer accepted (`1h30m` → 5.4e12)."""
    total = 0
    i = 0
    while i < len(text):
        j = i
        while text[j].isdigit():
            j += 1
        unit = next(u for u in ("ns", "ms", "u", "µ", "s", "m", "h", "d", "w")
                    if text.startswith(u, j))
        total += int(text[i:j]) * DURATION_UNITS_NS[unit]
        i = j + len(unit)
    return total
