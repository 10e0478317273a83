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
        """Row ranges of the series that can satisfy `constraints`, one per series (its rows
        sorted by time), in row order; None means every row."""
        wanted = {tag: values for tag, values in constraints.items()
                  if tag in self.tags.column_names}
        absent = [tag for tag in constraints if tag not in self.tags.column_names]
        if absent:  # a tag this run never saw is null in every row: no value can match
            return []
        if not wanted:
            return None
        series = None
        for tag, values in wanted.items():
            found = np.concatenate([self._positions(tag).get(v, _NONE) for v in values])
            series = found if series is None else np.intersect1d(series, found)
        series = np.unique(series)
        return list(zip(self.starts[series].tolist(), self.starts[series + 1].tolist(),
                        strict=True))

    def _positions(self, tag: str) -> dict:
        """Each value of `tag` (None: absent) -> the series having it; built once."""
        cache = self.__dict__.setdefault("_by_value", {})
        positions = cache.get(tag)
        if positions is None:
            column = self.tags.column(tag)
            grouped = pa.table({"v": column, "i": pa.array(np.arange(len(column)))}).group_by(
                "v", use_threads=False).aggregate([("i", "list")])
            positions = {v: np.asarray(i, dtype=np.int64) for v, i in zip(
                grouped.column("v").to_pylist(), grouped.column("i_list").to_pylist(),
                strict=True)}
            cache[tag] = positions
        return positions


_NONE = np.array([], dtype=np.int64)


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
