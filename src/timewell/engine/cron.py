"""Cron expressions as InfluxDB 3 reads them (the Rust `cron` crate), computed with croniter.

6 fields with seconds first and an optional 7th year field; day-of-week numbers 1-7 with
1 = Sunday; day-of-month AND day-of-week both have to match. 5-field cron (seconds = 0, Unix
day numbers) is accepted too. `normalise_cron` gives the canonical 6/7-field text with day
names and the form croniter understands; `croniter_next` the next fire time in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterBadDateError, CroniterError, croniter

_EPOCH = datetime(1970, 1, 1)

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
class CronForms:
    normalised: str
    for_croniter: str


def normalise_cron(expression: str) -> CronForms:
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
        croniter_next(for_croniter, _EPOCH)
    except CroniterBadDateError:
        raise ValueError(f"'{expression}' never fires: no date matches all its fields") from None
    except (CroniterError, ValueError, KeyError) as e:
        raise ValueError(f"'{expression}' is not a valid cron expression ({e}); the fields "
                         "are 'sec min hour day-of-month month day-of-week [year]'") from None
    return CronForms(normalised, for_croniter)


def croniter_next(expression: str, after: datetime) -> datetime:
    # An aware UTC start keeps croniter away from the process's local time zone. croniter
    # gives up after 50 years without a match by default; its years run 1970-2099, so a
    # search may have to cover all of them (from the epoch to `... 2099`).
    start = after.replace(tzinfo=UTC)
    schedule = croniter(expression, start, second_at_beginning=True, day_or=False,
                        max_years_between_matches=_CRONITER_YEARS)
    return schedule.get_next(datetime).astimezone(UTC).replace(tzinfo=None)
