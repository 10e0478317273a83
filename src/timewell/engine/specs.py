"""Trigger specifications: what `trigger_specification` strings mean and when schedules fire.

    table:<name>      all_tables      every:<duration>      cron:<expression>      request:<path>

`parse_trigger_spec` turns the text into one of five frozen records; each prints back as its
canonical spec string. The two schedules answer `next_fire(after)`, always in UTC.

Cron follows InfluxDB 3 (the Rust `cron` crate) so that existing triggers fire on the same
days: 6 fields with seconds first, an optional 7th year field, day-of-week numbers 1-7 with
1 = Sunday, and day-of-month AND day-of-week both having to match. **(better)** 5-field cron is
accepted too, with seconds = 0 and the Unix numbering of days (0-7, 0 and 7 = Sunday) but still
upstream's AND of the two day fields, and every expression is normalised to 6 fields with day
names so that it means the same when read back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from croniter import CroniterError

from timewell.catalog.names import check_table_name
from timewell.duration import parse_duration_ns
from timewell.engine.cron import croniter_next, normalise_cron
from timewell.errors import InvalidRequest

__all__ = [
    "AllTablesTrigger",
    "CronTrigger",
    "EveryTrigger",
    "InvalidTriggerSpec",
    "RequestTrigger",
    "ScheduleExhausted",
    "TableTrigger",
    "TriggerSpec",
    "parse_trigger_spec",
]

_VALID_FORMS = (
    "table:<table name>, all_tables, every:<duration> (e.g. every:10s, every:1h30m), "
    "cron:<expression> (e.g. cron:0 */5 * * * *) or request:<path> (e.g. request:status)"
)
_EPOCH = datetime(1970, 1, 1)
_ONE_MICROSECOND = timedelta(microseconds=1)


class InvalidTriggerSpec(InvalidRequest):
    """A trigger specification that cannot be used; the message says why and what to write."""


class ScheduleExhausted(LookupError):
    """A cron schedule has no fire time after the given moment (its year field has passed)."""

    def __init__(self, expression: str, after: datetime) -> None:
        super().__init__(f"cron schedule '{expression}' has no fire time after {after} UTC")
        self.expression = expression
        self.after = after


def _utc_naive(moment: datetime) -> datetime:
    # Naive means UTC throughout the engine; an aware moment is converted, never reinterpreted.
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# durations


_NS_PER_US = 1_000
_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_S
# humantime's (upstream's) calendar units: a year is 365.25 days, a month 30.44 days.
_NS_PER_YEAR = 31_557_600 * _NS_PER_S
_NS_PER_MONTH = 2_630_016 * _NS_PER_S
MIN_INTERVAL_NS = _NS_PER_MS
MAX_INTERVAL_NS = _NS_PER_YEAR

# Units upstream (humantime) accepts that `parse_duration_ns` does not. `M` is a month there,
# while `parse_duration_ns` ignores case and would read it as minutes, so it is matched first
# and case-sensitively.
_EXTRA_UNITS_NS = {
    "y": _NS_PER_YEAR, "year": _NS_PER_YEAR, "years": _NS_PER_YEAR,
    "month": _NS_PER_MONTH, "months": _NS_PER_MONTH,
    "hr": 3_600 * _NS_PER_S, "hrs": 3_600 * _NS_PER_S,
    "msec": _NS_PER_MS, "millis": _NS_PER_MS, "usec": _NS_PER_US, "nsec": 1, "nanos": 1,
}
_DURATION_PART = re.compile(r"\s*([0-9]+)\s*([^\s0-9]+)\s*")
_CANONICAL_UNITS = (
    ("w", 7 * _NS_PER_DAY), ("d", _NS_PER_DAY), ("h", 3_600 * _NS_PER_S),
    ("m", 60 * _NS_PER_S), ("s", _NS_PER_S), ("ms", _NS_PER_MS), ("us", _NS_PER_US),
)


def _parse_interval_ns(text: str) -> int:
    """The nanoseconds in an `every:` duration, in any spelling upstream or timewell accepts."""
    source = text.strip()
    if not source:
        raise ValueError("the duration is empty: write e.g. every:10s, every:5m or every:1h30m")
    total, pos = 0, 0
    while pos < len(source):
        part = _DURATION_PART.match(source, pos)
        if part is not None and part.group(2)[0] in ".,":
            raise ValueError(f"'{text}' has a fraction: use whole numbers of a smaller unit, "
                             "e.g. 1h30m rather than 1.5h")
        if part is None:
            raise ValueError(
                f"'{text}' is not a duration: write whole numbers with units "
                "(ms, s, m, h, d, w and long forms like 'minutes'), combinable as in 1h30m"
            )
        number, unit = int(part.group(1)), part.group(2)
        if unit == "M" or unit.lower() in _EXTRA_UNITS_NS:
            total += number * _EXTRA_UNITS_NS["month" if unit == "M" else unit.lower()]
        else:
            try:
                total += parse_duration_ns(f"{number}{unit}")
            except InvalidRequest:
                raise ValueError(
                    f"unknown unit '{unit}' in '{text}': use ms, s, m, h, d or w "
                    "(or sec, min, hour, day, week and their plurals)"
                ) from None
        pos = part.end()
    return total


def _check_interval(interval_ns: int) -> None:
    if isinstance(interval_ns, bool) or not isinstance(interval_ns, int):
        raise TypeError(f"interval_ns must be an int, not {type(interval_ns).__name__}")
    if interval_ns <= 0:
        raise ValueError("the interval must be longer than zero")
    if interval_ns < MIN_INTERVAL_NS:
        raise ValueError("the interval is shorter than the minimum of 1ms")
    if interval_ns > MAX_INTERVAL_NS:
        raise ValueError("the interval is longer than the maximum of 1 year (365.25 days)")
    if interval_ns % _NS_PER_US:
        # Fire times are datetimes, which stop at microseconds; a finer interval would drift.
        raise ValueError("the interval must be a whole number of microseconds")


def _format_interval(interval_ns: int) -> str:
    parts = []
    for unit, size in _CANONICAL_UNITS:
        count, interval_ns = divmod(interval_ns, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# the five kinds of trigger


@dataclass(frozen=True)
class TableTrigger:
    """Fires after each WAL flush that holds rows for `table`."""

    table: str
    entry_point: ClassVar[str] = "process_writes"

    def __post_init__(self) -> None:
        check_table_name(self.table)

    def __str__(self) -> str:
        return f"table:{self.table}"


@dataclass(frozen=True)
class AllTablesTrigger:
    """Fires after each WAL flush that holds writes to the trigger's database."""

    entry_point: ClassVar[str] = "process_writes"

    def __str__(self) -> str:
        return "all_tables"


@dataclass(frozen=True)
class EveryTrigger:
    """Fires every `interval_ns`, aligned to the Unix epoch (`every:1h` at the top of each
    hour, `every:10s` at :00, :10, ...)."""

    interval_ns: int
    entry_point: ClassVar[str] = "process_scheduled_call"

    def __post_init__(self) -> None:
        _check_interval(self.interval_ns)

    def __str__(self) -> str:
        return f"every:{_format_interval(self.interval_ns)}"

    def next_fire(self, after: datetime) -> datetime:
        """The first fire time strictly after `after`, as a naive UTC datetime (an aware
        `after` is converted to UTC first)."""
        since_epoch_us = (_utc_naive(after) - _EPOCH) // _ONE_MICROSECOND
        interval_us = self.interval_ns // _NS_PER_US
        fire_us = (since_epoch_us // interval_us + 1) * interval_us
        return _EPOCH + timedelta(microseconds=fire_us)


@dataclass(frozen=True)
class CronTrigger:
    """Fires on a cron schedule in UTC. `expression` is normalised on construction: 6 fields
    (7 with a year), seconds first, days of week as names."""

    expression: str
    _for_croniter: str = field(init=False, repr=False, compare=False)
    entry_point: ClassVar[str] = "process_scheduled_call"

    def __post_init__(self) -> None:
        forms = normalise_cron(self.expression)
        # Frozen: the normalised form replaces what the caller wrote, exactly once, here.
        object.__setattr__(self, "expression", forms.normalised)
        object.__setattr__(self, "_for_croniter", forms.for_croniter)

    def __str__(self) -> str:
        return f"cron:{self.expression}"

    def next_fire(self, after: datetime) -> datetime:
        """The first fire time strictly after `after`, a naive UTC datetime in whole seconds;
        `ScheduleExhausted` when there is none (a 7th year field that has passed)."""
        moment = _utc_naive(after)
        try:
            return croniter_next(self._for_croniter, moment)
        except CroniterError:
            raise ScheduleExhausted(self.expression, moment) from None


_REQUEST_PATH = re.compile(r"[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*")


@dataclass(frozen=True)
class RequestTrigger:
    """Fires on `GET`/`POST /api/v3/engine/<path>`."""

    path: str
    entry_point: ClassVar[str] = "process_request"

    def __post_init__(self) -> None:
        path = self.path
        if not path:
            raise ValueError("the request path is empty: write e.g. request:status")
        if path.startswith("/"):
            raise ValueError(f"the request path must not start with '/': write "
                             f"request:{path.lstrip('/')} to serve /api/v3/engine/"
                             f"{path.lstrip('/')}")
        if any(segment in (".", "..") for segment in path.split("/")):
            raise ValueError(f"the request path '{path}' must not contain '.' or '..' segments")
        if not _REQUEST_PATH.fullmatch(path):
            raise ValueError(
                f"the request path '{path}' may only use letters, digits, '_', '-', '.' and "
                "'/' between non-empty segments"
            )

    def __str__(self) -> str:
        return f"request:{self.path}"


TriggerSpec = TableTrigger | AllTablesTrigger | EveryTrigger | CronTrigger | RequestTrigger


def parse_trigger_spec(text: str) -> TriggerSpec:
    """The trigger a specification string describes; `InvalidTriggerSpec` saying why not."""
    spec = text.strip()
    prefix, colon, rest = spec.partition(":")
    rest = rest.strip()
    try:
        if not colon:
            if spec == "all_tables":
                return AllTablesTrigger()
        elif prefix == "all_tables" and not rest:
            return AllTablesTrigger()
        elif prefix == "table":
            return TableTrigger(rest)
        elif prefix == "every":
            return EveryTrigger(_parse_interval_ns(rest))
        elif prefix == "cron":
            return CronTrigger(rest)
        elif prefix == "request":
            return RequestTrigger(rest)
    except ValueError as e:  # InvalidRequest is a ValueError too
        raise InvalidTriggerSpec(f"invalid trigger specification '{text}': {e}") from None
    raise InvalidTriggerSpec(
        f"invalid trigger specification '{text}': expected one of {_VALID_FORMS}"
    )
