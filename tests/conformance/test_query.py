"""Upstream `influxdb3/tests/server/query.rs`: `/api/v3/query_sql`, `/api/v3/query_influxql` and
the v1 `/query` API."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conformance.conftest import api, write_lp

CPU_3 = ("cpu,host=s1,region=us-east usage=0.9 1\n"
         "cpu,host=s1,region=us-east usage=0.89 2\n"
         "cpu,host=s1,region=us-east usage=0.85 3")
MEM_3 = ("mem,host=s1,region=us-east usage=0.5 4\n"
         "mem,host=s1,region=us-east usage=0.6 5\n"
         "mem,host=s1,region=us-east usage=0.7 6")
AB = ("cpu,host=a,region=us-east usage=0.9 1\ncpu,host=b,region=us-east usage=0.50 1\n"
      "cpu,host=a,region=us-east usage=0.80 2\ncpu,host=b,region=us-east usage=0.60 2\n"
      "cpu,host=a,region=us-east usage=0.70 3\ncpu,host=b,region=us-east usage=0.70 3\n"
      "cpu,host=a,region=us-east usage=0.50 4\ncpu,host=b,region=us-east usage=0.80 4")


def table(*lines: str) -> str:
    return "\n".join(lines)


def test_query_api_v3_query_sql(module_server):
    write_lp(module_server, "q_sql", CPU_3, precision="nanosecond")
    response = api(module_server, "GET", "/api/v3/query_sql",
                   params={"db": "q_sql", "q": "SELECT * FROM cpu", "format": "pretty"})
    assert response.text == table(
        "+------+---------+-------------------------------+-------+",
        "| host | region  | time                          | usage |",
        "+------+---------+-------------------------------+-------+",
        "| s1   | us-east | 1970-01-01T00:00:00.000000001 | 0.9   |",
        "| s1   | us-east | 1970-01-01T00:00:00.000000002 | 0.89  |",
        "| s1   | us-east | 1970-01-01T00:00:00.000000003 | 0.85  |",
        "+------+---------+-------------------------------+-------+")
    # the newest upstream version adds an aggregate, named as DataFusion names it
    response = api(module_server, "GET", "/api/v3/query_sql",
                   params={"db": "q_sql", "q": "SELECT count(usage) FROM cpu", "format": "pretty"})
    assert response.text == table("+------------------+", "| count(cpu.usage) |",
                                  "+------------------+", "| 3                |",
                                  "+------------------+")


@pytest.mark.parametrize("path, first_column", [
    ("/api/v3/query_sql", None), ("/api/v3/query_influxql", "cpu")], ids=["sql", "influxql"])
def test_query_api_v3_query_params(module_server, path, first_column):
    """`api_v3_query_sql_params` and `api_v3_query_influxql_params`."""
    db = "q_params"
    write_lp(module_server, db, AB)  # both cases write: xdist may run either alone
    q = "SELECT * FROM cpu WHERE host = $host AND usage > $usage"
    params = {"host": "b", "usage": 0.60}
    if first_column:
        expected = table(
            "+------------------+---------------------+------+---------+-------+",
            "| iox::measurement | time                | host | region  | usage |",
            "+------------------+---------------------+------+---------+-------+",
            "| cpu              | 1970-01-01T00:00:03 | b    | us-east | 0.7   |",
            "| cpu              | 1970-01-01T00:00:04 | b    | us-east | 0.8   |",
            "+------------------+---------------------+------+---------+-------+")
    else:
        expected = table(
            "+------+---------+---------------------+-------+",
            "| host | region  | time                | usage |",
            "+------+---------+---------------------+-------+",
            "| b    | us-east | 1970-01-01T00:00:03 | 0.7   |",
            "| b    | us-east | 1970-01-01T00:00:04 | 0.8   |",
            "+------+---------+---------------------+-------+")
    posted = api(module_server, "POST", path,
                 json={"db": db, "q": q, "params": params, "format": "pretty"})
    assert posted.text == expected
    got = api(module_server, "GET", path, params={"db": db, "q": q, "format": "pretty",
                                                  "params": json.dumps(params)})
    assert got.text == expected


@pytest.mark.differs("upstream answers a query whose $placeholder has no value with a 5xx "
                     "(a DataFusion internal error, which its own test calls a TODO); timewell "
                     "answers 400, since the request is at fault")
@pytest.mark.parametrize("path", ["/api/v3/query_sql", "/api/v3/query_influxql"])
def test_query_api_v3_query_params_missing_value(module_server, path):
    write_lp(module_server, "q_params_missing", AB)
    response = api(module_server, "POST", path, json={
        "db": "q_params_missing", "q": "SELECT * FROM cpu WHERE host = $host",
        "params": {"not_host": "a"}, "format": "pretty"})
    assert response.status_code == 400
    assert "host" in response.text


INFLUXQL_CASES = [
    ("q_iql", "SELECT * FROM cpu", [
        "+------------------+-------------------------------+------+---------+-------+",
        "| iox::measurement | time                          | host | region  | usage |",
        "+------------------+-------------------------------+------+---------+-------+",
        "| cpu              | 1970-01-01T00:00:00.000000001 | s1   | us-east | 0.9   |",
        "| cpu              | 1970-01-01T00:00:00.000000002 | s1   | us-east | 0.89  |",
        "| cpu              | 1970-01-01T00:00:00.000000003 | s1   | us-east | 0.85  |",
        "+------------------+-------------------------------+------+---------+-------+"]),
    (None, "SELECT * FROM q_iql.autogen.cpu", [
        "+------------------+-------------------------------+------+---------+-------+",
        "| iox::measurement | time                          | host | region  | usage |",
        "+------------------+-------------------------------+------+---------+-------+",
        "| cpu              | 1970-01-01T00:00:00.000000001 | s1   | us-east | 0.9   |",
        "| cpu              | 1970-01-01T00:00:00.000000002 | s1   | us-east | 0.89  |",
        "| cpu              | 1970-01-01T00:00:00.000000003 | s1   | us-east | 0.85  |",
        "+------------------+-------------------------------+------+---------+-------+"]),
    ("q_iql", "SELECT * FROM cpu, mem", [
        "+------------------+-------------------------------+------+---------+-------+",
        "| iox::measurement | time                          | host | region  | usage |",
        "+------------------+-------------------------------+------+---------+-------+",
        "| cpu              | 1970-01-01T00:00:00.000000001 | s1   | us-east | 0.9   |",
        "| cpu              | 1970-01-01T00:00:00.000000002 | s1   | us-east | 0.89  |",
        "| cpu              | 1970-01-01T00:00:00.000000003 | s1   | us-east | 0.85  |",
        "| mem              | 1970-01-01T00:00:00.000000004 | s1   | us-east | 0.5   |",
        "| mem              | 1970-01-01T00:00:00.000000005 | s1   | us-east | 0.6   |",
        "| mem              | 1970-01-01T00:00:00.000000006 | s1   | us-east | 0.7   |",
        "+------------------+-------------------------------+------+---------+-------+"]),
    ("q_iql", "SHOW MEASUREMENTS", [
        "+------------------+------+",
        "| iox::measurement | name |",
        "+------------------+------+",
        "| measurements     | cpu  |",
        "| measurements     | mem  |",
        "+------------------+------+"]),
    (None, "SHOW MEASUREMENTS ON q_iql", [
        "+------------------+------+",
        "| iox::measurement | name |",
        "+------------------+------+",
        "| measurements     | cpu  |",
        "| measurements     | mem  |",
        "+------------------+------+"]),
    ("q_iql", "SHOW FIELD KEYS", [
        "+------------------+----------+-----------+",
        "| iox::measurement | fieldKey | fieldType |",
        "+------------------+----------+-----------+",
        "| cpu              | usage    | float     |",
        "| mem              | usage    | float     |",
        "+------------------+----------+-----------+"]),
    (None, "SHOW FIELD KEYS ON q_iql", [
        "+------------------+----------+-----------+",
        "| iox::measurement | fieldKey | fieldType |",
        "+------------------+----------+-----------+",
        "| cpu              | usage    | float     |",
        "| mem              | usage    | float     |",
        "+------------------+----------+-----------+"]),
    ("q_iql", "SHOW TAG KEYS", [
        "+------------------+--------+",
        "| iox::measurement | tagKey |",
        "+------------------+--------+",
        "| cpu              | host   |",
        "| cpu              | region |",
        "| mem              | host   |",
        "| mem              | region |",
        "+------------------+--------+"]),
    (None, "SHOW TAG KEYS ON q_iql", [
        "+------------------+--------+",
        "| iox::measurement | tagKey |",
        "+------------------+--------+",
        "| cpu              | host   |",
        "| cpu              | region |",
        "| mem              | host   |",
        "| mem              | region |",
        "+------------------+--------+"]),
    ("q_iql", 'SHOW TAG VALUES WITH KEY = "host" WHERE time < 1970-01-02', [
        "+------------------+------+-------+",
        "| iox::measurement | key  | value |",
        "+------------------+------+-------+",
        "| cpu              | host | s1    |",
        "| mem              | host | s1    |",
        "+------------------+------+-------+"]),
    (None, 'SHOW TAG VALUES ON q_iql WITH KEY = "host" WHERE time < 1970-01-02', [
        "+------------------+------+-------+",
        "| iox::measurement | key  | value |",
        "+------------------+------+-------+",
        "| cpu              | host | s1    |",
        "| mem              | host | s1    |",
        "+------------------+------+-------+"]),
    pytest.param(None, "SHOW RETENTION POLICIES ON q_iql", [
        "+---------------+---------+----------+",
        "| iox::database | name    | duration |",
        "+---------------+---------+----------+",
        "| q_iql         | autogen |          |",
        "+---------------+---------+----------+"]),
    pytest.param("q_iql", "SHOW RETENTION POLICIES", [
        "+---------------+---------+----------+",
        "| iox::database | name    | duration |",
        "+---------------+---------+----------+",
        "| q_iql         | autogen |          |",
        "+---------------+---------+----------+"]),
]


@pytest.fixture(scope="module")
def influxql_server(make_module_server):
    """A server of its own: SHOW DATABASES lists every database."""
    server = make_module_server()
    write_lp(server, "q_iql", f"{CPU_3}\n{MEM_3}", precision="nanosecond")
    write_lp(server, "q_iql_bar", f"{CPU_3}\n{MEM_3}", precision="nanosecond")
    return server


@pytest.mark.parametrize("db, q, expected", INFLUXQL_CASES,
                         ids=[(c.values if hasattr(c, "values") else c)[1] for c in INFLUXQL_CASES])
def test_query_api_v3_query_influxql(influxql_server, db, q, expected):
    params = {"q": q, "format": "pretty"}
    if db:
        params["db"] = db
    response = api(influxql_server, "GET", "/api/v3/query_influxql", params=params)
    assert response.text == table(*expected), response.text


@pytest.mark.differs("upstream also lists its `_internal` database (the newest version with "
                     "a `deleted` column, as here)")
@pytest.mark.parametrize("q, expected", [
    ("SHOW DATABASES", [
        "+---------------+---------+",
        "| iox::database | deleted |",
        "+---------------+---------+",
        "| q_iql         | false   |",
        "| q_iql_bar     | false   |",
        "+---------------+---------+"]),
    ("SHOW RETENTION POLICIES", [
        "+---------------+---------+----------+",
        "| iox::database | name    | duration |",
        "+---------------+---------+----------+",
        "| q_iql         | autogen |          |",
        "| q_iql_bar     | autogen |          |",
        "+---------------+---------+----------+"])])
def test_query_api_v3_query_influxql_without_db(influxql_server, q, expected):
    """The `SHOW DATABASES` / `SHOW RETENTION POLICIES` cases of `api_v3_query_influxql`."""
    response = api(influxql_server, "GET", "/api/v3/query_influxql",
                   params={"q": q, "format": "pretty"})
    assert response.text == table(*expected), response.text


V1_LP = ("cpu,host=a usage=0.9 1\ncpu,host=a usage=0.89 2\ncpu,host=a usage=0.85 3\n"
         "mem,host=a usage=0.5 4\nmem,host=a usage=0.6 5\nmem,host=a usage=0.7 6")


def _series(name: str, values: list) -> dict:
    return {"columns": ["time", "host", "usage"], "name": name, "values": values}


CPU_V = [["1970-01-01T00:00:01", "a", 0.9], ["1970-01-01T00:00:02", "a", 0.89],
         ["1970-01-01T00:00:03", "a", 0.85]]
MEM_V = [["1970-01-01T00:00:04", "a", 0.5], ["1970-01-01T00:00:05", "a", 0.6],
         ["1970-01-01T00:00:06", "a", 0.7]]


V1_DIFFERS = ("timewell's v1 /query answers as InfluxDB 1.x does, checked against a real 1.x by "
              "tests/e2e/test_influxql_vs_influxdb1.py: RFC 3339 times end in `Z`, several "
              "measurements come in name order, chunks carry `partial: true`; upstream 3 writes "
              "times without `Z`, lists `mem` before `cpu` unchunked and has no `partial`")


@pytest.mark.differs(V1_DIFFERS)
@pytest.mark.parametrize("db, epoch, q, series", [
    ("q_v1", None, "SELECT * FROM cpu", [_series("cpu", CPU_V)]),
    ("q_v1", None, "SELECT * FROM cpu, mem", [_series("mem", MEM_V), _series("cpu", CPU_V)]),
    (None, None, "SELECT * FROM q_v1.autogen.cpu", [_series("cpu", CPU_V)]),
    ("q_v1", "s", "SELECT * FROM cpu", [_series("cpu", [[1, "a", 0.9], [2, "a", 0.89],
                                                        [3, "a", 0.85]])]),
], ids=["basic", "two measurements", "db in query", "epoch"])
def test_query_api_v1_query(module_server, db, epoch, q, series):
    write_lp(module_server, "q_v1", V1_LP)
    params = {"q": q}
    if db:
        params["db"] = db
    if epoch:
        params["epoch"] = epoch
    body = api(module_server, "GET", "/query", params=params).json()
    if epoch is None:  # 1.x: RFC 3339 with `Z`
        series = [{**s, "values": [[v[0] + "Z", *v[1:]] for v in s["values"]]} for s in series]
    if len(series) == 2:  # 1.x: series in name order
        series = series[::-1]
    assert body == {"results": [{"series": series, "statement_id": 0}]}


V1_FORMAT_LP = ("cpu,host=a usage=0.9 2998574931\ncpu,host=a usage=0.89 2998574932\n"
                "cpu,host=a usage=0.85 2998574933\nmem,host=a usage=0.5 2998574934\n"
                "mem,host=a usage=0.6 2998574935\nmem,host=a usage=0.7 2998574936")
CPU_NS = [2998574931 * 10**9, 2998574932 * 10**9, 2998574933 * 10**9]
MEM_NS = [2998574934 * 10**9, 2998574935 * 10**9, 2998574936 * 10**9]


@pytest.mark.differs(V1_DIFFERS + "; without `epoch` upstream 3 writes times as nanosecond "
                     "strings (\"2998574931000000000\"), 1.x and timewell as RFC 3339")
@pytest.mark.parametrize("db, epoch, q, expected", [
    ("q_v1j", None, "SELECT * FROM cpu WHERE host='c'", {"results": [{"statement_id": 0}]}),
    ("q_v1j", None, "SELECT time, host, usage FROM cpu",
     [("cpu", ["2065-01-07T17:28:51Z", "2065-01-07T17:28:52Z", "2065-01-07T17:28:53Z"])]),
    ("q_v1j", None, "SELECT time, host, usage FROM cpu, mem",
     [("cpu", ["2065-01-07T17:28:51Z", "2065-01-07T17:28:52Z", "2065-01-07T17:28:53Z"]),
      ("mem", ["2065-01-07T17:28:54Z", "2065-01-07T17:28:55Z", "2065-01-07T17:28:56Z"])]),
    (None, None, "SELECT time, host, usage FROM q_v1j.autogen.cpu",
     [("cpu", ["2065-01-07T17:28:51Z", "2065-01-07T17:28:52Z", "2065-01-07T17:28:53Z"])]),
    ("q_v1j", "s", "SELECT time, host, usage FROM cpu",
     [("cpu", [2998574931, 2998574932, 2998574933])]),
], ids=["empty result", "basic", "two measurements", "db in query", "epoch"])
def test_query_api_v1_query_json_format(module_server, db, epoch, q, expected):
    write_lp(module_server, "q_v1j", V1_FORMAT_LP)
    params = {"q": q, **({"db": db} if db else {}), **({"epoch": epoch} if epoch else {})}
    body = api(module_server, "GET", "/query", params=params).json()
    if isinstance(expected, list):
        usage = {"cpu": [0.9, 0.89, 0.85], "mem": [0.5, 0.6, 0.7]}
        expected = {"results": [{"statement_id": 0, "series": [
            {"name": name, "columns": ["time", "host", "usage"],
             "values": [[t, "a", u] for t, u in zip(times, usage[name], strict=True)]}
            for name, times in expected]}]}
    assert body == expected


@pytest.mark.differs("upstream 3 ends a CSV answer with an extra `\\r\\n` and lists `mem` before "
                     "`cpu`; timewell writes InfluxDB 1.x's bytes (checked against a real 1.x by "
                     "tests/e2e/test_influxql_vs_influxdb1.py::test_csv): no trailer, series in "
                     "name order")
@pytest.mark.parametrize("db, epoch, q, rows", [
    ("q_v1csv", None, "SELECT time, host, usage FROM cpu",
     [f"cpu,,{t},a,{u}" for t, u in zip(CPU_NS, ("0.9", "0.89", "0.85"), strict=True)]),
    ("q_v1csv", None, "SELECT time, host, usage FROM cpu, mem",
     [f"cpu,,{t},a,{u}" for t, u in zip(CPU_NS, ("0.9", "0.89", "0.85"), strict=True)]
     + [f"mem,,{t},a,{u}" for t, u in zip(MEM_NS, ("0.5", "0.6", "0.7"), strict=True)]),
    (None, None, "SELECT time, host, usage FROM q_v1csv.autogen.cpu",
     [f"cpu,,{t},a,{u}" for t, u in zip(CPU_NS, ("0.9", "0.89", "0.85"), strict=True)]),
    ("q_v1csv", "s", "SELECT time, host, usage FROM cpu",
     [f"cpu,,{t // 10**9},a,{u}" for t, u in zip(CPU_NS, ("0.9", "0.89", "0.85"),
                                                    strict=True)]),
], ids=["basic", "two measurements", "db in query", "epoch"])
def test_query_api_v1_query_csv_format(module_server, db, epoch, q, rows):
    write_lp(module_server, "q_v1csv", V1_FORMAT_LP)
    params = {"q": q, **({"db": db} if db else {}), **({"epoch": epoch} if epoch else {})}
    response = api(module_server, "GET", "/query", params=params,
                   headers={"Accept": "application/csv"})
    assert response.text == "\n".join(["name,tags,time,host,usage", *rows]) + "\n"


def _v1_lines(server, db: str, q: str, chunked: bool) -> list[dict]:
    """Every JSON document of a v1 answer (one per chunk when chunked)."""
    params = {"db": db, "q": q, "chunked": "true" if chunked else "false"}
    with httpx.stream("GET", f"{server.url}/query", params=params, timeout=30) as r:
        text = r.read().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _grouped(name: str, groups: list[tuple[dict, list[str], list[list]]],
             chunked: bool) -> list[dict]:
    """The expected answer: one series per group, in one document or one per chunk."""
    series = [{"name": name, **({"tags": tags} if tags else {}), "columns": columns,
               "values": values} for tags, columns, values in groups]
    if not chunked:
        return [{"results": [{"statement_id": 0, "series": series}]}]
    return [{"results": [{"statement_id": 0, "series": [s],
                          **({"partial": True} if i < len(series) - 1 else {})}]}
            for i, s in enumerate(series)]


T1, T2, T3, T4 = (f"2065-01-07T17:28:5{i}Z" for i in range(1, 5))
BY_T1 = [({"t1": "a"}, ["time", "t2", "val"], [[T1, "aa", 1], [T3, "bb", 3]]),
         ({"t1": "b"}, ["time", "t2", "val"], [[T2, "aa", 2], [T4, "bb", 4]])]
BY_T1_ONLY = [({"t1": "a"}, ["time", "val"], [[T1, 1], [T3, 3]]),
              ({"t1": "b"}, ["time", "val"], [[T2, 2], [T4, 4]])]
BY_T1_T2 = [({"t1": t1, "t2": t2}, ["time", "val"], [[t, v]])
            for t1, t2, t, v in (("a", "aa", T1, 1), ("a", "bb", T3, 3), ("b", "aa", T2, 2),
                                 ("b", "bb", T4, 4))]


CHUNKED_DIFFERS = pytest.mark.differs(
    "upstream's chunked snapshots have no `partial`; timewell marks every chunk but a result's "
    "last `partial: true`, as InfluxDB 1.x (tests/e2e/test_influxql_vs_influxdb1.py::"
    "test_chunked)")
CHUNKED = [False, pytest.param(True, marks=CHUNKED_DIFFERS)]


@pytest.mark.parametrize("chunked", CHUNKED, ids=["unchunked", "chunked"])
@pytest.mark.parametrize("group_by, groups", [
    ("t1", BY_T1),
    ("t1, t2", BY_T1_T2),
    ("/t/", BY_T1_T2),
    ("/t[1]/", BY_T1_ONLY),  # a regex among the dimensions: `*` expands to fields only
    ("/t[1,2]/", BY_T1_T2),
    ("t1, t2, t3", [({**tags, "t3": ""}, columns, values) for tags, columns, values in BY_T1_T2]),
    ("*", BY_T1_T2),
    ("/not_a_match/", [({}, ["time", "val"], [[T1, 1], [T2, 2], [T3, 3], [T4, 4]])]),
])
def test_query_api_v1_query_group_by(module_server, group_by, groups, chunked):
    """Upstream's 16 snapshots (`api_v1_query_group_by-*.snap`, newest versions: 1.x's RFC 3339
    times, series in tag order)."""
    write_lp(module_server, "q_v1g", "bar,t1=a,t2=aa val=1 2998574931\n"
                                     "bar,t1=b,t2=aa val=2 2998574932\n"
                                     "bar,t1=a,t2=bb val=3 2998574933\n"
                                     "bar,t1=b,t2=bb val=4 2998574934")
    q = f"select * from bar group by {group_by}"
    assert _v1_lines(module_server, "q_v1g", q, chunked) == _grouped("bar", groups, chunked)


@pytest.mark.parametrize("chunked", CHUNKED, ids=["unchunked", "chunked"])
def test_query_api_v1_query_group_by_with_nulls(module_server, chunked):
    """A series without the tag is grouped under `t1: ""`, first."""
    write_lp(module_server, "q_v1gn", "bar,t1=a val=1 2998574931\nbar val=2 2998574932\n"
                                      "bar,t1=a val=3 2998574933")
    expected = _grouped("bar", [({"t1": ""}, ["time", "val"], [[T2, 2]]),
                                ({"t1": "a"}, ["time", "val"], [[T1, 1], [T3, 3]])], chunked)
    assert _v1_lines(module_server, "q_v1gn", "select * from bar group by t1", chunked) == expected


def _chunk(name: str, values: list) -> dict:
    return {"results": [{"series": [{"name": name, "columns": ["time", "host", "usage"],
                                     "values": values}], "statement_id": 0}]}


@pytest.mark.differs(V1_DIFFERS)
@pytest.mark.parametrize("chunk_size, q, expected", [
    (None, "SELECT * FROM cpu", [_chunk("cpu", [[1, "a", 0.9], [2, "a", 0.89], [3, "a", 0.85]])]),
    ("2", "SELECT * FROM cpu", [_chunk("cpu", [[1, "a", 0.9], [2, "a", 0.89]]),
                                _chunk("cpu", [[3, "a", 0.85]])]),
    (None, "SELECT * FROM cpu, mem", [
        _chunk("cpu", [[1, "a", 0.9], [2, "a", 0.89], [3, "a", 0.85]]),
        _chunk("mem", [[4, "a", 0.5], [5, "a", 0.6], [6, "a", 0.7]])]),
    ("2", "SELECT * FROM cpu, mem", [
        _chunk("cpu", [[1, "a", 0.9], [2, "a", 0.89]]), _chunk("cpu", [[3, "a", 0.85]]),
        _chunk("mem", [[4, "a", 0.5], [5, "a", 0.6]]), _chunk("mem", [[6, "a", 0.7]])]),
], ids=["default", "chunk_size 2", "two measurements", "two measurements chunk_size 2"])
def test_query_api_v1_query_chunked(module_server, chunk_size, q, expected):
    write_lp(module_server, "q_v1c", V1_LP)
    params = {"db": "q_v1c", "q": q, "epoch": "s", "chunked": "true"}
    if chunk_size:
        params["chunk_size"] = chunk_size
    with httpx.stream("GET", f"{module_server.url}/query", params=params, timeout=30) as r:
        text = r.read().decode()
    chunks = [json.loads(line) for line in text.splitlines() if line.strip()]
    for chunk in chunks:  # 1.x marks every chunk but a result's last as partial
        for result in chunk["results"]:
            result.pop("partial", None)
            for series in result.get("series", []):
                series.pop("partial", None)
    assert chunks == expected


# -- tests added in newer versions of upstream's query.rs

T8 = "\n".join(f"cpu,host={h},region=us-east usage={u} {2998574931 + t}"
               for t, pair in enumerate([(0.9, 0.5), (0.8, 0.6), (0.7, 0.7), (0.5, 0.8)])
               for h, u in zip("ab", pair, strict=True))
T8_ROWS = [(h, t, u) for t, pair in enumerate([(0.9, 0.5), (0.8, 0.6), (0.7, 0.7), (0.5, 0.8)])
           for h, u in zip("ab", pair, strict=True)]


def test_query_api_v3_query_sql_not_found(module_server):
    response = api(module_server, "GET", "/api/v3/query_sql",
                   params={"q": "SELECT * FROM foo", "format": "pretty", "db": "nf_nodb"})
    assert response.status_code == 404


V1_NOT_FOUND = ("upstream answers a v1 /query on an unknown database with 404; timewell answers "
                "as InfluxDB 1.x does, 200 with the error in the statement's result, which is "
                "what 1.x clients read")


@pytest.mark.differs(V1_NOT_FOUND)
def test_query_api_v1_query_sql_not_found(module_server):
    response = api(module_server, "GET", "/query",
                   params={"q": "SELECT * FROM foo", "format": "pretty", "db": "nf_nodb"})
    assert response.status_code == 200  # upstream: 404
    assert response.json() == {"results": [{"statement_id": 0,
                                            "error": "database not found: nf_nodb"}]}


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.differs("no `_internal` database in SHOW DATABASES / SHOW RETENTION POLICIES")
def test_query_api_v3_query_json_and_jsonl_format(make_module_server, fmt):
    """Upstream's `api_v3_query_json_format` and `api_v3_query_jsonl_format`."""
    module_server = make_module_server()  # its own: SHOW DATABASES lists every database
    write_lp(module_server, "q_fmt", T8)
    cases = [
        ("SELECT time, host, region, usage FROM cpu",
         [{"iox::measurement": "cpu", "time": f"2065-01-07T17:28:5{1 + t}", "host": h,
           "region": "us-east", "usage": u} for h, t, u in T8_ROWS]),
        ("SHOW MEASUREMENTS", [{"iox::measurement": "measurements", "name": "cpu"}]),
        ("SHOW FIELD KEYS", [{"iox::measurement": "cpu", "fieldKey": "usage",
                              "fieldType": "float"}]),
        ("SHOW TAG KEYS", [{"iox::measurement": "cpu", "tagKey": "host"},
                           {"iox::measurement": "cpu", "tagKey": "region"}]),
        # upstream also lists `_internal` in these two (see ..._influxql_without_db)
        ("SHOW DATABASES", [{"iox::database": "q_fmt", "deleted": False}]),
        ("SHOW RETENTION POLICIES", [{"iox::database": "q_fmt", "name": "autogen"}]),
    ]
    for q, expected in cases:
        response = api(module_server, "GET", "/api/v3/query_influxql",
                       params={"db": "q_fmt", "q": q, "format": fmt})
        if fmt == "json":
            assert response.json() == expected, q
        else:
            assert response.text == "".join(json.dumps(r, separators=(",", ":")) + "\n"
                                            for r in expected), q


def test_query_api_v3_query_sql_distinct_cache(module_server):
    s = module_server
    write_lp(s, "q_dc", "cpu,region=us,host=a usage=99")
    assert api(s, "POST", "/api/v3/configure/distinct_cache",
               json={"db": "q_dc", "table": "cpu", "columns": ["region", "host"]}).is_success
    write_lp(s, "q_dc", "cpu,region=us,host=a usage=99\ncpu,region=eu,host=b usage=99\n"
                        "cpu,region=ca,host=c usage=99\n")
    q = "SELECT * FROM distinct_cache('cpu')"
    assert api(s, "GET", "/api/v3/query_sql",
               params={"db": "q_dc", "format": "pretty", "q": q}).text == table(
        "+--------+------+", "| region | host |", "+--------+------+", "| ca     | c    |",
        "| eu     | b    |", "| us     | a    |", "+--------+------+")
    assert api(s, "GET", "/api/v3/query_sql", params={"db": "q_dc", "q": q}).json() == [
        {"region": "ca", "host": "c"}, {"region": "eu", "host": "b"},
        {"region": "us", "host": "a"}]


def test_query_api_v3_query_null_tag_values_null_fields(module_server):
    s = module_server
    write_lp(s, "q_null", "cpu,host=a,region=us-east usage=0.9,system=0.1 2998674931\n"
                          "            cpu,host=b usage=0.80,system=0.1 2998674934")
    q = {"db": "q_null", "format": "pretty"}
    assert api(s, "GET", "/api/v3/query_sql", params={
        **q, "q": "SELECT host, region, time, usage FROM cpu ORDER BY time"}).text == table(
        "+------+---------+---------------------+-------+",
        "| host | region  | time                | usage |",
        "+------+---------+---------------------+-------+",
        "| a    | us-east | 2065-01-08T21:15:31 | 0.9   |",
        "| b    |         | 2065-01-08T21:15:34 | 0.8   |",
        "+------+---------+---------------------+-------+")
    write_lp(s, "q_null", "cpu,host=a,region=us-east usage=0.9 2998674935")
    assert api(s, "GET", "/api/v3/query_sql", params={
        **q, "q": "SELECT * FROM cpu ORDER BY time"}).text == table(
        "+------+---------+--------+---------------------+-------+",
        "| host | region  | system | time                | usage |",
        "+------+---------+--------+---------------------+-------+",
        "| a    | us-east | 0.1    | 2065-01-08T21:15:31 | 0.9   |",
        "| b    |         | 0.1    | 2065-01-08T21:15:34 | 0.8   |",
        "| a    | us-east |        | 2065-01-08T21:15:35 | 0.9   |",
        "+------+---------+--------+---------------------+-------+")


def test_query_api_query_with_default_browser_header(module_server):
    s = module_server
    write_lp(s, "q_browser", "cpu,region=us,host=a usage=99 2998674934")
    response = api(s, "GET", "/api/v3/query_sql",
                   params={"db": "q_browser", "format": "pretty", "q": "SELECT * FROM cpu"},
                   headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,"
                                      "*/*;q=0.8"})
    assert response.text == table(
        "+------+--------+---------------------+-------+",
        "| host | region | time                | usage |",
        "+------+--------+---------------------+-------+",
        "| a    | us     | 2065-01-08T21:15:34 | 99.0  |",
        "+------+--------+---------------------+-------+")


@pytest.mark.differs("timewell has more system tables than upstream (processing_engine_"
                     "trigger_arguments, plugin_files, databases, tables and others, contract "
                     "section 4) and no information_schema.df_settings; the order is upstream's")
def test_query_api_v3_query_show_tables_ordering(module_server):
    s = module_server
    for name in ("xxx", "table_002", "table_009", "table_001", "table_003", "table_006", "aaa"):
        # no `create database` first: creating a table creates its database, as upstream
        assert api(s, "POST", "/api/v3/configure/table",
                   json={"db": "q_order", "table": name, "tags": [], "fields": []}
                   ).status_code == 200
    rows = api(s, "GET", "/api/v3/query_sql", params={"db": "q_order", "q": "SHOW TABLES"}).json()
    iox = [r["table_name"] for r in rows if r["table_schema"] == "iox"]
    assert iox == ["aaa", "table_001", "table_002", "table_003", "table_006", "table_009", "xxx"]
    assert [r["table_schema"] for r in rows][:7] == ["iox"] * 7
    system = [r["table_name"] for r in rows if r["table_schema"] == "system"]
    assert {"distinct_caches", "last_caches", "parquet_files", "processing_engine_logs",
            "processing_engine_triggers", "queries"} <= set(system)
    assert [r["table_schema"] for r in rows] == sorted(
        (r["table_schema"] for r in rows), key=["iox", "system", "information_schema"].index)
    assert system == sorted(system)
    views = [r["table_name"] for r in rows if r["table_schema"] == "information_schema"]
    assert views == ["tables", "views", "columns", "schemata"]  # upstream also: df_settings


@pytest.mark.differs("without `epoch`, upstream's newest v1 /query writes times as nanosecond "
                     "strings ('2998574930000000000'); timewell writes RFC 3339 as InfluxDB 1.x "
                     "does, so the values are compared with epoch=ns, where both agree")
def test_query_api_v1_query_data_conversion(module_server):
    s = module_server
    write_lp(s, "q_conv", "weather,location=us-midwest temperature_integer=82i 2998574930\n"
                          "weather,location=us-midwest temperature_float=82 2998574930\n"
                          'weather,location=us-midwest temperature_str="too warm" 2998574930\n'
                          "weather,location=us-midwest too_hot=true 2998574930")
    body = api(s, "GET", "/query", params={
        "db": "q_conv", "epoch": "ns",
        "q": "SELECT time, location, temperature_integer, temperature_float, temperature_str, "
             "too_hot FROM weather"}).json()
    series = body["results"][0]["series"][0]
    assert series["columns"] == ["time", "location", "temperature_integer",
                                 "temperature_float", "temperature_str", "too_hot"]
    assert series["values"] == [[2998574930000000000, "us-midwest", 82, 82.0, "too warm", True]]


@pytest.mark.differs(V1_NOT_FOUND)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_query_api_v1_query_uri_and_body(module_server, method):
    s = module_server
    write_lp(s, "q_ub", "cpu,host=a usage=0.9 2998674931\ncpu,host=b usage=0.89 2998674931\n"
                        "mem,host=a usage=0.5 2998674932")
    cases = [
        ({"q": "SELECT * FROM cpu", "db": "q_ub"}, None, 200),
        ({"q": "SELECT * FROM cpu"}, {"db": "q_ub"}, 200),
        ({"q": "SELECT * FROM cpu", "db": "not_a_valid_db"}, {"db": "q_ub"}, 200),
        ({"q": "SELECT * FROM cpu", "db": "q_ub"}, {"db": "not_a_valid_db"}, 200),  # 404
        ({"db": "q_ub"}, {"q": "SELECT * FROM mem"}, 200),
        ({"db": "q_ub"}, {}, 400),
    ]
    for uri, body, expected in cases:
        if method == "GET" and body:
            continue  # a GET carries no form body
        response = httpx.request(method, f"{s.url}/query", params=uri,
                                 data=body if body is not None else None, timeout=30)
        assert response.status_code == expected, (uri, body, response.text)


@pytest.mark.differs(
    "upstream's error reads 'invalid InfluxQL statement' and its series come b before a; "
    "timewell's /query answers as InfluxDB 1.x: 400 'error parsing query: found NAME, expected "
    "identifier, ...' and series in tag-value order (a, b)")
def test_query_test_influxql_group_by_tag_called_name(module_server):
    s = module_server
    write_lp(s, "q_name", "bar,name=a,label=a value=1 1743693748\n"
                          "bar,name=b,label=a value=2 1743693748\n"
                          "bar,name=a,label=b value=3 1743693748\n"
                          "bar,name=b,label=b value=4 1743693748\n")
    # `name` is a reserved word (in 1.x and upstream): unquoted it is refused
    unquoted = api(s, "GET", "/query", params={
        "db": "q_name", "q": "SELECT time, name, label, value FROM bar GROUP BY name LIMIT 1"})
    assert unquoted.status_code == 400
    assert unquoted.json() == {"error": "error parsing query: found NAME, expected identifier, "
                                        "string, number, bool at line 1, char 14"}
    for group in ("label", '"name"'):
        body = api(s, "GET", "/query", params={
            "db": "q_name",
            "q": f'SELECT time, "name", label, value FROM bar GROUP BY {group} LIMIT 1'}).json()
        key = group.strip('"')
        tags = [series["tags"][key] for series in body["results"][0]["series"]]
        assert tags == ["a", "b"], body
