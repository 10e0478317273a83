"""InfluxQL's `tz('Europe/Paris')`: GROUP BY time() buckets on the zone's local boundaries and
times written with its offset, as InfluxDB 1.x computes them.

A point's bucket is 1.x's window: the point's time truncated by the interval in the zone's
offset at that time, then moved by the difference between that offset and the one at the
bucket's start when it is smaller than the interval (so a day starts at local midnight on
either side of a DST change: the 23 and 25 hour days). Successive buckets (for fill) step by
the interval, corrected the same way where the offset changes.

In SQL, a bucket is one `date_bin` per stretch of constant offset within the query's range.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

from timewell.query.influxql import ast

SECOND = 1_000_000_000
_STEP = 7 * 86_400 * SECOND  # offsets change at most once within a week, in every zone


class UnknownZone(ValueError):
    pass


@functools.lru_cache(maxsize=64)
def load(name: str) -> zoneinfo.ZoneInfo:
    """The zone; UnknownZone when there is none of that name."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(f"unable to find time zone {name}") from None


def offset(zone: dt.tzinfo, t: int) -> int:
    """The zone's offset from UTC at `t`, in nanoseconds."""
    when = dt.datetime.fromtimestamp(t // SECOND, dt.UTC)
    utc_offset = when.astimezone(zone).utcoffset()
    return 0 if utc_offset is None else int(utc_offset.total_seconds()) * SECOND


def window(t: int, group_by: ast.GroupByTime, zone: dt.tzinfo) -> int:
    """The start of the bucket holding `t` (1.x's IteratorOptions.Window)."""
    interval = group_by.interval_ns
    t -= group_by.offset_ns
    here = offset(zone, t)
    start = t - (t + here) % interval
    change = here - offset(zone, start)
    if change and abs(change) < interval:
        start += change
    return start + group_by.offset_ns


def buckets(start: int, end: int, group_by: ast.GroupByTime, zone: dt.tzinfo) -> list[int]:
    """Bucket starts from `start` (a bucket's) to `end`, as 1.x's fill steps through them."""
    interval = group_by.interval_ns
    times = []
    t, previous = start, offset(zone, start)
    while t <= end:
        times.append(t)
        t += interval
        now = offset(zone, t)
        if now != previous:
            if abs(previous - now) < interval:
                t += previous - now
            previous = now
    return times


def changes(zone: dt.tzinfo, low: int, high: int) -> list[tuple[int, int]]:
    """(time, offset from then on) for `low` and each change of offset up to `high`."""
    found = [(low, offset(zone, low))]
    t = low
    while t < high:
        step = min(_STEP, high - t)
        after = offset(zone, t + step)
        if after != found[-1][1]:
            lo, hi = t, t + step  # offset(lo) is the current one, offset(hi) the next
            while hi - lo > SECOND:
                mid = (lo + hi) // 2
                if offset(zone, mid) == found[-1][1]:
                    lo = mid
                else:
                    hi = mid
            found.append((hi - hi % SECOND, after))
        t += step
    return found


def bucket_sql(group_by: ast.GroupByTime, zone: dt.tzinfo, low: int, high: int) -> str:
    """SQL for the bucket of `time` within [low, high] (a timestamp)."""
    interval, shift = group_by.interval_ns, group_by.offset_ns
    stretches = changes(zone, low - shift - interval, high - shift)
    cases = []
    for i, (since, here) in enumerate(stretches):
        base = (f"date_bin(INTERVAL '{interval} nanoseconds', time, "
                f"arrow_cast({shift - here}, 'Timestamp(Nanosecond, None)'))")
        expr = base
        if i:
            change = here - stretches[i - 1][1]
            if abs(change) < interval:  # a bucket starting before the change moves with it
                expr = (f"CASE WHEN {base} < {_ts(since + shift)} THEN "
                        f"arrow_cast(arrow_cast({base}, 'Int64') + {change}, "
                        f"'Timestamp(Nanosecond, None)') ELSE {base} END")
        cases.append((since + shift, expr))
    if len(cases) == 1:
        return cases[0][1]
    whens = " ".join(f"WHEN time < {_ts(until)} THEN {expr}"
                     for (_, expr), (until, _) in zip(cases, cases[1:], strict=False))
    return f"CASE {whens} ELSE {cases[-1][1]} END"


def _ts(ns: int) -> str:
    return f"arrow_cast({ns}, 'Timestamp(Nanosecond, None)')"


def rfc3339(ns: int, zone: dt.tzinfo, utc_text) -> str:
    """`ns` as RFC 3339 in the zone (`2024-03-31T00:00:00+01:00`; `Z` where the offset is 0),
    from `utc_text` (results.rfc3339) of the local time."""
    here = offset(zone, ns)
    text = utc_text(ns + here)[:-1]
    if not here:
        return text + "Z"
    sign = "+" if here > 0 else "-"
    minutes = abs(here) // (60 * SECOND)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"
