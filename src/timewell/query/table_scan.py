"""A table's stored data as DataFusion scans it: only what the query's filter can match, one
row per point.

DataFusion hands a pyarrow-dataset table the filters it pushes down (`get_fragments(filter)`)
and expects the fragments' scanners to apply them exactly (see `caches/dataset.py`).
`StoredTableDataset` reads from the filter the time range and the tag values a row can have
(`query/pushdown.py`) and narrows before anything is scanned:

- buffered runs outside the time range are skipped, and in the others only the rows of the
  matching series are taken (`SeriesIndex`), cut to the time range by binary search;
- Parquet files outside the time range are skipped, and in the others only the row groups
  whose statistics can match are read (`ParquetLayout`), with the columns the query needs;
  each row group is then a run like the buffer's (it is sorted the same way), narrowed the
  same way, and kept decoded when the file is recent (`storage/parquet_cache.py`);
- last write wins: every run and file holds one row per point, so a point can be in two
  sources only where sources overlap in time. Those time ranges (`overlap_zones`; usually
  none, or the seconds where a snapshot's files meet the buffer) are read narrowed by tags
  and time only — never by a field condition, which could pick a stale copy of a point — and
  merged with `sort_and_deduplicate` in source order; everything else passes untouched.

The rows then go through pyarrow's filter with the whole expression, unless it says nothing
but what the narrowing applied exactly. `narrowed` gives the same rows to callers that compute
the rest themselves (InfluxQL's simple statements), without DataFusion.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import acero

from timewell.query.pushdown import key_constraints, time_bounds
from timewell.storage.buffer import Run, align
from timewell.storage.data import TableView
from timewell.storage.dedup import sort_and_deduplicate
from timewell.storage.parquet_index import ParquetFile
from timewell.storage.parquet_layout import ParquetLayout
from timewell.storage.series_index import Constraints


class StoredFiles(Protocol):
    """What the scan reads Parquet files through (`StoredData`)."""

    def layout(self, file: ParquetFile) -> ParquetLayout: ...

    generation: int  # changes with every committed change of the stored data

    def row_groups(self, file: ParquetFile, groups: list[int] | None,
                   columns: list[str] | None = None) -> list[Run]: ...


class StoredTableDataset(ds.InMemoryDataset):
    def __init__(self, view: TableView, schema: pa.Schema, series_key: list[str],
                 files: StoredFiles, cutoff_ns: int | None,
                 zone_cache: MergedZones | None = None,
                 check: Callable[[], None] = lambda: None) -> None:
        self._zone_cache = zone_cache
        self._check = check  # raises when the query must stop (query/control.py)
        self._empty = schema.empty_table()
        super().__init__(self._empty)
        self._view = view
        self._schema = schema
        self._series_key = series_key
        self._tags = [f.name for f in schema if pa.types.is_dictionary(f.type)]
        self._files = files
        self._cutoff_ns = cutoff_ns

    def scanner(self, columns=None, **_ignored) -> _Rows:
        return _Rows(self._empty, columns)  # DataFusion asks for the projected schema only

    def get_fragments(self, filter=None) -> Iterator:  # noqa: A002 - pyarrow's parameter name
        if isinstance(filter, pa.BooleanScalar):
            # DataFusion folds a contradiction (`a = 1 AND a = 2`) into a boolean scalar.
            if not filter.as_py():
                return iter([_Memory(self._empty, None, self._check)])
            filter = None
        low, high = time_bounds(filter)
        if self._cutoff_ns is not None:
            low = self._cutoff_ns if low is None else max(low, self._cutoff_ns)
            cutoff = pc.field("time") >= pa.scalar(self._cutoff_ns, pa.timestamp("ns"))
            filter = cutoff if filter is None else filter & cutoff
        constraints, exact = key_constraints(filter, self._tags)
        return iter(self._fragments(constraints, low, high, None if exact else filter))

    def narrowed(self, constraints: Constraints, low: int | None, high: int | None,
                 columns: list[str]) -> pa.Table:
        """The rows of the series `constraints` allows within [low, high] (inclusive), one per
        point, as `columns`: what a scan with that filter returns, without DataFusion."""
        if self._cutoff_ns is not None:
            low = self._cutoff_ns if low is None else max(low, self._cutoff_ns)
        fragments = self._fragments(constraints, low, high, None)

        def read(fragment) -> list[pa.RecordBatch]:
            return list(fragment.scanner(columns=columns).to_batches())

        # Files not cached are read (decoded) in parallel, as DataFusion's partitions would.
        results = (_READERS.map(read, fragments) if len(fragments) > _PARALLEL_FROM
                   else map(read, fragments))
        parts = [batch for batches in results for batch in batches if batch.num_rows]
        return (pa.Table.from_batches(parts) if parts
                else self._empty.select(columns))

    def _fragments(self, constraints: Constraints, low: int | None, high: int | None,
                   rest: pc.Expression | None) -> list:
        """Fragments of the rows within [low, high] of the series `constraints` allows, one
        row per point, also satisfying `rest`."""
        self._check()
        runs = [r for r in self._view.runs if _overlaps(r.min_time_ns, r.max_time_ns, low, high)]
        files = [f for f in self._view.files
                 if _overlaps(f.min_time_ns, f.max_time_ns, low, high)]
        zones = overlap_zones([_clip(s.min_time_ns, s.max_time_ns, low, high)
                               for s in [*runs, *files]])

        def narrowed(run: Run) -> pa.Table:
            """The run's rows of the wanted series and times; outside the zones, if it
            touches them (the rows inside come from the merge)."""
            rows = align(run.rows(constraints, low, high), self._schema)
            if _touches(zones, run.min_time_ns, run.max_time_ns):
                rows = rows.filter(pc.invert(_in_zones_mask(rows, zones)))
            return rows

        overlapping = [r for r in runs if _touches(zones, r.min_time_ns, r.max_time_ns)]
        clean = [narrowed(run) for run in runs]
        fragments = []
        for file in files:
            groups = self._files.layout(file).row_groups_for(constraints, low, high)
            if groups == []:
                continue
            if _touches(zones, file.min_time_ns, file.max_time_ns):
                file_runs = self._files.row_groups(file, groups)  # needed now, to merge
                overlapping.extend(file_runs)
                fragments.append(_StoredFile(lambda _columns, runs=file_runs: runs, narrowed,
                                             rest, self._empty, list(constraints), self._check))
            else:  # read when DataFusion scans it, with the columns it wants
                fragments.append(_StoredFile(
                    lambda columns, file=file, groups=groups: self._files.row_groups(
                        file, groups, columns), narrowed, rest, self._empty, list(constraints),
                    self._check))
        if overlapping:
            clean.append(self._merged(overlapping, zones, constraints, low, high))
        clean = [rows for rows in clean if rows.num_rows]
        if clean or not fragments:  # no fragment at all upsets DataFusion's sort
            memory = pa.concat_tables(clean) if clean else self._empty
            # One fragment per core: DataFusion scans fragments as parallel partitions.
            fragments[:0] = [_Memory(part, rest, self._check)
                             for part in _parts(memory, _MEMORY_FRAGMENTS)]
        return fragments

    def _merged(self, sources: list[Run], zones: list[tuple[int, int]], constraints: dict,
                low: int | None, high: int | None) -> pa.Table:
        """The rows of `sources` inside the zones, narrowed by tags and time only, one per
        point (later sources win). Runs and files never change, so the result is kept for
        the next query over the same sources and ranges (dashboards repeat themselves)."""
        key = (tuple(zones), tuple(sorted(constraints.items())), low, high,
               tuple(s.serial for s in sources))
        generation = self._files.generation
        found = (self._zone_cache.get(key, generation) if self._zone_cache is not None
                 else None)
        if found is not None:
            return found
        parts = []
        for source in sorted(sources, key=lambda s: s.order):  # oldest first: later ones win
            rows = align(source.rows(constraints, low, high), self._schema)
            parts.append(rows.filter(_in_zones_mask(rows, zones)))
        merged = sort_and_deduplicate(pa.concat_tables(parts), self._series_key)
        if self._zone_cache is not None:
            self._zone_cache.put(key, merged, generation)
        return merged


class MergedZones:
    """The last few merged overlap zones, by their sources and ranges (see `_merged`), while
    the stored data's generation does not change (a snapshot or compaction replaces the
    sources they were merged from)."""

    def __init__(self, entries: int = 4, max_bytes: int = 96 << 20) -> None:
        self._entries = entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, pa.Table] = OrderedDict()
        self._generation = -1

    def _at(self, generation: int) -> None:
        if generation != self._generation:
            self._cache.clear()
            self._generation = generation

    def get(self, key: tuple, generation: int) -> pa.Table | None:
        with self._lock:
            self._at(generation)
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found

    def put(self, key: tuple, merged: pa.Table, generation: int) -> None:
        if merged.nbytes > self._max_bytes // 2:
            return  # a huge overlap is merged per query rather than held
        with self._lock:
            self._at(generation)
            self._cache[key] = merged
            while (len(self._cache) > self._entries
                   or sum(t.nbytes for t in self._cache.values()) > self._max_bytes):
                self._cache.popitem(last=False)


def _parts(table: pa.Table, most: int) -> list[pa.Table]:
    """`table` in up to `most` slices of at least _BATCH_ROWS rows (no copies)."""
    count = max(1, min(most, table.num_rows // _BATCH_ROWS))
    size = -(-table.num_rows // count) if table.num_rows else 0
    return [table.slice(i * size, size) for i in range(count)] if size else [table]


def overlap_zones(ranges: list[tuple[int, int]], most: int = 8) -> list[tuple[int, int]]:
    """The time ranges (inclusive) covered by two or more of `ranges`, merged, at most `most`
    of them (the closest are joined: merging more rows than needed is still correct)."""
    zones: list[tuple[int, int]] = []
    reach = None  # the latest end among the ranges starting earlier
    for low, high in sorted(ranges):
        if reach is not None and low <= reach:
            zone = (low, min(high, reach))
            if zones and zone[0] <= zones[-1][1] + 1:
                zones[-1] = (zones[-1][0], max(zones[-1][1], zone[1]))
            else:
                zones.append(zone)
        reach = high if reach is None else max(reach, high)
    while len(zones) > most:
        gaps = [zones[i + 1][0] - zones[i][1] for i in range(len(zones) - 1)]
        i = gaps.index(min(gaps))
        zones[i:i + 2] = [(zones[i][0], zones[i + 1][1])]
    return zones


def _overlaps(min_ns: int, max_ns: int, low: int | None, high: int | None) -> bool:
    return (low is None or max_ns >= low) and (high is None or min_ns <= high)


def _clip(min_ns: int, max_ns: int, low: int | None, high: int | None) -> tuple[int, int]:
    return (min_ns if low is None else max(min_ns, low),
            max_ns if high is None else min(max_ns, high))


def _touches(zones: list[tuple[int, int]], low: int, high: int) -> bool:
    return any(z_low <= high and low <= z_high for z_low, z_high in zones)


def _in_zones_mask(rows: pa.Table, zones: list[tuple[int, int]]) -> pa.Array:
    times = rows.column("time").cast(pa.int64())
    inside = None
    for low, high in zones:
        mask = pc.and_(pc.greater_equal(times, low), pc.less_equal(times, high))
        inside = mask if inside is None else pc.or_(inside, mask)
    return inside


class _Memory:
    """Rows in memory, filtered by `filter` when scanned (None: they already satisfy it)."""

    def __init__(self, table: pa.Table, filter: pc.Expression | None,  # noqa: A002
                 check: Callable[[], None]) -> None:
        self._table = table
        self._filter = filter
        self._check = check

    def scanner(self, schema=None, columns=None, batch_size=None, **_ignored) -> _Rows:
        table = self._table
        if self._filter is not None and table.num_rows:
            table = filter_rows(table, self._filter)
        return _Rows(table, columns, batch_size, self._check)


def filter_rows(table: pa.Table, expression: pc.Expression) -> pa.Table:
    """`table.filter(expression)` on this thread: `Table.filter` hands the work to Arrow's
    thread pool, which costs more than filtering the few rows a narrowed scan leaves."""
    plan = acero.Declaration.from_sequence([
        acero.Declaration("table_source", acero.TableSourceNodeOptions(table)),
        acero.Declaration("filter", acero.FilterNodeOptions(expression)),
    ])
    return plan.to_table(use_threads=False)


class _StoredFile:
    """A Parquet file's wanted row groups, read (or taken from the cache) when DataFusion
    scans it, narrowed like buffered runs, then filtered by `filter` (None: nothing more)."""

    def __init__(self, runs: Callable[[list[str] | None], list[Run]],
                 narrowed: Callable[[Run], pa.Table], filter: pc.Expression | None,  # noqa: A002
                 empty: pa.Table, tags: list[str], check: Callable[[], None]) -> None:
        self._check = check
        self._runs = runs
        self._narrowed = narrowed
        self._filter = filter
        self._empty = empty
        self._tags = tags  # the tags narrowing looks at

    def scanner(self, schema=None, columns=None, batch_size=None, **_ignored) -> _Rows:
        # The projection and what narrowing looks at; a filter left to apply may name any
        # column.
        needed = None if columns is None or self._filter is not None else [
            *columns, "time", *self._tags]
        self._check()
        parts = [rows for rows in map(self._narrowed, self._runs(needed)) if rows.num_rows]
        table = pa.concat_tables(parts) if parts else self._empty
        if self._filter is not None and table.num_rows:
            table = filter_rows(table, self._filter)
        return _Rows(table, columns, batch_size, self._check)


class _Rows:
    """What DataFusion reads from a scanner: the projected schema and the batches."""

    def __init__(self, table: pa.Table, columns: list[str] | None,
                 batch_size: int | None = None,
                 check: Callable[[], None] = lambda: None) -> None:
        self._table = table if columns is None else table.select(columns)
        self._batch_size = batch_size or _BATCH_ROWS
        self._check = check
        self.projected_schema = self._table.schema

    def to_batches(self) -> Iterator[pa.RecordBatch]:
        # Batches of bounded size (slices, no copies) let DataFusion spread the work over
        # its partitions; the query's control is checked before each.
        for batch in self._table.to_batches(max_chunksize=self._batch_size):
            self._check()
            yield batch


_BATCH_ROWS = 65_536
_READERS = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                              thread_name_prefix="scan-reader")
_PARALLEL_FROM = 8  # fragments; fewer are read on the caller's thread
_MEMORY_FRAGMENTS = max(1, min(4, os.cpu_count() or 1))
