"""Splitting a WHERE clause into its time range and the rest, as InfluxQL does.

InfluxQL conditions on `time` bound the query (`time > now() - 1h AND time < '2024-01-01'`);
they may be combined with AND only. Time values are RFC 3339 strings, integers (nanoseconds),
duration literals (`1700000000000ms`, as Grafana writes them), `now()`, and sums of those.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from timewell.query.influxql import ast

MIN_TIME = -(2**63) + 2
MAX_TIME = 2**63 - 2


class InfluxQLError(ValueError):
    """The statement is valid InfluxQL that cannot be answered as written."""


@dataclass(frozen=True)
class TimeRange:
    """Inclusive nanosecond bounds; None when the query leaves that side open."""

    start: int | None = None
    end: int | None = None

    def intersect(self, start: int | None, end: int | None) -> TimeRange:
        if start is not None and self.start is not None:
            start = max(start, self.start)
        if end is not None and self.end is not None:
            end = min(end, self.end)
        return TimeRange(start if start is not None else self.start,
                         end if end is not None else self.end)

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start > self.end


def split_condition(condition: ast.Expr | None, now_ns: int) -> tuple[TimeRange, ast.Expr | None]:
    """The time range a condition sets and the condition without its time terms."""
    if condition is None:
        return TimeRange(), None
    return _split(condition, now_ns, TimeRange())


def _split(expr: ast.Expr, now_ns: int, bounds: TimeRange) -> tuple[TimeRange, ast.Expr | None]:
    if isinstance(expr, ast.Paren):
        return _split(expr.expr, now_ns, bounds)
    if isinstance(expr, ast.BinaryExpr):
        if expr.op == "AND":
            bounds, left = _split(expr.lhs, now_ns, bounds)
            bounds, right = _split(expr.rhs, now_ns, bounds)
            if left is None:
                return bounds, right
            if right is None:
                return bounds, left
            return bounds, ast.BinaryExpr("AND", left, right)
        if expr.op == "OR":
            if _mentions_time(expr):
                raise InfluxQLError("invalid time condition: conditions on time cannot be "
                                    "combined with OR")
            return bounds, expr
        if _is_time(expr.lhs) or _is_time(expr.rhs):
            return _time_comparison(expr, now_ns, bounds), None
    return bounds, expr


def _is_time(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.VarRef) and expr.name.lower() == "time"


def _mentions_time(expr: ast.Expr) -> bool:
    return any(_is_time(node) for node in ast.walk(expr))


_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "="}


def _time_comparison(expr: ast.BinaryExpr, now_ns: int, bounds: TimeRange) -> TimeRange:
    op, value_expr = expr.op, expr.rhs
    if _is_time(expr.rhs):
        op, value_expr = _FLIPPED.get(op, op), expr.lhs
    if op not in _FLIPPED:
        raise InfluxQLError(f"invalid time comparison operator: {op}")
    value = time_value(value_expr, now_ns)
    if op == ">":
        return bounds.intersect(value + 1, None)
    if op == ">=":
        return bounds.intersect(value, None)
    if op == "<":
        return bounds.intersect(None, value - 1)
    if op == "<=":
        return bounds.intersect(None, value)
    return bounds.intersect(value, value)


def time_value(expr: ast.Expr, now_ns: int) -> int:
    """Nanoseconds since the epoch for an expression compared with `time`."""
    if isinstance(expr, ast.Paren):
        return time_value(expr.expr, now_ns)
    if isinstance(expr, ast.Call) and expr.name == "now" and not expr.args:
        return now_ns
    if isinstance(expr, ast.StringLiteral):
        return parse_time(expr.value)
    if isinstance(expr, ast.IntegerLiteral):
        return expr.value
    if isinstance(expr, ast.NumberLiteral):
        return int(expr.value)
    if isinstance(expr, ast.DurationLiteral):
        return expr.ns
    if isinstance(expr, ast.BinaryExpr) and expr.op in ("+", "-"):
        left = time_value(expr.lhs, now_ns)
        right = _duration_value(expr.rhs, now_ns)
        return left + right if expr.op == "+" else left - right
    raise InfluxQLError(f"invalid time expression: {describe(expr)}")


def _duration_value(expr: ast.Expr, now_ns: int) -> int:
    if isinstance(expr, ast.DurationLiteral):
        return expr.ns
    return time_value(expr, now_ns)


_TIME_TEXT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?$"
)


def parse_time(text: str) -> int:
    """Nanoseconds for an RFC 3339 time (`2024-01-01T00:00:00.5Z`), a `2024-01-01 00:00:00`
    time or a `2024-01-01` date; UTC unless the text has an offset."""
    match = _TIME_TEXT.match(text.strip())
    if match is None:
        raise InfluxQLError(f"invalid time: '{text}' is not an RFC 3339 time or a date")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        base = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                           int(second or 0), tzinfo=dt.UTC)
    except ValueError as e:
        raise InfluxQLError(f"invalid time '{text}': {e}") from None
    seconds = int(base.timestamp())
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int((fraction or "").ljust(9, "0") or 0)
    return seconds * 1_000_000_000 + nanos


def describe(expr: ast.Expr) -> str:
    """InfluxQL text for an expression, for error messages."""
    if isinstance(expr, ast.VarRef):
        return expr.name + (f"::{expr.type}" if expr.type else "")
    if isinstance(expr, ast.Wildcard):
        return "*"
    if isinstance(expr, ast.RegexLiteral):
        return f"/{expr.pattern}/"
    if isinstance(expr, ast.StringLiteral):
        return "'" + expr.value.replace("'", "\\'") + "'"
    if isinstance(expr, ast.BooleanLiteral):
        return "true" if expr.value else "false"
    if isinstance(expr, ast.NumberLiteral | ast.IntegerLiteral):
        return str(expr.value)
    if isinstance(expr, ast.DurationLiteral):
        return expr.text
    if isinstance(expr, ast.Call):
        return f"{expr.name}({', '.join(describe(a) for a in expr.args)})"
    if isinstance(expr, ast.BinaryExpr):
        return f"{describe(expr.lhs)} {expr.op} {describe(expr.rhs)}"
    if isinstance(expr, ast.Paren):
        return f"({describe(expr.expr)})"
    return str(expr)
