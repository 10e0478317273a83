"""Last write wins, as users see it: a point written again (same table, tags and time) is one
row whose fields are merged, the later write's values replacing the earlier ones, wherever the
two writes are stored (buffer, Parquet files, the WAL replayed after a crash, compacted files)
and whichever way the table is read (SQL, InfluxQL, Arrow Flight, the last value cache, a
plugin's query, CSV and Parquet exports)."""

from __future__ import annotations

import io
import signal
import textwrap
import time

import httpx
import pyarrow.parquet as pq
import pytest
from influxdb_client_3 import InfluxDBClient3

from tests.conftest import ServerProcess
from tests.helpers import wait_for

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND  # 2023-11-14T22:13:20Z
FIELDS = ("f", "i", "s", "b")
QUIET_MAINTENANCE = ("--maintenance-interval", "1h")  # no compaction unless a test wants it


class Points:
    """What table `m` must hold: each write's fields merged, in write order, into the point
    named by (host, time); and the line protocol of each write."""

    def __init__(self) -> None:
        self.points: dict[tuple[str | None, int], dict] = {}

    def lines(self, *points: tuple) -> str:
        """Line protocol for (host or None, time, {field: value}) each, merged into the model."""
        body = []
        for host, time_ns, fields in points:
            self.points.setdefault((host, time_ns), {}).update(fields)
            tags = f",host={host}" if host else ""
            body.append(f"m{tags} {','.join(_field(k, v) for k, v in fields.items())} {time_ns}")
        return "\n".join(body)

    def rows(self, with_nulls: bool = False) -> list[dict]:
        """The rows of ROWS_SQL: ordered by host (no host last), then time."""
        rows = []
        for (host, time_ns), fields in sorted(self.points.items(),
                                              key=lambda p: (p[0][0] is None, p[0][0] or "",
                                                             p[0][1])):
            row = {"host": host, **{k: fields.get(k) for k in FIELDS}, "t": time_ns}
            rows.append(row if with_nulls else {k: v for k, v in row.items() if v is not None})
        return rows

    def __len__(self) -> int:
        return len(self.points)


def _field(name: str, value) -> str:
    if isinstance(value, bool):
        return f"{name}={'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{name}={value}i"
    if isinstance(value, str):
        return f'{name}="{value}"'
    return f"{name}={value!r}"


ROWS_SQL = "SELECT host, f, i, s, b, arrow_cast(time, 'Int64') AS t FROM m ORDER BY host, t"


def write(server: ServerProcess, db: str, body: str) -> None:
    response = server.write(body, db=db, precision="ns")
    assert response.status_code == 204, response.text


def parquet_files(server: ServerProcess, db: str) -> list[dict]:
    return server.rows("SELECT path, row_count FROM system.parquet_files "
                       "WHERE table_name = 'm' ORDER BY path", db=db)


def count(server: ServerProcess, db: str) -> int:
    return server.rows("SELECT count(*) AS n FROM m", db=db)[0]["n"]


# -- where the two writes of a point are stored


# Files are read through the cache of decoded row groups (here for data of any age) or, with
# it off, by pyarrow's scanner: the two paths must agree.
FILE_READS = {"cached": ("--parquet-mem-cache-query-path-duration", "100000d"),
              "uncached": ("--disable-parquet-mem-cache",)}


@pytest.mark.parametrize("file_reads", FILE_READS)
def test_rewrites_merge_across_buffer_files_restarts_and_compaction(make_server, tmp_path,
                                                                    file_reads):
    """One server's life, every pairing of places a point's writes can be in. A snapshot
    every third write (each write here is one WAL flush) decides where they are."""
    args = ("--wal-snapshot-size", "3", "--gen1-duration", "10m", *FILE_READS[file_reads])
    server = make_server(*args, *QUIET_MAINTENANCE)
    db, model = "story", Points()

    def assert_reads_back() -> None:
        assert server.rows(ROWS_SQL, db=db) == model.rows()
        assert count(server, db) == len(model)

    def point_a() -> dict:
        return next(r for r in server.rows(ROWS_SQL, db=db) if r.get("host") == "a"
                    and r["t"] == T0)

    # flush 1: ten points, one of them twice within the write
    write(server, db, model.lines(
        ("a", T0, {"f": 1.0, "i": 1, "s": "one", "b": True}),
        ("a", T0 + SECOND, {"f": 10.0}),
        ("b", T0, {"f": 1.0}), ("b", T0, {"i": 2}),  # the same point on two lines
        (None, T0, {"f": 100.0}),  # no tag at all: a series of its own
        *[("c", T0 + k * SECOND, {"f": float(k)}) for k in range(6)]))
    assert_reads_back()
    assert server.rows("SELECT f, i FROM m WHERE host = 'b'", db=db) == [{"f": 1.0, "i": 2}]

    # flush 2, buffer + buffer: a partial rewrite keeps the fields it does not name
    write(server, db, model.lines(("a", T0, {"f": 2.0}), (None, T0, {"i": 200})))
    assert point_a() == {"host": "a", "f": 2.0, "i": 1, "s": "one", "b": True, "t": T0}
    assert_reads_back()

    # flush 3 starts a snapshot: one deduplicated file
    write(server, db, model.lines(("b", T0, {"s": "three"})))
    files = wait_for(lambda: parquet_files(server, db))
    assert sum(f["row_count"] for f in files) == len(model) == 10
    assert_reads_back()

    # file + buffer
    write(server, db, model.lines(("a", T0, {"s": "four"})))
    assert point_a() == {"host": "a", "f": 2.0, "i": 1, "s": "four", "b": True, "t": T0}
    assert_reads_back()

    # file + file: the next snapshot writes the rewritten points to a second file
    write(server, db, model.lines(("a", T0 + SECOND, {"b": False})))
    write(server, db, model.lines(("b", T0, {"f": 6.0}), ("a", T0, {"b": False})))
    files = wait_for(lambda: len(parquet_files(server, db)) == 2 and parquet_files(server, db))
    assert sum(f["row_count"] for f in files) == len(model) + 3  # 3 points are in both files
    assert point_a() == {"host": "a", "f": 2.0, "i": 1, "s": "four", "b": False, "t": T0}
    assert_reads_back()

    # a clean restart, then a kill -9 with a rewrite only in the WAL
    assert server.stop() == 0
    server.start()
    assert_reads_back()
    write(server, db, model.lines(("a", T0, {"i": 7})))
    server.kill()
    server.start()
    assert point_a() == {"host": "a", "f": 2.0, "i": 7, "s": "four", "b": False, "t": T0}
    assert_reads_back()

    # compaction merges the two overlapping files into one row per point
    server.stop()
    server = make_server(*args, "--maintenance-interval", "100ms", data_dir=tmp_path / "data")
    files = wait_for(lambda: len(parquet_files(server, db)) == 1 and parquet_files(server, db))
    assert files[0]["row_count"] == len(model)
    assert_reads_back()
    server.kill()
    server.start()
    assert_reads_back()


def test_a_client_resending_batches_leaves_one_row_per_point(make_server):
    """A client that retries until it gets a 204 may deliver a batch several times; with
    snapshots and compaction running meanwhile, each point is still one row."""
    server = make_server("--wal-snapshot-size", "2", "--gen1-duration", "1m",
                         "--maintenance-interval", "100ms")
    model = Points()
    for batch in range(12):
        body = model.lines(*[(f"h{h}", T0 + (batch * 10 + k) * SECOND, {"i": batch * 100 + k})
                             for h in range(4) for k in range(10)])
        for _ in range(2 + batch % 2):
            write(server, "retry", body)
    assert len(model) == 480
    assert count(server, "retry") == 480
    assert server.rows("SELECT count(DISTINCT host) AS hosts, sum(i) AS total FROM m",
                       db="retry") == [{"hosts": 4, "total": sum(
                           p["i"] for p in model.points.values())}]
    wait_for(lambda: parquet_files(server, "retry"))
    influxql = httpx.post(f"{server.url}/api/v3/query_influxql",
                          json={"db": "retry", "q": "SELECT count(i) FROM m"}).json()
    assert influxql[0]["count"] == 480
    server.kill()
    server.start()
    assert count(server, "retry") == 480


# -- every way of reading a rewritten point

ROWS_PLUGIN = """
    def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                        args):
        return {"rows": influxdb3_local.query(
            "SELECT host, f, i, s, b, time FROM m ORDER BY host, time")}
"""
SEEN_PLUGIN = """
    def process_writes(influxdb3_local, table_batches, args=None):
        rows = sum(len(b["rows"]) for b in table_batches if b["table_name"] == "m")
        seen = influxdb3_local.cache.get("m_rows", default=0, use_global=True)
        influxdb3_local.cache.put("m_rows", seen + rows, use_global=True)

    def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                        args=None):
        return {"m_rows": influxdb3_local.cache.get("m_rows", default=0, use_global=True)}
"""
LVC = "/api/v3/configure/last_cache"
# Recent: a new last value cache takes stored rows back to its ttl (4 hours) only.
T1 = (time.time_ns() // SECOND - 600) * SECOND
DB = "reads"


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    """A server whose table `m` has points rewritten across a Parquet file and the buffer,
    a last value cache made before the writes, and a plugin returning a query's rows."""
    root = tmp_path_factory.mktemp("reads")
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "rows.py").write_text(textwrap.dedent(ROWS_PLUGIN))
    (plugins / "seen.py").write_text(textwrap.dedent(SEEN_PLUGIN))
    server = ServerProcess(root / "data", "--plugin-dir", str(plugins), "--wal-snapshot-size",
                           "2", *QUIET_MAINTENANCE).start()
    http = server.client()
    assert http.post("/api/v3/configure/database", json={"db": DB}).status_code == 200
    assert http.post("/api/v3/configure/table", json={"db": DB, "table": "m",
                                                      "tags": ["host"]}).status_code == 200
    assert http.post(LVC, json={"db": DB, "table": "m", "name": "live", "key_columns": ["host"],
                                "count": 2}).status_code == 201
    assert http.post("/api/v3/configure/processing_engine_trigger", json={
        "db": DB, "plugin_filename": "rows.py", "trigger_name": "rows",
        "trigger_specification": "request:rows"}).status_code == 200
    for name, spec in (("seen", "table:m"), ("seen_count", "request:seen")):
        assert http.post("/api/v3/configure/processing_engine_trigger", json={
            "db": DB, "plugin_filename": "seen.py", "trigger_name": name,
            "trigger_specification": spec}).status_code == 200
    model = Points()
    write(server, DB, model.lines(("a", T1, {"f": 1.0, "i": 1, "s": "one", "b": True}),
                                  ("a", T1 - 60 * SECOND, {"f": 0.0}),
                                  ("b", T1, {"f": 5.0, "i": 5})))
    write(server, DB, model.lines(("c", T1, {"f": 3.0})))  # the second flush: a snapshot
    wait_for(lambda: parquet_files(server, DB))
    # rewritten in the buffer: a's float and string, b's integer; the rest stays. And d,
    # written twice in this write, only in the buffer
    write(server, DB, model.lines(("a", T1, {"f": 2.0, "s": "two"}), ("b", T1, {"i": 6}),
                                  ("d", T1 + SECOND, {"f": 7.0}), ("d", T1 + SECOND, {"i": 8})))
    server.model = model
    yield server
    if server.process and server.process.poll() is None:
        server.stop(signal.SIGKILL)


A_MERGED = {"f": 2.0, "i": 1, "s": "two", "b": True}


def test_sql(reads):
    assert reads.rows(ROWS_SQL, db=DB) == reads.model.rows()
    assert reads.rows("SELECT f, i, s, b FROM m WHERE host = 'a' AND "
                      f"arrow_cast(time, 'Int64') = {T1}", db=DB) == [A_MERGED]
    # filters on fields see only the merged values: never the stale copy, never a partial one
    assert reads.rows("SELECT host FROM m WHERE f = 1.0 OR s = 'one'", db=DB) == []
    assert reads.rows("SELECT host, s FROM m WHERE i = 1", db=DB) == [{"host": "a", "s": "two"}]
    assert reads.rows("SELECT f, i, s, b FROM m WHERE s = 'two'", db=DB) == [A_MERGED]
    assert reads.rows("SELECT host, count(*) AS n, sum(i) AS i FROM m GROUP BY host "
                      "ORDER BY host", db=DB) == [{"host": "a", "n": 2, "i": 1},
                                                  {"host": "b", "n": 1, "i": 6},
                                                  {"host": "c", "n": 1},
                                                  {"host": "d", "n": 1, "i": 8}]


def test_write_triggers_see_every_row_written(reads):
    # 3 + 1 + 4 lines were written to m; the table holds 5 points (a rewritten, d written
    # twice in one request), but a write trigger receives each write's rows as written.
    def seen() -> int:
        return reads.client().get("/api/v3/engine/seen").json()["m_rows"]

    wait_for(lambda: seen() >= 8)
    assert seen() == 8
    assert reads.rows("SELECT count(*) AS n FROM m", db=DB) == [{"n": 5}]


def test_influxql_v3_and_v1(reads):
    v3 = httpx.post(f"{reads.url}/api/v3/query_influxql",
                    json={"db": DB, "q": "SELECT f, i, s, b FROM m WHERE host = 'a'"})
    assert v3.status_code == 200, v3.text
    assert [{k: r.get(k) for k in FIELDS} for r in v3.json()] == [
        {"f": 0.0, "i": None, "s": None, "b": None}, A_MERGED]
    counted = httpx.post(f"{reads.url}/api/v3/query_influxql",
                         json={"db": DB, "q": "SELECT count(f), sum(i) FROM m"}).json()
    assert (counted[0]["count"], counted[0]["sum"]) == (5, 15)
    v1 = httpx.get(f"{reads.url}/query", params={
        "db": DB, "epoch": "ns", "q": "SELECT * FROM m WHERE f >= 1 GROUP BY host"}).json()
    assert v1 == {"results": [{"statement_id": 0, "series": [
        {"name": "m", "tags": {"host": "a"}, "columns": ["time", "b", "f", "i", "s"],
         "values": [[T1, True, 2, 1, "two"]]},
        {"name": "m", "tags": {"host": "b"}, "columns": ["time", "b", "f", "i", "s"],
         "values": [[T1, None, 5, 6, None]]},
        {"name": "m", "tags": {"host": "c"}, "columns": ["time", "b", "f", "i", "s"],
         "values": [[T1, None, 3, None, None]]},
        {"name": "m", "tags": {"host": "d"}, "columns": ["time", "b", "f", "i", "s"],
         "values": [[T1 + SECOND, None, 7, 8, None]]},
    ]}]}


def test_arrow_flight(reads):
    with InfluxDBClient3(host=reads.url, token="unused", database=DB) as client:
        table = client.query(ROWS_SQL)
        assert [{k: v for k, v in r.items() if v is not None} for r in table.to_pylist()] == (
            reads.model.rows())
        influxql = client.query("SELECT count(f) FROM m", language="influxql")
        assert influxql.column("count").to_pylist() == [5]


def test_csv_and_parquet_exports(reads):
    csv = reads.query(ROWS_SQL, db=DB, fmt="csv")
    assert csv.status_code == 200
    assert csv.text == (
        "host,f,i,s,b,t\n"
        f"a,0.0,,,,{T1 - 60 * SECOND}\n"
        f"a,2.0,1,two,true,{T1}\n"
        f"b,5.0,6,,,{T1}\n"
        f"c,3.0,,,,{T1}\n"
        f"d,7.0,8,,,{T1 + SECOND}\n")
    exported = reads.query("SELECT * FROM m", db=DB, fmt="parquet")
    assert exported.status_code == 200
    table = pq.read_table(io.BytesIO(exported.content))
    assert table.num_rows == 5
    rows = {(r["host"], r["time"].value): r for r in table.to_pylist()}
    assert {k: rows[("a", T1)][k] for k in FIELDS} == A_MERGED


def test_plugin_query(reads):
    reply = reads.client().get("/api/v3/engine/rows")
    assert reply.status_code == 200, reply.text
    expected = [{**{k: v for k, v in r.items() if k != "t"}, "time": r["t"]}
                for r in reads.model.rows(with_nulls=True)]
    assert reply.json()["rows"] == expected


def test_last_value_cache_merges_live_back_filled_and_after_a_crash(reads):
    def cached(name: str) -> list[dict]:
        return reads.rows(f"SELECT host, f, i, s, b, arrow_cast(time, 'Int64') AS t "
                          f"FROM last_cache('m', '{name}') ORDER BY host, t DESC", db=DB)

    # the two newest points per host: a's rewritten point once, merged, then its older one
    expected = [{"host": "a", **A_MERGED, "t": T1}, {"host": "a", "f": 0.0, "t": T1 - 60 * SECOND},
                {"host": "b", "f": 5.0, "i": 6, "t": T1}, {"host": "c", "f": 3.0, "t": T1},
                {"host": "d", "f": 7.0, "i": 8, "t": T1 + SECOND}]
    assert cached("live") == expected
    # a cache made now is filled from the Parquet file and the buffer
    assert reads.client().post(LVC, json={"db": DB, "table": "m", "name": "filled",
                                          "key_columns": ["host"], "count": 2}).status_code == 201
    assert cached("filled") == expected
    # after kill -9, both are refilled from the file and the WAL
    reads.kill()
    reads.start()
    assert cached("live") == expected
    assert cached("filled") == expected
    assert reads.rows(ROWS_SQL, db=DB) == reads.model.rows()


# -- the last value cache refilled from stored data


def test_last_value_cache_refill_after_restart_keeps_write_order(make_server):
    server = make_server("--wal-snapshot-size", "2", *QUIET_MAINTENANCE)
    t = (time.time_ns() // SECOND - 60) * SECOND  # within the cache's ttl
    write(server, "lvc", f"m,host=a f=1,i=1i {t}")
    assert server.client().post(LVC, json={"db": "lvc", "table": "m"}).status_code == 201
    write(server, "lvc", f"m,host=z f=0 {t}")  # second flush: a snapshot, file 1
    wait_for(lambda: len(parquet_files(server, "lvc")) == 1)
    write(server, "lvc", f"m,host=a i=2i {t}")
    write(server, "lvc", f"m,host=z f=0 {t}")  # file 2
    wait_for(lambda: len(parquet_files(server, "lvc")) == 2)
    write(server, "lvc", f'm,host=a s="three" {t}')  # only in the WAL
    merged = [{"f": 1.0, "i": 2, "s": "three"}]
    cached = "SELECT f, i, s FROM last_cache('m') WHERE host = 'a'"
    assert server.rows(cached, db="lvc") == merged
    server.kill()
    server.start()
    assert server.rows("SELECT f, i, s FROM m WHERE host = 'a'", db="lvc") == merged
    assert server.rows(cached, db="lvc") == merged


def test_last_value_cache_never_shows_part_of_an_old_point(make_server):
    server = make_server("--wal-snapshot-size", "2", *QUIET_MAINTENANCE)
    write(server, "old", f'm,host=a f=1,i=1i,s="one" {T0}')  # 2023: older than the ttl
    write(server, "old", f"m,host=b f=5 {T0}")  # second flush: a snapshot
    wait_for(lambda: parquet_files(server, "old"))
    write(server, "old", f"m,host=a f=2 {T0}")  # a partial rewrite, in the buffer
    assert server.client().post(LVC, json={"db": "old", "table": "m"}).status_code == 201
    stored = server.rows("SELECT host, f, i, s FROM m WHERE host = 'a'", db="old")
    assert stored == [{"host": "a", "f": 2.0, "i": 1, "s": "one"}]
    cached = server.rows("SELECT host, f, i, s FROM last_cache('m') WHERE host = 'a'", db="old")
    assert cached in ([], stored)  # never {"host": "a", "f": 2.0} alone
