"""Durations as users write them: `10ms`, `1s`, `1h30m`, `2 days`."""

from __future__ import annotations

import re

from timewell.errors import InvalidRequest

_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "sec": 1_000_000_000,
    "secs": 1_000_000_000,
    "second": 1_000_000_000,
    "seconds": 1_000_000_000,
    "m": 60_000_000_000,
    "min": 60_000_000_000,
    "mins": 60_000_000_000,
    "minute": 60_000_000_000,
    "minutes": 60_000_000_000,
    "h": 3_600_000_000_000,
    "hour": 3_600_000_000_000,
    "hours": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "day": 86_400_000_000_000,
    "days": 86_400_000_000_000,
    "w": 604_800_000_000_000,
    "week": 604_800_000_000_000,
    "weeks": 604_800_000_000_000,
}
_PART = re.compile(r"\s*(\d+)\s*([a-zµ]+)\s*", re.IGNORECASE)


def parse_duration_ns(text: str) -> int:
    """Nanoseconds in `text`; InvalidRequest naming the accepted units otherwise."""
    pos, total = 0, 0
    source = text.strip()
    if not source:
        raise InvalidRequest("empty duration: write e.g. 10ms, 1s, 5m, 1h30m")
    while pos < len(source):
        match = _PART.match(source, pos)
        unit = match and match.group(2).lower()
        if not match or unit not in _NS_PER_UNIT:
            raise InvalidRequest(
                f"invalid duration '{text}': write a number and a unit "
                "(ns, us, ms, s, m, h, d, w), combinable as in 1h30m"
            )
        total += int(match.group(1)) * _NS_PER_UNIT[unit]
        pos = match.end()
    return total


def format_duration_ns(ns: int) -> str:
    """A short human form: `1.5ms`, `2s`, `3h`."""
    for unit, size in (("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
                       ("ms", 1_000_000), ("us", 1_000)):
        if ns >= size:
            value = ns / size
            return f"{value:.3g}{unit}"
    return f"{ns}ns"
