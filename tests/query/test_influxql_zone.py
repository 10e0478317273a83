"""tz(): 1.x's buckets on a zone's local boundaries, and times written with its offset."""

from __future__ import annotations

import pytest

from timewell.query.influxql import ast, zone
from timewell.query.influxql.results import rfc3339
from timewell.query.influxql.timerange import parse_time

PARIS = zone.load("Europe/Paris")
DAY = ast.GroupByTime(86_400 * 10**9)


def test_days_start_at_local_midnight_across_dst_changes():
    assert zone.window(parse_time("2024-03-31T12:00:00Z"), DAY, PARIS) == \
        parse_time("2024-03-30T23:00:00Z")
    assert zone.window(parse_time("2024-04-01T12:00:00Z"), DAY, PARIS) == \
        parse_time("2024-03-31T22:00:00Z")
    days = zone.buckets(parse_time("2024-03-29T23:00:00Z"), parse_time("2024-04-01T12:00:00Z"),
                        DAY, PARIS)
    assert [rfc3339(t) for t in days] == ["2024-03-29T23:00:00Z", "2024-03-30T23:00:00Z",
                                          "2024-03-31T22:00:00Z"]


def test_times_carry_the_zone_offset():
    assert zone.rfc3339(parse_time("2024-03-30T23:00:00Z"), PARIS, rfc3339) == \
        "2024-03-31T00:00:00+01:00"
    assert zone.rfc3339(parse_time("2024-07-01T00:00:00.5Z"), PARIS, rfc3339) == \
        "2024-07-01T02:00:00.5+02:00"
    assert zone.rfc3339(0, zone.load("UTC"), rfc3339) == "1970-01-01T00:00:00Z"


def test_sql_buckets_change_with_the_offset():
    sql = zone.bucket_sql(DAY, PARIS, parse_time("2024-03-28T00:00:00Z"),
                          parse_time("2024-04-03T00:00:00Z"))
    # One date_bin per offset, the second's twice: its bucket moved by the change, or not.
    assert sql.startswith("CASE WHEN time < ") and sql.count("date_bin") == 4


def test_unknown_zones_are_refused():
    with pytest.raises(zone.UnknownZone, match="unable to find time zone Nowhere/Land"):
        zone.load("Nowhere/Land")
