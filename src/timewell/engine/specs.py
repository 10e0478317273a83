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

from croniter import CroniterBadDateError, CroniterError, croniter

from timewell.catalog.names import check_table_name
from timewell.duration import parse_duration_ns
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
# cron


_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * SUN",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_DAY_BY_NAME = {
    **{name: i for i, name in enumerate(_DAY_NAMES)},
    "SUNDAY": 0, "MONDAY": 1, "TUES": 2, "TUESDAY": 2, "WEDNESDAY": 3,
    "THURS": 4, "THURSDAY": 4, "FRIDAY": 5, "SATURDAY": 6,
}
# croniter's hashed (H) and random (R) values would make a schedule differ between calls.
_HASHED_OR_RANDOM = re.compile(r"(?<![A-Z])[HR](?![A-Z])", re.IGNORECASE)
_DOW_ITEM = re.compile(
    r"(?P<all>[*?])(?:/(?P<all_step>[0-9]+))?"
    r"|(?P<last>L)"
    r"|(?P<day>[0-9]+|[A-Z]+?)(?:"
    r"(?P<is_last>L)|#(?P<nth>[0-9]+)|-(?P<end>[0-9]+|[A-Z]+)(?:/(?P<range_step>[0-9]+))?"
    r"|/(?P<step>[0-9]+))?",
    re.IGNORECASE,
)
_CRONITER_YEARS = 2099 - 1970 + 1
_FIELDS_HELP = (
    "write 6 fields 'sec min hour day-of-month month day-of-week' with an optional 7th year "
    "field (e.g. 0 */5 * * * *), 5 standard fields, or @hourly, @daily, @weekly, @monthly, "
    "@yearly"
)


@dataclass(frozen=True)
class _DaySet:
    """A parsed day-of-week field: plain weekdays (0 = Sunday) plus nth / last forms."""

    days: frozenset[int]
    nth: tuple[tuple[int, int], ...]  # (weekday, 1..5): the nth such weekday of the month
    last: tuple[int, ...]  # the last such weekday of the month

    def normalised(self) -> str:
        if len(self.days) == 7:
            return "*"
        items = _compress([_DAY_NAMES[d] for d in sorted(self.days)], sorted(self.days))
        items += [f"{_DAY_NAMES[d]}#{n}" for d, n in self.nth]
        items += [f"{_DAY_NAMES[d]}L" for d in self.last]
        return ",".join(items)

    def for_croniter(self) -> str:
        if len(self.days) == 7:
            return "*"
        items = _compress([str(d) for d in sorted(self.days)], sorted(self.days))
        items += [f"{d}#{n}" for d, n in self.nth]
        items += [f"L{d}" for d in self.last]
        return ",".join(items)


def _compress(labels: list[str], ordinals: list[int]) -> list[str]:
    """Runs of three or more consecutive days as `A-B`; `MON,TUE,WED,FRI` → `MON-WED,FRI`."""
    out: list[str] = []
    start = 0
    for i in range(1, len(ordinals) + 1):
        if i == len(ordinals) or ordinals[i] != ordinals[i - 1] + 1:
            run = labels[start:i]
            out += [f"{run[0]}-{run[-1]}"] if len(run) >= 3 else run
            start = i
    return out


def _parse_days_of_week(text: str, unix: bool) -> _DaySet:
    """Parse a day-of-week field. `unix`: 5-field numbering 0-7 with 0 and 7 = Sunday;
    otherwise upstream's 1-7 with 1 = Sunday."""
    low, high = (0, 7) if unix else (1, 7)

    def ordinal(token: str) -> int:
        if token.isdigit():
            number = int(token)
            if not low <= number <= high:
                numbering = (
                    "0-7 with 0 and 7 = Sunday in 5-field cron" if unix else
                    "1-7 with 1 = Sunday in 6- and 7-field cron, as in InfluxDB 3"
                )
                raise ValueError(
                    f"day of week {number} is out of range: days run {numbering}; "
                    "names such as SUN or MON-FRI avoid the ambiguity"
                )
            return number
        name = token.upper()
        if name not in _DAY_BY_NAME:
            raise ValueError(f"'{token}' is not a day of the week: use SUN, MON, ... SAT")
        return _DAY_BY_NAME[name] + (0 if unix else 1)

    def weekday(number: int) -> int:
        return number % 7 if unix else number - 1

    days: set[int] = set()
    nth: list[tuple[int, int]] = []
    last: list[int] = []
    for item in text.split(","):
        match = _DOW_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"'{item}' is not a day-of-week value")
        if match["all"]:
            step = int(match["all_step"] or 1)
            # Seven days from the first: 0-6 in Unix numbering (7 would repeat Sunday), 1-7.
            sequence = list(range(low, low + 7))
        elif match["last"]:
            days.add(6)  # a bare L is the last day of the week, Saturday
            continue
        else:
            start = ordinal(match["day"])
            if match["is_last"]:
                last.append(weekday(start))
                continue
            if match["nth"]:
                occurrence = int(match["nth"])
                if not 1 <= occurrence <= 5:
                    raise ValueError(f"'{item}': the occurrence after '#' must be 1 to 5")
                nth.append((weekday(start), occurrence))
                continue
            end = ordinal(match["end"]) if match["end"] else (high if match["step"] else start)
            step = int(match["range_step"] or match["step"] or 1)
            # A range that runs past Saturday wraps around (FRI-MON).
            sequence = (list(range(start, end + 1)) if start <= end
                        else list(range(start, high + 1)) + list(range(low, end + 1)))
        if step < 1:
            raise ValueError(f"'{item}': a step must be at least 1")
        days.update(weekday(n) for n in sequence[::step])
    if len(days) == 7:
        return _DaySet(frozenset(days), (), ())  # every day: '#' and 'L' add nothing
    return _DaySet(frozenset(days), tuple(nth), tuple(last))


@dataclass(frozen=True)
class _CronForms:
    normalised: str
    for_croniter: str


def _normalise_cron(expression: str) -> _CronForms:
    """Check a cron expression and give its normalised 6/7-field form and croniter's form."""
    text = expression.strip()
    if not text:
        raise ValueError(f"the cron expression is empty: {_FIELDS_HELP}")
    if text.startswith("@"):
        if text.lower() not in _MACROS:
            raise ValueError(f"unknown cron macro '{text}': {_FIELDS_HELP}")
        text = _MACROS[text.lower()]
    fields = text.split()
    if len(fields) not in (5, 6, 7):
        raise ValueError(f"'{expression}' has {len(fields)} fields: {_FIELDS_HELP}")
    if _HASHED_OR_RANDOM.search(text):
        raise ValueError(f"'{expression}' uses H or R, which timewell does not support")
    unix = len(fields) == 5
    if unix:
        fields.insert(0, "0")
    try:
        days = _parse_days_of_week(fields[5], unix)
    except ValueError as e:
        raise ValueError(f"in '{expression}': {e}") from None
    if days.days and (days.nth or days.last):
        # croniter cannot combine them; upstream can, but nobody should need to.
        raise ValueError(f"in '{expression}': plain days and '#' or 'L' days cannot be mixed "
                         "in one day-of-week field")
    normalised = " ".join([*fields[:5], days.normalised(), *fields[6:]])
    for_croniter = " ".join([*fields[:5], days.for_croniter(), *fields[6:]])
    try:
        # Seeking from the epoch proves the fields are valid and that the schedule can fire at
        # all (30 February never comes); a year that has passed is found only at run time.
        _croniter_next(for_croniter, _EPOCH)
    except CroniterBadDateError:
        raise ValueError(f"'{expression}' never fires: no date matches all its fields") from None
    except (CroniterError, ValueError, KeyError) as e:
        raise ValueError(f"'{expression}' is not a valid cron expression ({e}); the fields "
                         "are 'sec min hour day-of-month month day-of-week [year]'") from None
    return _CronForms(normalised, for_croniter)


def _croniter_next(expression: str, after: datetime) -> datetime:
    # An aware UTC start keeps croniter away from the process's local time zone. croniter
    # gives up after 50 years without a match by default; its years run 1970-2099, so a
    # search may have to cover all of them (from the epoch to `... 2099`).
    start = after.replace(tzinfo=UTC)
    schedule = croniter(expression, start, second_at_beginning=True, day_or=False,
                        max_years_between_matches=_CRONITER_YEARS)
    return schedule.get_next(datetime).astimezone(UTC).replace(tzinfo=None)


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
        forms = _normalise_cron(self.expression)
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
            return _croniter_next(self._for_croniter, moment)
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
