"""Timestamp precision: scaling one timestamp, or a whole column, to nanoseconds."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .types import Precision

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_MULTIPLIER = {
    Precision.SECOND: 1_000_000_000,
    Precision.MILLISECOND: 1_000_000,
    Precision.MICROSECOND: 1_000,
    Precision.NANOSECOND: 1,
}

# AUTO guesses the unit from the magnitude: |ts| < 5e9 is seconds, < 5e12 milliseconds,
# < 5e15 microseconds, anything larger nanoseconds. Each guess scales to below 5e18, so AUTO
# can never overflow int64.
_AUTO_STEPS = (
    (5_000_000_000, 1_000_000_000),
    (5_000_000_000_000, 1_000_000),
    (5_000_000_000_000_000, 1_000),
)


def multiplier(ts: int, precision: Precision) -> int:
    """The factor that turns `ts` written with `precision` into nanoseconds."""
    if precision is not Precision.AUTO:
        return _MULTIPLIER[precision]
    magnitude = abs(ts)
    for bound, factor in _AUTO_STEPS:
        if magnitude < bound:
            return factor
    return 1


def scale(ts: int, precision: Precision) -> int | None:
    """`ts` in nanoseconds, or None when that does not fit in int64."""
    scaled = ts * multiplier(ts, precision)
    return scaled if INT64_MIN <= scaled <= INT64_MAX else None


def scale_column(ts: pa.Array, precision: Precision) -> tuple[pa.Array, pa.Array | None]:
    """Scale an int64 column whose values all lie within +-9e18 (the fast path's timestamp
    pattern guarantees that). Returns the scaled column and, when some values overflow, a
    boolean mask of them (their scaled values are then meaningless)."""
    if len(ts) == 0 or precision is Precision.NANOSECOND:
        return ts, None
    if precision is Precision.AUTO:
        return _scale_auto(ts), None
    factor = _MULTIPLIER[precision]
    limit = INT64_MAX // factor  # symmetric: no factor divides 2**63, so -limit is exact too
    low, high = pc.min_max(ts).values()
    if -limit <= low.as_py() and high.as_py() <= limit:
        return pc.multiply(ts, factor), None
    bad = pc.or_(pc.greater(ts, limit), pc.less(ts, -limit))
    safe = pc.if_else(bad, 0, ts)
    return pc.multiply(safe, factor), bad


def _scale_auto(ts: pa.Array) -> pa.Array:
    magnitude = pc.abs(ts)
    low, high = (v.as_py() for v in pc.min_max(magnitude).values())
    floor = 0
    for bound, factor in (*_AUTO_STEPS, (1 << 64, 1)):
        if floor <= low and high < bound:
            # The usual batch: every timestamp guesses the same unit.
            return ts if factor == 1 else pc.multiply(ts, factor)
        floor = bound
    factors: pa.Scalar | pa.Array = pa.scalar(1, pa.int64())
    for bound, factor in reversed(_AUTO_STEPS):
        factors = pc.if_else(pc.less(magnitude, bound), factor, factors)
    return pc.multiply(ts, factors)
