"""The queryable buffer: every flushed write, kept in memory as Arrow, ready for queries.

It is a WAL subscriber. Each table's rows arrive as flushed (`TableBuffer.append`, on the event
loop, a list append) and are turned into *runs* — sorted by series key then time, one row per
(series, time), see `dedup.py` — by the first reader that needs them (`TableBuffer.runs`, in a
query's worker thread). Runs are merged in the manner of a log-structured merge tree: a new
run is merged with the one before it while that one is not more than twice its size, so a
table holds O(log n) runs and each row is re-sorted O(log n) times. Every run knows the WAL
sequence of its newest row (`order`): when two runs hold the same point, the later one wins.

A snapshot `freeze`s what is buffered into a generation that stays queryable while it is
written to Parquet, and `release`s it once the Parquet files are in the index.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from timewell.storage.dedup import sort_and_deduplicate
from timewell.storage.series_index import Constraints, SeriesIndex
from timewell.storage.wal import WalFlush

Key = tuple[str, str]  # (database, table)
SeriesKey = Callable[[str, str], list[str]]
"""The tag columns of a table in series-key order, from the catalog."""

_MAX_RUNS = 12  # past this, runs are merged whatever their sizes
_RUN_SERIALS = itertools.count()


@dataclass(frozen=True)
class Run:
    """Rows of one table sorted by series key then time, one per (series, time)."""

    data: pa.Table
    order: int  # the newest WAL sequence among its rows: a later run's rows win
    min_time_ns: int
    max_time_ns: int
    # Never reused: names this run (its rows never change) in caches of derived data.
    serial: int = field(default_factory=lambda: next(_RUN_SERIALS))
    # Read for one query only (a Parquet row group not cached): an index would not pay.
    transient: bool = False

    @classmethod
    def of(cls, data: pa.Table, order: int, transient: bool = False) -> Run:
        times = data.column("time")
        low, high = pc.min_max(times).values()
        return cls(data, order, low.cast(pa.int64()).as_py(), high.cast(pa.int64()).as_py(),
                   transient=transient)

    @functools.cached_property
    def series(self) -> SeriesIndex:
        """Where each series' rows are; built by the first query that narrows by tags."""
        return SeriesIndex.of(self.data)

    def rows(self, constraints: Constraints, low: int | None, high: int | None) -> pa.Table:
        """The rows of the series allowed by `constraints` within [low, high] (inclusive)."""
        cut_time = (low is not None and low > self.min_time_ns) or (
            high is not None and high < self.max_time_ns)
        if self.transient and constraints:
            return self.data.filter(_mask(self.data, constraints, low if cut_time else None,
                                          high if cut_time else None))
        ranges = self.series.ranges(constraints) if constraints else None
        if ranges is None:  # every series
            if not cut_time:
                return self.data
            return self.data.filter(_mask(self.data, {}, low, high))
        if cut_time:
            # Within a series rows are sorted by time: the range is two binary searches.
            times = self._times
            cut = []
            for a, b in ranges:
                start = a if low is None else a + int(np.searchsorted(times[a:b], low, "left"))
                end = b if high is None else a + int(np.searchsorted(times[a:b], high, "right"))
                if start < end:
                    cut.append((start, end))
            ranges = cut
        if not ranges:
            return self.data.slice(0, 0)
        if len(ranges) == 1:
            return self.data.slice(ranges[0][0], ranges[0][1] - ranges[0][0])
        if ranges[-1][1] - ranges[0][0] == sum(b - a for a, b in ranges):  # contiguous
            return self.data.slice(ranges[0][0], ranges[-1][1] - ranges[0][0])
        # One gather, not a table of many slices (a region's hosts are scattered).
        return self.data.take(np.concatenate([np.arange(a, b) for a, b in ranges]))

    @functools.cached_property
    def _times(self) -> np.ndarray:
        return self.data.column("time").cast(pa.int64()).to_numpy()


def _mask(data: pa.Table, constraints: Constraints, low: int | None,
          high: int | None) -> pa.Array | pa.ChunkedArray:
    """Where `data`'s rows satisfy the constraints and lie within [low, high]."""
    terms = []
    for tag, values in constraints.items():
        if tag not in data.column_names:  # every row lacks the tag
            terms.append(pa.array(np.full(data.num_rows, None in values)))
            continue
        column = data.column(tag)
        named = pa.array(sorted(v for v in values if v is not None), pa.string())
        term = pc.fill_null(pc.is_in(column, value_set=named), False)
        if None in values:
            term = pc.or_(term, pc.is_null(column))
        terms.append(term)
    times = data.column("time").cast(pa.int64())
    if low is not None:
        terms.append(pc.greater_equal(times, low))
    if high is not None:
        terms.append(pc.less_equal(times, high))
    mask = terms[0] if terms else pa.array(np.ones(data.num_rows, dtype=bool))
    for term in terms[1:]:
        mask = pc.and_(mask, term)
    return mask


class TableBuffer:
    """One table's buffered rows: sorted runs, then the chunks flushed since the last read."""

    def __init__(self, series_key: Callable[[], list[str]]) -> None:
        self._series_key = series_key
        self._lock = threading.Lock()  # guards the lists; sorting happens outside it
        self._sealing = threading.Lock()  # one reader sorts a table's new chunks at a time
        self._runs: list[Run] = []
        self._tail: list[tuple[pa.Table, int]] = []  # (rows, WAL sequence), in WAL order
        self.nbytes = 0
        self.num_rows = 0

    def append(self, data: pa.Table, sequence: int) -> None:
        with self._lock:
            self._tail.append((data, sequence))
            self.nbytes += data.nbytes
            self.num_rows += data.num_rows

    def runs(self) -> list[Run]:
        """The rows as sorted runs, oldest first; sorts what arrived since the last call."""
        with self._sealing:
            with self._lock:
                tail, runs = list(self._tail), list(self._runs)
            if not tail:
                return runs
            new = _run_of([data for data, _ in tail], tail[-1][1], self._series_key())
            runs = _merged(runs, new, self._series_key)
            with self._lock:
                del self._tail[:len(tail)]  # appends made meanwhile stay in the tail
                self._runs = runs
                self.nbytes = (sum(r.data.nbytes for r in runs)
                               + sum(data.nbytes for data, _ in self._tail))
            return list(runs)

    def tables(self) -> list[pa.Table]:
        """The rows as stored, in write order (runs, then unsorted chunks); no sorting."""
        with self._lock:
            return [r.data for r in self._runs] + [data for data, _ in self._tail]


def _run_of(chunks: list[pa.Table], order: int, series_key: list[str]) -> Run:
    data = chunks[0] if len(chunks) == 1 else pa.concat_tables(chunks, promote_options="default")
    return Run.of(sort_and_deduplicate(data, series_key), order)


def _merged(runs: list[Run], new: Run, series_key: Callable[[], list[str]]) -> list[Run]:
    runs = [*runs, new]
    while len(runs) > 1 and (runs[-2].data.num_rows <= 2 * runs[-1].data.num_rows
                             or len(runs) > _MAX_RUNS):
        older, newer = runs[-2], runs.pop()
        runs[-1] = _run_of([older.data, newer.data], newer.order, series_key())
    return runs


@dataclass
class Generation:
    """Buffered data covering the WAL files up to `wal_through`, frozen for a snapshot."""

    wal_through: int
    tables: dict[Key, TableBuffer] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tables.values())


LiveTable = Callable[[str, str, "int | None"], bool]
"""(database, table, table_id) -> do a write's rows belong to a live table (the catalog's
`is_live_table`)? Rows of a deleted table, or of an older table of the same name, do not."""


class QueryableBuffer:
    def __init__(self, series_key: SeriesKey | None = None,
                 is_live: LiveTable | None = None) -> None:
        self._series_key = series_key or _no_series_key
        self._is_live = is_live or (lambda _db, _table, _id: True)
        self._lock = threading.Lock()
        self._active: dict[Key, TableBuffer] = {}
        self._frozen: list[Generation] = []
        self.last_sequence = 0

    def on_flush(self, flush: WalFlush) -> None:
        with self._lock:
            for write in flush.writes:
                if not self._is_live(write.database, write.table, write.table_id):
                    continue  # e.g. replayed rows of a table deleted since
                key = (write.database, write.table)
                table = self._active.get(key)
                if table is None:
                    table = self._active[key] = self._table_buffer(key)
                table.append(write.data, flush.sequence)
            self.last_sequence = max(self.last_sequence, flush.sequence)

    def _table_buffer(self, key: Key) -> TableBuffer:
        return TableBuffer(lambda: self._series_key(*key))

    @property
    def nbytes(self) -> int:
        with self._lock:
            tables = [*self._active.values(), *(t for g in self._frozen
                                                for t in g.tables.values())]
        return sum(t.nbytes for t in tables)

    def freeze(self) -> list[Generation]:
        """Every generation waiting for a snapshot, the active data frozen into a new one."""
        with self._lock:
            if self._active:
                self._frozen.append(Generation(self.last_sequence, self._active))
                self._active = {}
            return list(self._frozen)

    def release(self, generations: list[Generation]) -> None:
        """Forget generations that are now in Parquet files (call with the data lock held)."""
        with self._lock:
            self._frozen = [g for g in self._frozen if g not in generations]

    def table_buffers(self, database: str, table: str) -> list[TableBuffer]:
        """The table's buffered data, oldest generation first."""
        key = (database, table)
        with self._lock:
            found = [g.tables[key] for g in self._frozen if key in g.tables]
            if key in self._active:
                found.append(self._active[key])
        return found

    def row_count(self, database: str, table: str) -> int:
        """Rows held (before deduplication of what was not read yet)."""
        return sum(t.num_rows for t in self.table_buffers(database, table))

    def drop_database(self, database: str) -> None:
        with self._lock:
            for tables in [self._active, *(g.tables for g in self._frozen)]:
                for key in [k for k in tables if k[0] == database]:
                    del tables[key]

    def drop_table(self, database: str, table: str) -> None:
        with self._lock:
            for tables in [self._active, *(g.tables for g in self._frozen)]:
                tables.pop((database, table), None)


def _no_series_key(_database: str, _table: str) -> list[str]:
    return []  # every tag is still part of a point's identity (`dedup.key_columns`)


def align(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """`data` with exactly `schema`'s columns in its order; absent columns become nulls."""
    if data.schema.equals(schema):
        return data
    columns = []
    for field_ in schema:
        index = data.schema.get_field_index(field_.name)
        if index < 0:
            columns.append(pa.nulls(data.num_rows, field_.type))
        else:
            column = data.column(index)
            columns.append(column if column.type == field_.type else column.cast(field_.type))
    return pa.Table.from_arrays(columns, schema=schema)
