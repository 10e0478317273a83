"""Line protocol: parse a request body into columnar segments and per-line errors.

`parse` is what the server uses: a columnar fast path that hands every line it cannot prove
valid to the exact parser. `parse_exact` runs the exact parser alone; both give the same
result for every body.
"""

from __future__ import annotations

from .columnar import FastPathStats, parse, parse_with_stats
from .exact import parse_exact
from .types import FieldType, LineError, LineProtocolError, ParsedBody, Precision, Segment

__all__ = [
    "FastPathStats",
    "FieldType",
    "LineError",
    "LineProtocolError",
    "ParsedBody",
    "Precision",
    "Segment",
    "parse",
    "parse_exact",
    "parse_with_stats",
]
