"""Trigger specifications: parsing, canonical strings, and when schedules fire (in UTC)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from timewell.engine.specs import (
    AllTablesTrigger,
    CronTrigger,
    EveryTrigger,
    InvalidTriggerSpec,
    RequestTrigger,
    ScheduleExhausted,
    TableTrigger,
    parse_trigger_spec,
)
from timewell.errors import InvalidRequest

NS_PER_S = 1_000_000_000
MINUTE = 60 * NS_PER_S
HOUR = 60 * MINUTE
DAY = 24 * HOUR


# parsing


@pytest.mark.parametrize(("text", "expected", "canonical"), [
    ("table:cpu", TableTrigger("cpu"), "table:cpu"),
    ("  table: cpu  ", TableTrigger("cpu"), "table:cpu"),
    ("table:my table,1", TableTrigger("my table,1"), "table:my table,1"),
    ("all_tables", AllTablesTrigger(), "all_tables"),
    (" all_tables ", AllTablesTrigger(), "all_tables"),
    ("all_tables:", AllTablesTrigger(), "all_tables"),
    ("request:status", RequestTrigger("status"), "request:status"),
    ("request: foo/bar-baz_1.json", RequestTrigger("foo/bar-baz_1.json"),
     "request:foo/bar-baz_1.json"),
])
def test_non_schedule_specs(text: str, expected: object, canonical: str) -> None:
    spec = parse_trigger_spec(text)
    assert spec == expected
    assert str(spec) == canonical
    assert parse_trigger_spec(str(spec)) == spec


@pytest.mark.parametrize(("text", "interval_ns", "canonical"), [
    ("every:1s", NS_PER_S, "every:1s"),
    ("every:10s", 10 * NS_PER_S, "every:10s"),
    ("every:1m", MINUTE, "every:1m"),
    ("every:1h", HOUR, "every:1h"),
    ("every:1d", DAY, "every:1d"),
    ("every:1w", 7 * DAY, "every:1w"),
    ("every:14d", 14 * DAY, "every:2w"),
    ("every:1h30m", 90 * MINUTE, "every:1h30m"),
    ("every:90m", 90 * MINUTE, "every:1h30m"),
    ("every:1 hour 30 minutes", 90 * MINUTE, "every:1h30m"),
    ("every: 1h 30m ", 90 * MINUTE, "every:1h30m"),
    ("every:2 hours", 2 * HOUR, "every:2h"),
    ("every:5min", 5 * MINUTE, "every:5m"),
    ("every:5 mins", 5 * MINUTE, "every:5m"),
    ("every:30sec", 30 * NS_PER_S, "every:30s"),
    ("every:30 seconds", 30 * NS_PER_S, "every:30s"),
    ("every:1 second", NS_PER_S, "every:1s"),
    ("every:3 days", 3 * DAY, "every:3d"),
    ("every:2 weeks", 14 * DAY, "every:2w"),
    ("every:1ms", 1_000_000, "every:1ms"),
    ("every:1500ms", 1_500_000_000, "every:1s500ms"),
    ("every:2500us", 2_500_000, "every:2ms500us"),
    ("every:1000000ns", 1_000_000, "every:1ms"),
    ("every:2hr", 2 * HOUR, "every:2h"),
    ("every:1y", 31_557_600 * NS_PER_S, "every:52w1d6h"),
    ("every:1 year", 31_557_600 * NS_PER_S, "every:52w1d6h"),
    ("every:365d", 365 * DAY, "every:52w1d"),
    ("every:1M", 2_630_016 * NS_PER_S, "every:4w2d10h33m36s"),
    ("every:1 month", 2_630_016 * NS_PER_S, "every:4w2d10h33m36s"),
    ("every:1m1M", MINUTE + 2_630_016 * NS_PER_S, "every:4w2d10h34m36s"),
])
def test_every_specs(text: str, interval_ns: int, canonical: str) -> None:
    spec = parse_trigger_spec(text)
    assert spec == EveryTrigger(interval_ns)
    assert str(spec) == canonical
    assert parse_trigger_spec(str(spec)) == spec


@pytest.mark.parametrize(("text", "normalised"), [
    ("cron:0 */5 * * * *", "0 */5 * * * *"),
    ("cron:  0   0  9 * * *  ", "0 0 9 * * *"),
    ("cron:*/10 * * * * *", "*/10 * * * * *"),
    ("cron:0 0 0 1 1 * 2030", "0 0 0 1 1 * 2030"),
    ("cron:0 0 0 1 1 * 2030-2035", "0 0 0 1 1 * 2030-2035"),
    # 5 fields: seconds = 0, Unix day numbering (0 and 7 = Sunday)
    ("cron:*/5 * * * *", "0 */5 * * * *"),
    ("cron:0 9 * * 1-5", "0 0 9 * * MON-FRI"),
    ("cron:0 9 * * 0", "0 0 9 * * SUN"),
    ("cron:0 9 * * 7", "0 0 9 * * SUN"),
    ("cron:0 9 * * 6,0", "0 0 9 * * SUN,SAT"),
    # 6/7 fields: upstream's numbering, 1 = Sunday ... 7 = Saturday
    ("cron:0 0 9 * * 2-6", "0 0 9 * * MON-FRI"),
    ("cron:0 0 9 * * 1", "0 0 9 * * SUN"),
    ("cron:0 0 9 * * 7", "0 0 9 * * SAT"),
    ("cron:0 0 9 * * 1,7", "0 0 9 * * SUN,SAT"),
    ("cron:0 0 9 * * */2", "0 0 9 * * SUN,TUE,THU,SAT"),
    ("cron:0 0 9 * * 2/2", "0 0 9 * * MON,WED,FRI"),
    ("cron:0 0 9 * * 2-6/2", "0 0 9 * * MON,WED,FRI"),
    ("cron:0 0 9 * * 6#3", "0 0 9 * * FRI#3"),
    ("cron:0 0 9 * * 6L", "0 0 9 * * FRIL"),
    ("cron:0 0 9 * * L", "0 0 9 * * SAT"),
    # names, any case, long forms, wrapping ranges
    ("cron:0 0 9 * * mon-fri", "0 0 9 * * MON-FRI"),
    ("cron:0 0 9 * * Monday,Wednesday,thurs", "0 0 9 * * MON,WED,THU"),
    ("cron:0 0 9 * * FRI-MON", "0 0 9 * * SUN,MON,FRI,SAT"),
    ("cron:0 9 * * SAT-SUN", "0 0 9 * * SUN,SAT"),
    ("cron:0 0 9 * * MON#1", "0 0 9 * * MON#1"),
    ("cron:0 0 9 * * MON#1,FRI#3", "0 0 9 * * MON#1,FRI#3"),
    ("cron:0 0 9 * * MONL", "0 0 9 * * MONL"),
    ("cron:0 0 9 * * SUN-SAT", "0 0 9 * * *"),
    ("cron:0 0 9 ? * MON", "0 0 9 ? * MON"),
    ("cron:0 0 9 L * *", "0 0 9 L * *"),
    ("cron:0 0 9 15W * *", "0 0 9 15W * *"),
    ("cron:0 0 0 1 JAN-MAR *", "0 0 0 1 JAN-MAR *"),
    # macros
    ("cron:@hourly", "0 0 * * * *"),
    ("cron:@daily", "0 0 0 * * *"),
    ("cron:@midnight", "0 0 0 * * *"),
    ("cron:@weekly", "0 0 0 * * SUN"),
    ("cron:@monthly", "0 0 0 1 * *"),
    ("cron:@yearly", "0 0 0 1 1 *"),
    ("cron:@annually", "0 0 0 1 1 *"),
    ("cron:@HOURLY", "0 0 * * * *"),
])
def test_cron_specs_are_normalised(text: str, normalised: str) -> None:
    spec = parse_trigger_spec(text)
    assert isinstance(spec, CronTrigger)
    assert spec.expression == normalised
    assert str(spec) == f"cron:{normalised}"
    # The normalised form means the same when read back, whatever the original numbering.
    assert parse_trigger_spec(str(spec)) == spec


def test_cron_trigger_normalises_on_construction() -> None:
    assert CronTrigger("*/5 * * * *") == CronTrigger("0 */5 * * * *")
    assert CronTrigger("0 9 * * 1") == CronTrigger("0 0 9 * * 2")
    assert hash(CronTrigger("@daily")) == hash(CronTrigger("0 0 0 * * *"))


@pytest.mark.parametrize(("text", "message"), [
    # prefixes
    ("", "expected one of table:<table name>, all_tables, every:<duration>"),
    ("   ", "expected one of"),
    ("foo:bar", "expected one of"),
    ("TABLE:cpu", "expected one of"),
    ("tables:cpu", "expected one of"),
    ("all_tables:cpu", "expected one of"),
    ("alltables", "expected one of"),
    ("cpu", "expected one of"),
    # table
    ("table:", "table name is empty"),
    ("table:   ", "table name is empty"),
    ("table:a\x01b", "control characters"),
    # request
    ("request:", "request path is empty"),
    ("request:/status", "must not start with '/': write request:status"),
    ("request:a/../b", "must not contain '.' or '..' segments"),
    ("request:..", "must not contain '.' or '..' segments"),
    ("request:./a", "must not contain '.' or '..' segments"),
    ("request:a//b", "may only use letters, digits"),
    ("request:a/", "may only use letters, digits"),
    ("request:a b", "may only use letters, digits"),
    ("request:a?b=1", "may only use letters, digits"),
    ("request:caf\u00e9", "may only use letters, digits"),
    # every
    ("every:", "the duration is empty"),
    ("every:0s", "longer than zero"),
    ("every:0h0m", "longer than zero"),
    ("every:999us", "shorter than the minimum of 1ms"),
    ("every:500ns", "shorter than the minimum of 1ms"),
    ("every:1000001ns", "whole number of microseconds"),
    ("every:366d", "longer than the maximum of 1 year"),
    ("every:2y", "longer than the maximum of 1 year"),
    ("every:53w", "longer than the maximum of 1 year"),
    ("every:1.5h", "has a fraction"),
    ("every:-1s", "is not a duration"),
    ("every:10", "is not a duration"),
    ("every:s", "is not a duration"),
    ("every:5 parsecs", "unknown unit 'parsecs'"),
    ("every:1h foo", "is not a duration"),
    # cron
    ("cron:", "the cron expression is empty"),
    ("cron:* * * *", "has 4 fields"),
    ("cron:* * * * * * * *", "has 8 fields"),
    ("cron:@reboot", "unknown cron macro '@reboot'"),
    ("cron:@every 5s", "unknown cron macro"),
    ("cron:60 * * * * *", "is not a valid cron expression"),
    ("cron:0 60 * * * *", "is not a valid cron expression"),
    ("cron:0 0 24 * * *", "is not a valid cron expression"),
    ("cron:0 0 0 32 * *", "is not a valid cron expression"),
    ("cron:0 0 0 * 13 *", "is not a valid cron expression"),
    ("cron:0 0 0 1 1 * 1969", "is not a valid cron expression"),
    ("cron:a b c d e f", "not a"),
    ("cron:0 0 0 31 2 *", "never fires"),
    ("cron:0 0 0 30 2 * 2030", "never fires"),
    ("cron:0 0 0 * * 0", "day of week 0 is out of range: days run 1-7 with 1 = Sunday"),
    ("cron:0 0 0 * * 8", "day of week 8 is out of range"),
    ("cron:0 0 * * 8", "days run 0-7 with 0 and 7 = Sunday in 5-field cron"),
    ("cron:0 0 0 * * XYZ", "'XYZ' is not a day of the week"),
    ("cron:0 0 0 * * MON#6", "the occurrence after '#' must be 1 to 5"),
    ("cron:0 0 0 * * */0", "a step must be at least 1"),
    ("cron:0 0 0 * * MON,FRIL", "cannot be mixed"),
    ("cron:0 0 0 * * MON,", "is not a day-of-week value"),
    ("cron:H * * * * *", "uses H or R"),
    ("cron:R * * * * *", "uses H or R"),
    ("cron:0 H(0-29) * * * *", "uses H or R"),
])
def test_invalid_specs_are_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InvalidTriggerSpec) as info:
        parse_trigger_spec(text)
    assert f"invalid trigger specification '{text}'" in str(info.value)
    assert message in str(info.value)


def test_invalid_spec_is_an_invalid_request() -> None:
    # The HTTP layer maps InvalidRequest to 400.
    with pytest.raises(InvalidRequest):
        parse_trigger_spec("nope")
    assert issubclass(InvalidTriggerSpec, ValueError)


def test_every_trigger_checks_its_interval_when_built_directly() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        EveryTrigger(0)
    with pytest.raises(TypeError, match="must be an int"):
        EveryTrigger(1.5e9)  # type: ignore[arg-type]


def test_entry_points() -> None:
    assert TableTrigger("t").entry_point == "process_writes"
    assert AllTablesTrigger().entry_point == "process_writes"
    assert EveryTrigger(NS_PER_S).entry_point == "process_scheduled_call"
    assert CronTrigger("@daily").entry_point == "process_scheduled_call"
    assert RequestTrigger("x").entry_point == "process_request"


def test_specs_are_frozen_and_hashable() -> None:
    spec = parse_trigger_spec("table:cpu")
    with pytest.raises(AttributeError):
        spec.table = "mem"  # type: ignore[misc]
    assert len({parse_trigger_spec("every:60s"), parse_trigger_spec("every:1m")}) == 1


# every: next_fire


def every(text: str) -> EveryTrigger:
    spec = parse_trigger_spec(f"every:{text}")
    assert isinstance(spec, EveryTrigger)
    return spec


@pytest.mark.parametrize(("interval", "after", "expected"), [
    ("1h", datetime(2024, 5, 1, 10, 17, 3), datetime(2024, 5, 1, 11, 0, 0)),
    ("1h", datetime(2024, 5, 1, 10, 0, 0), datetime(2024, 5, 1, 11, 0, 0)),
    ("1h", datetime(2024, 5, 1, 23, 59, 59, 999999), datetime(2024, 5, 2, 0, 0, 0)),
    ("10s", datetime(2024, 5, 1, 10, 0, 0), datetime(2024, 5, 1, 10, 0, 10)),
    ("10s", datetime(2024, 5, 1, 10, 0, 9, 999999), datetime(2024, 5, 1, 10, 0, 10)),
    ("10s", datetime(2024, 5, 1, 10, 0, 59), datetime(2024, 5, 1, 10, 1, 0)),
    ("15m", datetime(2024, 5, 1, 10, 44, 59), datetime(2024, 5, 1, 10, 45, 0)),
    ("1d", datetime(2024, 12, 31, 12, 0, 0), datetime(2025, 1, 1, 0, 0, 0)),
    # weeks align to the epoch, which was a Thursday
    ("1w", datetime(2024, 1, 1, 0, 0, 0), datetime(2024, 1, 4, 0, 0, 0)),
    ("7s", datetime(1970, 1, 1, 0, 0, 0), datetime(1970, 1, 1, 0, 0, 7)),
    ("7s", datetime(1969, 12, 31, 23, 59, 59), datetime(1970, 1, 1, 0, 0, 0)),
    # sub-second intervals keep microseconds
    ("250ms", datetime(2024, 5, 1, 10, 0, 0, 100_000), datetime(2024, 5, 1, 10, 0, 0, 250_000)),
    ("250ms", datetime(2024, 5, 1, 10, 0, 0, 750_000), datetime(2024, 5, 1, 10, 0, 1)),
    ("1500ms", datetime(1970, 1, 1, 0, 0, 1), datetime(1970, 1, 1, 0, 0, 1, 500_000)),
    ("2500us", datetime(1970, 1, 1, 0, 0, 0, 1), datetime(1970, 1, 1, 0, 0, 0, 2500)),
])
def test_every_fires_aligned_to_the_epoch(interval: str, after: datetime,
                                          expected: datetime) -> None:
    assert every(interval).next_fire(after) == expected


def test_every_fire_times_are_strictly_increasing_and_evenly_spaced() -> None:
    spec = every("1h30m")
    fire = spec.next_fire(datetime(2024, 3, 9, 22, 13, 0))
    assert fire == datetime(2024, 3, 9, 22, 30, 0)  # 90-minute slots since the epoch
    for _ in range(100):
        following = spec.next_fire(fire)
        assert following - fire == timedelta(minutes=90)
        fire = following


def test_every_accepts_aware_datetimes_and_answers_in_naive_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    fire = every("1h").next_fire(datetime(2024, 5, 1, 12, 30, tzinfo=plus_two))
    assert fire == datetime(2024, 5, 1, 11, 0, 0)
    assert fire.tzinfo is None


# cron: next_fire


def cron(expression: str) -> CronTrigger:
    spec = parse_trigger_spec(f"cron:{expression}")
    assert isinstance(spec, CronTrigger)
    return spec


@pytest.mark.parametrize(("expression", "after", "expected"), [
    # seconds and minute boundaries
    ("* * * * * *", datetime(2024, 5, 1, 10, 0, 0), datetime(2024, 5, 1, 10, 0, 1)),
    ("* * * * * *", datetime(2024, 5, 1, 10, 0, 0, 500_000), datetime(2024, 5, 1, 10, 0, 1)),
    ("*/10 * * * * *", datetime(2024, 5, 1, 10, 0, 55), datetime(2024, 5, 1, 10, 1, 0)),
    ("30 * * * * *", datetime(2024, 5, 1, 10, 0, 30), datetime(2024, 5, 1, 10, 1, 30)),
    # hour and day boundaries
    ("0 0 * * * *", datetime(2024, 5, 1, 10, 59, 59), datetime(2024, 5, 1, 11, 0, 0)),
    ("0 0 * * * *", datetime(2024, 5, 1, 23, 0, 0), datetime(2024, 5, 2, 0, 0, 0)),
    ("0 30 9 * * *", datetime(2024, 5, 1, 9, 30, 0), datetime(2024, 5, 2, 9, 30, 0)),
    # month and year boundaries, leap day
    ("0 0 0 1 * *", datetime(2024, 1, 31, 12, 0, 0), datetime(2024, 2, 1, 0, 0, 0)),
    ("0 0 0 1 1 *", datetime(2024, 12, 31, 23, 59, 59), datetime(2025, 1, 1, 0, 0, 0)),
    ("59 59 23 31 12 *", datetime(2024, 6, 1), datetime(2024, 12, 31, 23, 59, 59)),
    ("0 0 0 29 2 *", datetime(2024, 3, 1), datetime(2028, 2, 29, 0, 0, 0)),
    ("0 0 0 L * *", datetime(2024, 2, 1), datetime(2024, 2, 29, 0, 0, 0)),
    # 7th field: years
    ("0 0 0 1 1 * 2030", datetime(2024, 5, 1), datetime(2030, 1, 1, 0, 0, 0)),
    ("0 0 12 * * * 2026-2027", datetime(2025, 7, 1), datetime(2026, 1, 1, 12, 0, 0)),
    ("0 0 12 * * * 2026-2027", datetime(2027, 12, 31, 12, 0, 0), None),
    # 5 fields: minute-first, seconds = 0
    ("*/15 * * * *", datetime(2024, 5, 1, 10, 7, 12), datetime(2024, 5, 1, 10, 15, 0)),
    ("0 9 * * 1", datetime(2024, 5, 1), datetime(2024, 5, 6, 9, 0, 0)),  # Monday
    # days of week: upstream numbering in 6 fields (2 = Monday)
    ("0 0 9 * * 2", datetime(2024, 5, 1), datetime(2024, 5, 6, 9, 0, 0)),
    ("0 0 9 * * MON-FRI", datetime(2024, 5, 3, 10, 0), datetime(2024, 5, 6, 9, 0, 0)),
    ("0 0 9 * * 6#3", datetime(2024, 5, 1), datetime(2024, 5, 17, 9, 0, 0)),
    ("0 0 9 * * 6L", datetime(2024, 5, 1), datetime(2024, 5, 31, 9, 0, 0)),
    # day of month AND day of week, as upstream: Friday the 13th
    ("0 0 0 13 * FRI", datetime(2024, 1, 1), datetime(2024, 9, 13, 0, 0, 0)),
    # macros
    ("@hourly", datetime(2024, 5, 1, 10, 0, 0), datetime(2024, 5, 1, 11, 0, 0)),
    ("@weekly", datetime(2024, 5, 1), datetime(2024, 5, 5, 0, 0, 0)),  # Sunday
    ("@yearly", datetime(2024, 5, 1), datetime(2025, 1, 1, 0, 0, 0)),
])
def test_cron_next_fire(expression: str, after: datetime, expected: datetime | None) -> None:
    spec = cron(expression)
    if expected is None:
        with pytest.raises(ScheduleExhausted, match="has no fire time after"):
            spec.next_fire(after)
    else:
        fire = spec.next_fire(after)
        assert fire == expected
        assert fire.tzinfo is None and fire.microsecond == 0


def test_cron_with_a_past_year_parses_but_is_exhausted() -> None:
    # A stored trigger must still load after its last year has passed.
    spec = cron("0 0 0 1 1 * 2020")
    with pytest.raises(ScheduleExhausted) as info:
        spec.next_fire(datetime(2024, 5, 1))
    assert isinstance(info.value, LookupError)
    assert info.value.expression == "0 0 0 1 1 * 2020"


def test_cron_fire_times_step_through_a_sequence() -> None:
    spec = cron("0 */20 * * * *")
    fire = datetime(2024, 12, 31, 23, 5, 0)
    fires = []
    for _ in range(4):
        fire = spec.next_fire(fire)
        fires.append(fire)
    assert fires == [
        datetime(2024, 12, 31, 23, 20), datetime(2024, 12, 31, 23, 40),
        datetime(2025, 1, 1, 0, 0), datetime(2025, 1, 1, 0, 20),
    ]


def test_cron_accepts_aware_datetimes() -> None:
    minus_five = timezone(timedelta(hours=-5))
    fire = cron("0 0 * * * *").next_fire(datetime(2024, 5, 1, 10, 30, tzinfo=minus_five))
    assert fire == datetime(2024, 5, 1, 16, 0, 0)
    assert cron("0 0 * * * *").next_fire(datetime(2024, 5, 1, 15, 30, tzinfo=UTC)) == fire


@pytest.fixture
def new_york_local_time():
    """Run with the process time zone set to one that has daylight saving time."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = previous
        time.tzset()


def test_schedules_ignore_the_process_time_zone(new_york_local_time) -> None:
    # 2024-03-10 02:00 does not exist in New York and 2024-11-03 01:00 happens twice; in UTC
    # nothing is skipped or repeated.
    hourly = cron("0 0 * * * *")
    fire = datetime(2024, 3, 10, 5, 30)
    fires = []
    for _ in range(4):
        fire = hourly.next_fire(fire)
        fires.append(fire)
    assert fires == [datetime(2024, 3, 10, h) for h in (6, 7, 8, 9)]

    fire = datetime(2024, 11, 3, 4, 30)
    fires = []
    for _ in range(4):
        fire = hourly.next_fire(fire)
        fires.append(fire)
    assert fires == [datetime(2024, 11, 3, h) for h in (5, 6, 7, 8)]

    assert cron("0 30 2 * * *").next_fire(datetime(2024, 3, 10)) == datetime(2024, 3, 10, 2, 30)
    assert every("1h").next_fire(datetime(2024, 3, 10, 6, 59)) == datetime(2024, 3, 10, 7, 0)
    assert every("1d").next_fire(datetime(2024, 11, 3, 1, 0)) == datetime(2024, 11, 4, 0, 0)
