"""How our Parquet files are laid out: written (`encode`) sorted by series key then time in row
groups small enough for their statistics to matter, and what a file's footer says about its
row groups, read once and kept (`ParquetLayout`).

pyarrow prunes row groups by statistics only for columns it reads as
plain strings, while our tags are read as dictionaries; so we read the statistics of the tag
and time columns ourselves and hand pyarrow only the row groups a query can match.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from timewell.storage.series_index import Constraints

ROW_GROUP_ROWS = 16_384
"""A one-series query reads one or two row groups of a file; whole-table scans barely notice."""


def encode(data: pa.Table) -> bytes:
    """`data` (a run: sorted, one row per point) as a Parquet file's bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(data, sink, compression="zstd", write_statistics=True,
                   row_group_size=ROW_GROUP_ROWS)
    return sink.getvalue().to_pybytes()


@dataclass(frozen=True)
class RowGroupStats:
    rows: int
    tags: dict[str, tuple[str | None, str | None]]  # tag -> (min, max); (None, None): unknown
    min_time_ns: int | None
    max_time_ns: int | None


@dataclass(frozen=True)
class ParquetLayout:
    fragment: ds.ParquetFileFragment  # with its metadata loaded
    row_groups: list[RowGroupStats]

    @classmethod
    def of(cls, fragment: ds.ParquetFileFragment) -> ParquetLayout:
        fragment.ensure_complete_metadata()
        metadata = fragment.metadata
        schema = metadata.schema.to_arrow_schema()
        tags = [f.name for f in schema if pa.types.is_dictionary(f.type)]
        positions = {name: i for i, name in enumerate(metadata.schema.names)}
        groups = []
        for i in range(metadata.num_row_groups):
            group = metadata.row_group(i)
            ranges = {tag: _min_max(group.column(positions[tag])) for tag in tags}
            low, high = (_min_max(group.column(positions["time"]), raw=True)
                         if "time" in positions else (None, None))
            groups.append(RowGroupStats(group.num_rows, ranges, low, high))
        return cls(fragment, groups)

    def row_groups_for(self, constraints: Constraints, low: int | None,
                       high: int | None) -> list[int] | None:
        """The row groups that can hold matching rows; None when that is all of them."""
        keep = []
        for i, group in enumerate(self.row_groups):
            if low is not None and group.max_time_ns is not None and group.max_time_ns < low:
                continue
            if high is not None and group.min_time_ns is not None and group.min_time_ns > high:
                continue
            if any(not _may_hold(group.tags.get(tag), values)
                   for tag, values in constraints.items()):
                continue
            keep.append(i)
        return None if len(keep) == len(self.row_groups) else keep


def _may_hold(stats: tuple | None, values: frozenset) -> bool:
    if stats is None:  # the file has no such column: every row has it null
        return False
    low, high = stats
    if low is None or high is None:
        return True
    return any(isinstance(v, str) and low <= v <= high for v in values)


def _min_max(column, raw: bool = False) -> tuple:
    """The column chunk's (min, max); `raw` gives the stored integers of a timestamp, which
    keep their nanoseconds."""
    stats = column.statistics
    if stats is None or not stats.has_min_max:
        return None, None
    return (stats.min_raw, stats.max_raw) if raw else (stats.min, stats.max)
