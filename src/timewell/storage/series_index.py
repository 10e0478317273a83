"""Where each series' rows are in a run (rows sorted by series key then time).

A query for one host reads that host's rows, not the table: the tag values of each series and
the offset where its rows start are kept beside the run, and a tag filter becomes a lookup in
this small table (one row per series) instead of a comparison per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Constraints = dict[str, frozenset]  # tag -> the values a matching row can have


@dataclass(frozen=True)
class SeriesIndex:
    tags: pa.Table  # one row per series, its tag values as strings (null: the tag is absent)
    starts: np.ndarray  # row where each series starts, then the run's row count

    @classmethod
    def of(cls, data: pa.Table) -> SeriesIndex:
        """The index of `data`, sorted by its tag columns (dictionary-typed) then time."""
        names = [f.name for f in data.schema if pa.types.is_dictionary(f.type)]
        n = data.num_rows
        changed = np.zeros(n, dtype=bool)
        if n:
            changed[0] = True
        for name in names:
            column = data.column(name)
            codes = pc.fill_null(_codes(column), -1).to_numpy(zero_copy_only=False)
            changed[1:] |= codes[1:] != codes[:-1]
        starts = np.flatnonzero(changed)
        tags = pa.table({name: _strings(data.column(name)).take(pa.array(starts))
                         for name in names}) if names else pa.table({})
        return cls(tags, np.append(starts, n))

    def ranges(self, constraints: Constraints) -> list[tuple[int, int]] | None:
        """Row ranges of the series that can satisfy `constraints`; None means every row."""
        wanted = {tag: values for tag, values in constraints.items()
                  if tag in self.tags.column_names}
        absent = [tag for tag in constraints if tag not in self.tags.column_names]
        if absent:  # a tag this run never saw is null in every row: no value can match
            return []
        if not wanted:
            return None
        mask = None
        for tag, values in wanted.items():
            match = pc.is_in(self.tags.column(tag), value_set=pa.array(sorted(values, key=str),
                                                                        pa.string()))
            mask = match if mask is None else pc.and_(mask, match)
        series = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
        ranges: list[tuple[int, int]] = []
        for i in series:
            start, end = int(self.starts[i]), int(self.starts[i + 1])
            if ranges and ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((start, end))
        return ranges


def _codes(column: pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        if pa.types.is_dictionary(column.type):
            column = column.unify_dictionaries()  # one dictionary: codes compare as values
        column = column.combine_chunks()
    array = column
    return array.indices if pa.types.is_dictionary(array.type) else array


def _strings(column: pa.ChunkedArray) -> pa.Array:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.cast(pa.string())
