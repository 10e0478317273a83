"""Last write wins, at the node level: whatever mix of writes, snapshots, compactions and
restarts happens, a table reads back as a dict keyed by (series, time) that each write merged
its fields into, in write order.

In-process (no HTTP): a `Node` on a file object store in a temporary directory, so that a
restart is a new `Node` on the same files."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from timewell.config import Settings, StorageSettings
from timewell.lineprotocol import Precision
from timewell.node import Node

DB = "lww"
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
BASE = 28_333_333 * MINUTE  # November 2023, the start of a gen1 chunk (a minute here)
# Two chunks: the first one's first two and last nanoseconds and its middle, the next one's start
TIMES = [BASE, BASE + 1, BASE + 30 * SECOND, BASE + MINUTE - 1, BASE + MINUTE]
SERIES = [(), (("host", "a"),), (("host", "b"),), (("host", "a"), ("region", "x")),
          (("region", "x"),)]
FIELDS = ("f", "i", "s", "b")
TEN_YEARS_S = 10 * 365 * 86_400  # a last value cache takes stored rows back to its ttl only


@dataclass(frozen=True)
class Write:
    points: tuple  # of (series, time, {field: value})
    no_sync: bool  # answered once buffered: the next writes may share its WAL flush


@dataclass(frozen=True)
class Step:
    name: str  # snapshot | compact | restart | check


field_values = {
    "f": st.integers(-8, 8).map(lambda n: n / 4),
    "i": st.integers(-(2**63), 2**63 - 1),
    "s": st.sampled_from(["", "a", "b c"]),
    "b": st.booleans(),
}
points = st.tuples(st.sampled_from(SERIES), st.sampled_from(TIMES),
                   st.fixed_dictionaries({}, optional=field_values).filter(bool))
operations = st.lists(
    st.one_of(
        st.builds(Write, st.lists(points, min_size=1, max_size=6).map(tuple), st.booleans()),
        st.sampled_from([Step("snapshot"), Step("compact"), Step("restart"), Step("check")]),
    ),
    min_size=1, max_size=14)


def line(series: tuple, time_ns: int, fields: dict) -> str:
    tags = "".join(f",{k}={v}" for k, v in series)
    rendered = []
    for name, value in fields.items():
        if name == "i":
            rendered.append(f"i={value}i")
        elif name == "s":
            rendered.append(f's="{value}"')
        elif name == "b":
            rendered.append(f"b={'true' if value else 'false'}")
        else:
            rendered.append(f"f={value!r}")
    return f"m{tags} {','.join(rendered)} {time_ns}"


def expected(model: dict) -> dict:
    return {key: {name: fields.get(name) for name in FIELDS} for key, fields in model.items()}


def stored_points(table: pa.Table) -> dict:
    """The query result as {(host, region, time): fields}; a point seen twice fails."""
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    times = table.column("time").cast(pa.int64()).to_pylist()
    found: dict = {}
    for i, time_ns in enumerate(times):
        key = (columns.get("host", [None] * len(times))[i],
               columns.get("region", [None] * len(times))[i], time_ns)
        assert key not in found, f"point {key} read twice"
        found[key] = {name: columns[name][i] if name in columns else None for name in FIELDS}
    return found


def model_key(series: tuple, time_ns: int) -> tuple:
    tags = dict(series)
    return (tags.get("host"), tags.get("region"), time_ns)


def make_node(data_dir: Path) -> Node:
    node = Node(Settings(
        data_dir=data_dir, object_store="file", wal_flush_interval_s=0.002, without_auth=True,
        storage=StorageSettings(gen1_duration_ns=MINUTE, wal_snapshot_size=1_000_000,
                                maintenance_interval_s=3600.0,
                                # every file is recent: cached, and merged (recent_merge.py)
                                parquet_cache_recent_ns=100 * 365 * 86_400 * SECOND)))
    node.data.merges.min_interval_s = 0.0
    return node


async def read(node: Node, sql: str) -> pa.Table:
    return await asyncio.to_thread(node.query.sql, DB, sql)


def ts(time_ns: int) -> str:
    return f"arrow_cast({time_ns}, 'Timestamp(Nanosecond, None)')"


# WHERE clauses (pushed down to the scan, which narrows by tags and time before merging), the
# columns they need, and what they mean for a point (host, region, time) with merged fields
FILTERS = [
    ("host = 'a'", {"host"}, lambda key, _: key[0] == "a"),
    ("host IS NULL", {"host"}, lambda key, _: key[0] is None),  # an absent tag
    ("region = 'x' AND host IN ('a', 'b')", {"host", "region"},
     lambda key, _: key[1] == "x" and key[0] in ("a", "b")),
    (f"time > {ts(TIMES[0])}", set(), lambda key, _: key[2] > TIMES[0]),
    (f"time >= {ts(TIMES[2])} AND time < {ts(TIMES[4])}", set(),
     lambda key, _: TIMES[2] <= key[2] < TIMES[4]),
    # on fields: only the merged value may match, never a stale copy of the point
    ("f > 0", {"f"}, lambda _, v: v["f"] is not None and v["f"] > 0),
    ("s = 'a' OR b", {"s", "b"}, lambda _, v: v["s"] == "a" or v["b"] is True),
    ("host = 'a' OR i < 0", {"host", "i"},
     lambda key, v: key[0] == "a" or (v["i"] is not None and v["i"] < 0)),
    (f"host = 'b' AND time = {ts(TIMES[1])} AND f IS NULL", {"host", "f"},
     lambda key, v: key[0] == "b" and key[2] == TIMES[1] and v["f"] is None),
]


async def check(node: Node, model: dict, cache: bool = True) -> None:
    if not model:
        return
    await checked(node, model, cache)
    # again once the files read have been merged into one run (if there are several)
    await asyncio.to_thread(node.data.merges.wait)
    await checked(node, model, cache)


async def checked(node: Node, model: dict, cache: bool) -> None:
    points = expected(model)
    everything = await read(node, "SELECT * FROM m")
    assert stored_points(everything) == points
    if cache:
        # the last value cache (keyed by host, large enough for every point) merges alike
        cached = stored_points(await read(node, "SELECT * FROM last_cache('m')"))
        assert cached == {k: v for k, v in points.items() if k[0] is not None}
    count = await read(node, "SELECT count(*) AS n FROM m")
    assert count.column("n").to_pylist() == [len(model)]
    for where, columns, matches in FILTERS:
        if columns <= set(everything.column_names):
            found = stored_points(await read(node, f"SELECT * FROM m WHERE {where}"))
            assert found == {k: v for k, v in points.items() if matches(k, v)}, where


async def run(operations: list, data_dir: Path) -> None:
    model: dict = {}
    node = make_node(data_dir)
    await node.start()
    # the table made first, so that the cache can be keyed by `host` whatever is written
    node.catalog.create_database(DB)
    node.catalog.create_table(DB, "m", ["host", "region"], [])
    cache_made = False
    try:
        for op in operations:
            if isinstance(op, Write):
                body = "\n".join(line(*p) for p in op.points).encode()
                await node.writer.write_lp(DB, body, Precision.NANOSECOND, False, op.no_sync)
                if not cache_made:  # made after a write: filled from what is stored
                    await node.caches.create_last_cache(DB, "m", "lvc", ["host"], count=20,
                                                        ttl_s=TEN_YEARS_S)
                    cache_made = True
                for series, time_ns, fields in op.points:
                    model.setdefault(model_key(series, time_ns), {}).update(fields)
                continue
            # a synchronous write elsewhere: every no_sync write before it is flushed too
            await node.writer.write_lp(DB, b"marker n=1i 1", Precision.NANOSECOND, False, False)
            if op.name == "snapshot":
                await node.snapshots.snapshot()
            elif op.name == "compact":
                await node.maintenance.run_once()
            elif op.name == "restart":
                await node.stop()
                node = make_node(data_dir)
                await node.start()
            await check(node, model)
        await node.writer.write_lp(DB, b"marker n=1i 1", Precision.NANOSECOND, False, False)
        await check(node, model)
        # and once more from the Parquet files alone, overlapping files compacted
        await node.snapshots.snapshot()
        await node.maintenance.run_once()
        await check(node, model)
        files = node.index.files(DB, "m")
        assert not [(a.path, b.path) for a in files for b in files if a.path < b.path
                    and a.min_time_ns <= b.max_time_ns and b.min_time_ns <= a.max_time_ns]
        assert sum(f.row_count for f in files) == len(model)  # no point twice on disk
    finally:
        await node.stop()


@settings(max_examples=45, deadline=None)
@given(operations=operations)
def test_any_history_reads_back_as_writes_merged_in_order(operations):
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(operations, Path(tmp)))


def test_rewrites_across_buffer_files_compaction_and_restart():
    """A fixed history touching every source: the same point in two buffered runs, in a file
    and the buffer, in two files, and in the WAL replayed after a restart."""
    a, b = (("host", "a"),), (("host", "b"),)
    history = [
        Write(((a, TIMES[0], {"f": 1.0, "i": 1, "s": "one"}), (b, TIMES[0], {"f": 9.0}),
               (b, TIMES[1], {"f": 8.0})), False),
        Step("check"),  # the buffer sorts those three rows into a run
        Write(((b, TIMES[0], {"s": "two"}),), False),  # a second run: a third of the first
        Step("check"),
        Step("snapshot"),  # both runs into one file
        Write(((a, TIMES[0], {"i": 2}),), False),  # file + buffer
        Step("check"),
        Step("snapshot"),  # file + file
        Write(((a, TIMES[0], {"s": "three"}),), True),
        Step("restart"),  # file + file + replayed WAL
        Step("compact"),  # file + file merged
        Write(((a, TIMES[0], {"b": True}), (a, TIMES[0], {"b": False})), False),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(history, Path(tmp)))
