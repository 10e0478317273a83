"""Building `Segment`s: from parsed points, and merging pieces of one shape into one segment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from .types import FieldType, Segment

if TYPE_CHECKING:
    from .exact import Point

ShapeKey = tuple[str, tuple[str, ...], tuple[tuple[str, FieldType], ...]]


def shape_of(segment: Segment) -> ShapeKey:
    return (segment.table, segment.tag_keys, segment.field_types)


def segments_from_points(points: Iterable[tuple[int, Point]]) -> list[Segment]:
    """Group numbered points by shape, each group into one segment in line order."""
    groups: dict[ShapeKey, list[tuple[int, Point]]] = {}
    for numbered in points:
        groups.setdefault(numbered[1].shape, []).append(numbered)
    return [_segment(shape, members) for shape, members in groups.items()]


def _segment(shape: ShapeKey, members: list[tuple[int, Point]]) -> Segment:
    table, tag_keys, field_types = shape
    tags = {
        key: pa.array([p.tags[i][1] for _, p in members], pa.string())
        for i, key in enumerate(tag_keys)
    }
    fields = {
        key: pa.array([p.fields[i][2] for _, p in members], ftype.arrow_type)
        for i, (key, ftype) in enumerate(field_types)
    }
    return Segment(
        table=table,
        tag_keys=tag_keys,
        field_types=field_types,
        tags=tags,
        fields=fields,
        time=pa.array([p.time for _, p in members], pa.int64()),
        line_numbers=pa.array([n for n, _ in members], pa.int32()),
    )


def merge_segments(segments: Iterable[Segment]) -> list[Segment]:
    """One segment per shape, rows in line order, from pieces that may share a shape."""
    groups: dict[ShapeKey, list[Segment]] = {}
    for segment in segments:
        if len(segment):
            groups.setdefault(shape_of(segment), []).append(segment)
    return [parts[0] if len(parts) == 1 else _concat(parts) for parts in groups.values()]


def _concat(parts: list[Segment]) -> Segment:
    first = parts[0]
    line_numbers = pa.concat_arrays([p.line_numbers for p in parts])
    order = pc.sort_indices(line_numbers)

    def column(arrays: list[pa.Array]) -> pa.Array:
        return pa.concat_arrays(arrays).take(order)

    return Segment(
        table=first.table,
        tag_keys=first.tag_keys,
        field_types=first.field_types,
        tags={k: column([p.tags[k] for p in parts]) for k in first.tag_keys},
        fields={k: column([p.fields[k] for p in parts]) for k, _ in first.field_types},
        time=column([p.time for p in parts]),
        line_numbers=line_numbers.take(order),
    )
