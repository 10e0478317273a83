"""Power-loss crash harness: run a node on a `PowerCutStore`, cut the power, boot again, check.

One crash point (`run_point(seed)`) is:

1. a workload generated from the seed (`make_workload`), run step by step against an in-process
   `Node` (writes through `node.writer` as the HTTP layer calls it, maintenance, deletes, a
   retention change) with a short WAL flush interval, a snapshot every 3 flushes and 1-hour
   gen1 chunks, so that snapshots, compactions, retention and purges all happen;
2. a power cut at operation number `cut_at` (from the seed) on the store: `PowerCut` stops
   the workload and the node is abandoned (the store refuses any further I/O); if the workload
   ends first, the power goes out while the node idles;
3. a new node booted on `store.cut(...)`, what survives; then, unless `reboot=False`, that
   node is stopped cleanly, the power cut again and a third node booted, since recovery
   writes too (orphan and WAL removals, which are volatile, and a snapshot if one is due);
4. the invariants, checked on each booted node (`check`): the node starts, and what every
   table holds is exactly what the acknowledged steps say, with each step whose outcome is
   unknown (the one in flight at the cut) applied whole or not at all.

The expected contents come from folding the workload's steps over keys (database, table, tag
set, time). Two semantics:

* `dedup=True` (the final behaviour, InfluxDB 3's): one row per key, each write's fields
  merged over the earlier ones (last write wins, a field a later write leaves out keeps its
  value); a table or database delete, and a retention period that the key's time is past,
  empty the key.
* `dedup=False` (before deduplication is implemented): every written line is its own row, so
  a key holds the multiset of the lines written to it. This still demands exactly once: a line
  replayed twice after the crash (WAL and Parquet both used) or lost is a failure.

Steps run one at a time and each waits for the snapshot its flush started, so the sequence of
store operations, and so the crash point, is fixed by the seed (up to clock-dependent names).
With `overlap=True` snapshots and maintenance run beside the writes instead, as in a server:
more interleavings, but a seed no longer pins the exact operation the power is cut at.

Checkpoints of the catalog and of the Parquet index are made frequent (`frequent_checkpoints`)
so that cuts land in them too. The phase of a cut (`phase_of`) is read from the interrupted
operation: write (a WAL file, a catalog change made by a write), snapshot (Parquet files, the
index record, WAL removal), compaction, retention, delete (the catalog change, the index
record, the purge), checkpoint, cleanup (removal of replaced files), idle (after the last step).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from tests.storage.powercut import Operation, PowerCut, PowerCutStore
from timewell.config import Settings, StorageSettings
from timewell.errors import InvalidRequest, NotFound
from timewell.lineprotocol import Precision
from timewell.node import Node
from timewell.storage.oplog import OpLog

HOUR_NS = 3600 * 1_000_000_000
DAY_NS = 24 * HOUR_NS
# About how many store operations a workload makes; crash points are drawn from 1 to this,
# so a few land after the workload's end (the "idle" phase).
OPERATIONS = 190
PHASES = ("write", "snapshot", "compaction", "retention", "delete", "checkpoint", "cleanup",
          "idle")

# table -> (tag names, {field: kind}); kinds f(loat), i(nt), s(tring)
TABLES = {
    ("main", "cpu"): (("host", "region"), {"usage": "f", "count": "i", "note": "s"}),
    ("main", "mem"): (("host",), {"free": "f", "used": "i"}),
    ("main", "scratch"): (("host",), {"v": "f", "n": "i"}),  # deleted, then written again
    ("doomed", "x"): (("host",), {"v": "f"}),  # its database is deleted
    ("retained", "temp"): (("host",), {"t": "f", "ok": "s"}),  # gets a retention period
}
RETENTION_NS = DAY_NS
# The catalog and the Parquet index checkpoint every 100 records; a workload makes about 30,
# so they checkpoint more often here, to cut the power during checkpoints too.
CHECKPOINT_EVERY = 4


# -- the workload


@dataclass(frozen=True)
class Line:
    table: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, object], ...]
    time_ns: int

    def render(self) -> str:
        tags = "".join(f",{k}={v}" for k, v in self.tags)
        fields = ",".join(_lp_field(k, v) for k, v in self.fields)
        return f"{self.table}{tags} {fields} {self.time_ns}"


def _lp_field(name: str, value: object) -> str:
    if isinstance(value, str):
        return f'{name}="{value}"'
    if isinstance(value, int):
        return f"{name}={value}i"
    return f"{name}={value!r}"


@dataclass(frozen=True)
class Step:
    """One thing the workload does. `kind`: write, maintenance, delete_table,
    delete_database, set_retention. `note` says why (a re-sent batch, a partial rewrite)."""

    kind: str
    database: str = ""
    table: str = ""
    lines: tuple[Line, ...] = ()
    note: str = ""

    def body(self) -> bytes:
        return "\n".join(line.render() for line in self.lines).encode()


class _Generator:
    """Random but plausible steps: few series and timestamps, so writes overlap often."""

    def __init__(self, rng: random.Random, now_ns: int) -> None:
        self.rng = rng
        # main and doomed: one or two gen1 chunks, a couple of hours back
        self.t0 = (now_ns - 3 * HOUR_NS) // HOUR_NS * HOUR_NS
        self.old = (now_ns - 3 * DAY_NS) // HOUR_NS * HOUR_NS  # past retention, once set
        self.recent = (now_ns - 2 * HOUR_NS) // HOUR_NS * HOUR_NS
        self.writes: list[Step] = []
        self.closed: set[tuple[str, str]] = set()  # deleted: not written again
        self.retention_set = False
        self.serial = itertools.count(1)

    def write(self, choices: list[tuple[str, str]], fresh: bool = False) -> Step:
        kind = 1.0 if fresh else self.rng.random()
        earlier = [w for w in self.writes if (w.database, w.lines[0].table) not in self.closed
                   and not (self.retention_set and w.database == "retained")]
        if earlier and kind < 0.15:  # a client retrying a batch it sent before
            step = self.rng.choice(earlier)
            return Step("write", step.database, lines=step.lines, note="re-sent")
        if earlier and kind < 0.35:  # the same points again with some fields changed
            base = self.rng.choice(earlier)
            lines = tuple(self.line(base.database, line.table, line.tags, line.time_ns)
                          for line in base.lines)
            step = Step("write", base.database, lines=lines, note="partial rewrite")
        else:
            database, table = self.rng.choice(choices)
            lines = tuple(self.line(database, table) for _ in range(self.rng.randint(1, 5)))
            step = Step("write", database, lines=lines)
        self.writes.append(step)
        return step

    def line(self, database: str, table: str, tags=None, time_ns: int | None = None) -> Line:
        tag_names, field_kinds = TABLES[(database, table)]
        if tags is None:
            tags = tuple((name, f"{name[0]}{self.rng.randint(0, 2)}") for name in tag_names)
        if time_ns is None:
            time_ns = self._time(database)
        names = sorted(self.rng.sample(sorted(field_kinds),
                                       self.rng.randint(1, len(field_kinds))))
        n = next(self.serial)
        values = {"f": n + 0.25, "i": n, "s": f"v{n}"}
        return Line(table, tags, tuple((name, values[field_kinds[name]]) for name in names),
                    time_ns)

    def _time(self, database: str) -> int:
        slot = self.rng.randint(0, 11) * 60_000_000_000
        if database == "retained":
            if not self.retention_set and self.rng.random() < 0.5:
                return self.old + slot
            return self.recent + slot
        # now and then the next hour: a second time chunk
        return self.t0 + slot + (HOUR_NS if self.rng.random() < 0.2 else 0)


def make_workload(rng: random.Random, now_ns: int) -> list[Step]:
    """Writes in four rounds with maintenance between them; in the middle a retention period
    is set, a table and a database are deleted (hard delete due at once), and after them the
    deleted table is written again (a new table of the same name, once purged)."""
    gen = _Generator(rng, now_ns)
    everything = list(TABLES)
    steps: list[Step] = []

    def writes(low: int, high: int, choices) -> None:
        steps.extend(gen.write(choices) for _ in range(rng.randint(low, high)))

    # every table written first (in random order), so that each exists before it is deleted
    for database, table in rng.sample(everything, len(everything)):
        steps.append(gen.write([(database, table)], fresh=True))
    writes(6, 10, everything)
    steps.append(Step("maintenance"))
    writes(6, 10, everything)
    steps.append(Step("set_retention", "retained"))
    gen.retention_set = True
    steps.append(Step("maintenance"))
    steps.append(Step("delete_table", "main", "scratch"))
    steps.append(Step("delete_database", "doomed"))
    gen.closed |= {("main", "scratch"), ("doomed", "x")}
    steps.append(Step("maintenance"))  # purges the table; the database waits for its WAL
    live = [key for key in everything if key not in gen.closed]
    writes(6, 10, live)
    steps.append(Step("write", "main", lines=(gen.line("main", "scratch"),), note="reborn"))
    steps.append(Step("maintenance"))  # compaction; the database purge
    writes(4, 8, live)
    steps.append(Step("maintenance"))
    return steps


# -- running it


@contextlib.contextmanager
def frequent_checkpoints(every: int):
    """Make every OpLog (catalog, Parquet index) made meanwhile checkpoint after `every`
    records. Node builds its logs with the default interval and has no setting for it."""
    original = OpLog.__init__

    @functools.wraps(original)
    def init(self, store, directory, checkpoint_every=100, *args, **kwargs):
        original(self, store, directory, min(checkpoint_every, every), *args, **kwargs)

    OpLog.__init__ = init
    try:
        yield
    finally:
        OpLog.__init__ = original


def node_settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir, node_id="powercut", object_store="memory", without_auth=True,
        wal_flush_interval_s=0.002, package_manager="disabled",
        storage=StorageSettings(
            gen1_duration_ns=HOUR_NS, wal_snapshot_size=3,
            hard_delete_default_duration_ns=HOUR_NS,
            # maintenance and its grace period only when the workload asks (run_once)
            maintenance_interval_s=3600.0,
        ),
    )


@dataclass
class Run:
    """What happened: each started step's outcome (acked, refused, unknown), the operation
    the cut interrupted, and the phase it fell in."""

    statuses: dict[int, str] = field(default_factory=dict)
    interrupted: Operation | None = None
    operations: int = 0
    phase: str = "idle"


async def run_workload(steps: list[Step], store: PowerCutStore, settings: Settings,
                       overlap: bool = False) -> Run:
    """Boot a node on `store`, run `steps` until they end or the power goes out; the node is
    abandoned either way (no shutdown: the power is off)."""
    run = Run()
    loop = asyncio.get_running_loop()
    power_off = asyncio.Event()
    store.on_cut.append(lambda: loop.call_soon_threadsafe(power_off.set))
    node = Node(settings, store=store)
    await node.start()  # writes nothing: a cut cannot come before the first step
    work = asyncio.create_task(_steps(node, store, steps, run, overlap))
    outage = asyncio.create_task(power_off.wait())
    await asyncio.wait({work, outage}, return_when=asyncio.FIRST_COMPLETED)
    store.power_off()  # if the workload ended first: the cut comes while the node idles
    for task in (work, outage):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, PowerCut):
            await task
    run.interrupted = store.interrupted
    run.operations = store.operations
    if store.interrupted is not None:
        run.phase = phase_of(store.interrupted)
    await _abandon(node)
    return run


async def _steps(node: Node, store: PowerCutStore, steps: list[Step], run: Run,
                 overlap: bool) -> None:
    """Run the steps in order. Without `overlap` each step also waits for the snapshot its
    flush (or maintenance) started, so that the order of store operations does not depend on
    thread timing and a seed reproduces its crash exactly. With it, snapshots and maintenance
    run in the background, beside the next writes, as in a server; the logical order of the
    steps (what the invariants depend on) stays the same."""
    background: list[asyncio.Task] = []
    for number, step in enumerate(steps):
        run.statuses[number] = "unknown"  # until it returns
        store.label = step.kind
        if overlap and step.kind == "maintenance":
            background.append(asyncio.create_task(node.maintenance.run_once()))
            run.statuses[number] = "acked"  # changes no data: nothing to check about it
            continue
        try:
            await _execute(node, step)
        except (InvalidRequest, NotFound):
            run.statuses[number] = "refused"  # e.g. a write to a deleted, unpurged table
        except Exception:
            logging.getLogger(__name__).exception("step %d (%s) failed", number, step.kind)
            continue  # unknown: it may or may not have taken effect
        else:
            run.statuses[number] = "acked"
        if not overlap:
            store.label = "snapshot"
            await asyncio.sleep(0)  # maintenance asks for a snapshot with call_soon_threadsafe
            await node.snapshots.wait()
    for task in background:
        try:
            await task  # a PowerCut in one ends the workload like any other
        except Exception:
            logging.getLogger(__name__).exception("maintenance failed")
    await asyncio.sleep(0)
    await node.snapshots.wait()


async def _execute(node: Node, step: Step) -> None:
    now = time.time_ns()
    if step.kind == "write":
        await node.writer.write_lp(step.database, step.body(), Precision.NANOSECOND,
                                   accept_partial=False, no_sync=False)
    elif step.kind == "maintenance":
        await node.maintenance.run_once()
    elif step.kind == "delete_table":
        await node.delete_table(step.database, step.table, hard_delete_at_ns=now)
    elif step.kind == "delete_database":
        await node.delete_database(step.database, hard_delete_at_ns=now)
    elif step.kind == "set_retention":
        await asyncio.to_thread(node.catalog.set_retention, step.database, RETENTION_NS)
    else:
        raise ValueError(step.kind)


async def _abandon(node: Node) -> None:
    """Release an abandoned node's tasks and threads. The store refuses all I/O now, so this
    cannot change what survived; errors (PowerCut included) are expected and ignored."""
    for stop in (node.maintenance.stop, node.caches.stop, node.engine.stop, node.wal.close):
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(stop(), timeout=2)


def phase_of(op: Operation) -> str:
    """Which of the node's activities the interrupted operation belonged to."""
    path, name = op.path, op.path.rsplit("/", 1)[-1]
    if "/wal/" in path:
        return "write" if op.kind != "delete" else "snapshot"  # deletes: WAL truncation
    if name == "checkpoint.json" or "/log/" in path and op.kind == "delete":
        return "checkpoint"  # of the catalog or the Parquet index, and its log's truncation
    if path.endswith(".parquet"):
        if op.kind == "delete":
            return "cleanup"  # files compaction, retention or a purge replaced
        return "compaction" if name.startswith("c") else "snapshot"
    if "/index/log/" in path and op.data:
        # The record's JSON, maybe inside a checksummed frame: look at it as bytes.
        if b'"op":"snapshot"' in op.data:
            return "snapshot"
        if b'"added":[]' not in op.data:
            return "compaction"
        return "retention" if b"/dbs/retained/" in op.data else "delete"
    return {"write": "write", "set_retention": "retention", "maintenance": "delete",
            "delete_table": "delete", "delete_database": "delete"}.get(op.label, "snapshot")


# -- the invariants

Key = tuple[str, str, tuple, int]  # database, table, tags, time
ABSENT = None


def expected_state(steps: list[Step], statuses: dict[int, str], applied: set[int],
                   dedup: bool, now_ns: int) -> dict[Key, object]:
    """What each key holds if exactly the acked steps and the unknown ones in `applied` took
    effect, in order. dedup: a key's fields (tuple of (name, value)); otherwise the sorted
    tuple of its rows."""
    state: dict[Key, object] = {}
    for number, step in enumerate(steps):
        status = statuses.get(number)
        if status != "acked" and not (status == "unknown" and number in applied):
            continue
        if step.kind == "write":
            for line in step.lines:
                key = (step.database, line.table, line.tags, line.time_ns)
                if dedup:
                    merged = dict(state.get(key) or ())
                    merged.update(line.fields)
                    state[key] = tuple(sorted(merged.items()))
                else:
                    state[key] = tuple(sorted((*(state.get(key) or ()), line.fields)))
        elif step.kind in ("delete_table", "delete_database", "set_retention"):
            for key in list(state):
                if key[0] != step.database:
                    continue
                if (step.kind == "delete_table" and key[1] != step.table
                        or step.kind == "set_retention" and key[3] >= now_ns - RETENTION_NS):
                    continue
                del state[key]
    return state


def observe(node: Node, dedup: bool) -> tuple[dict[Key, object], list[str]]:
    """Every row of every live table, by key (as `expected_state` shapes it); and problems
    seen while reading (a key with several rows when deduplicating, a failing query)."""
    problems = []
    rows: dict[Key, list] = {}
    with node.catalog.lock:
        tables = [(db.name, name, list(t.series_key))
                  for db in node.catalog.databases.values() if not db.deleted
                  for name, t in db.live_tables().items()]
    for database, table, tag_names in tables:
        try:
            data = node.query.sql(database, f'SELECT * FROM "{table}"', log_as=None)
        except Exception as e:
            problems.append(f"{database}.{table}: query failed: {e}")
            continue
        times = data.column("time").cast(pa.int64()).to_pylist()
        columns = {name: data.column(name).to_pylist() for name in data.column_names
                   if name != "time"}
        for i, time_ns in enumerate(times):
            tags = tuple((t, columns[t][i]) for t in tag_names if columns[t][i] is not None)
            fields = tuple(sorted((name, values[i]) for name, values in columns.items()
                                  if name not in tag_names and values[i] is not None))
            rows.setdefault((database, table, tags, time_ns), []).append(fields)
    state: dict[Key, object] = {}
    for key, found in rows.items():
        if dedup:
            if len(found) > 1:
                problems.append(f"{_key_text(key)}: {len(found)} rows, deduplication expects 1")
            state[key] = found[-1]
        else:
            state[key] = tuple(sorted(found))
    return state, problems


def check(node: Node, steps: list[Step], run: Run, dedup: bool, now_ns: int) -> list[str]:
    """The invariants on a booted node: empty when they hold, else what is wrong."""
    observed, problems = observe(node, dedup)
    unknown = [n for n, s in sorted(run.statuses.items()) if s == "unknown"]
    written = {(step.database, line.table, line.tags, line.time_ns)
               for number, step in enumerate(steps) if number in run.statuses
               for line in step.lines}
    best: list[str] | None = None
    for count in range(len(unknown) + 1):
        for applied in itertools.combinations(unknown, count):
            expected = expected_state(steps, run.statuses, set(applied), dedup, now_ns)
            wrong = _differences(expected, observed, written)
            if not wrong:
                return problems
            if best is None or len(wrong) < len(best):
                best = wrong if not unknown else [
                    *wrong, f"(closest: of the steps in flight {unknown}, {list(applied)} "
                            "taken as applied)"]
    return problems + (best or [])


def _differences(expected: dict[Key, object], observed: dict[Key, object],
                 written: set[Key]) -> list[str]:
    wrong = []
    for key in sorted(set(expected) | set(observed), key=repr):
        want, got = expected.get(key, ABSENT), observed.get(key, ABSENT)
        if want != got:
            what = ("lost" if got is ABSENT else "wrong values" if want is not ABSENT
                    else "deleted or expired, yet there" if key in written
                    else "never written")
            wrong.append(f"{_key_text(key)}: {what}: expected {want}, found {got}")
    return wrong


def _key_text(key: Key) -> str:
    database, table, tags, time_ns = key
    return f"{database}.{table}{''.join(f',{k}={v}' for k, v in tags)} @{time_ns}"


# -- one crash point


@dataclass
class PointResult:
    seed: int
    cut_at: int
    phase: str
    operations: int
    acked: int
    failures: list[str]
    seconds: float


def run_point(seed: int, *, dedup: bool, cut_at: int | None = None, reboot: bool = True,
              torn_writes: bool = True, atomic_durable_put: bool = True,
              overlap: bool = False, operations: int = OPERATIONS) -> PointResult:
    """One crash point, reproducible from `seed` (and the options): the workload, the
    operation the power is cut at (unless `cut_at` is given) and what survives all come
    from it."""
    started = time.perf_counter()
    rng = random.Random(seed)
    now_ns = time.time_ns()
    steps = make_workload(rng, now_ns)
    if cut_at is None:
        cut_at = rng.randint(1, operations)
    run, failures = run_steps(steps, now_ns, dedup=dedup, cut_at=cut_at,
                              cut_rng=random.Random(rng.getrandbits(64)), reboot=reboot,
                              torn_writes=torn_writes, atomic_durable_put=atomic_durable_put,
                              overlap=overlap)
    return PointResult(seed, cut_at, run.phase, run.operations,
                       sum(s == "acked" for s in run.statuses.values()), failures,
                       time.perf_counter() - started)


def run_steps(steps: list[Step], now_ns: int, *, dedup: bool, cut_at: int | None = None,
              cut_rng: random.Random | None = None, reboot: bool = True,
              torn_writes: bool = True, atomic_durable_put: bool = True,
              overlap: bool = False) -> tuple[Run, list[str]]:
    """Run `steps` until the power cut at operation `cut_at` (None: after the last step),
    boot on what survives (and, with `reboot`, cut and boot once more), and check; the run
    and the invariants' failures."""
    cut_rng = cut_rng or random.Random(0)
    model = {"torn_writes": torn_writes, "atomic_durable_put": atomic_durable_put}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="powercut-") as tmp, \
            frequent_checkpoints(CHECKPOINT_EVERY):
        settings = node_settings(Path(tmp))
        store = PowerCutStore(cut_at=cut_at, **model)
        run = asyncio.run(run_workload(steps, store, settings, overlap))
        state = store.cut(cut_rng)
        for boot in ("first boot", "second boot")[:2 if reboot else 1]:
            store = PowerCutStore(initial=state, **model)
            found = asyncio.run(_boot_and_check(store, settings, steps, run, dedup, now_ns))
            failures += [f"{boot}: {f}" for f in found]
            if found:
                break
            state = store.cut(cut_rng)  # the power fails again after a clean stop
    return run, failures


async def _boot_and_check(store: PowerCutStore, settings: Settings, steps: list[Step],
                          run: Run, dedup: bool, now_ns: int) -> list[str]:
    try:
        node = Node(settings, store=store)
        await node.start()
    except Exception as e:
        return [f"the node does not start: {type(e).__name__}: {e}"]
    try:
        await node.snapshots.wait()  # a snapshot the replay made due
        return await asyncio.to_thread(check, node, steps, run, dedup, now_ns)
    finally:
        await node.stop()


def dedup_implemented() -> bool:
    """Whether the node keeps one row per (series, time): write a point twice and count."""

    async def probe() -> int:
        with tempfile.TemporaryDirectory(prefix="powercut-") as tmp:
            node = Node(node_settings(Path(tmp)), store=PowerCutStore())
            await node.start()
            try:
                for body in (b"t,h=a x=1,y=2 1000", b"t,h=a x=3 1000"):
                    await node.writer.write_lp("probe", body, Precision.NANOSECOND,
                                               accept_partial=False, no_sync=False)
                table = await asyncio.to_thread(node.query.sql, "probe", "SELECT * FROM t")
                return table.num_rows
            finally:
                await node.stop()

    return asyncio.run(probe()) == 1


def summarize(results: list[PointResult]) -> str:
    phases = Counter(r.phase for r in results)
    failed = [r for r in results if r.failures]
    lines = [f"{len(results)} crash points, {len(failed)} failed; by phase: "
             + ", ".join(f"{p} {phases[p]}" for p in PHASES if phases[p])]
    for r in failed:
        lines.append(f"  seed {r.seed} (cut at operation {r.cut_at}, {r.phase}): "
                     f"{r.failures[0]}" + (f" (+{len(r.failures) - 1} more)"
                                           if len(r.failures) > 1 else ""))
    return "\n".join(lines)
