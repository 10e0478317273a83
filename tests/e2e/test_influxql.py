"""InfluxQL over HTTP: v1 `/query` (JSON, CSV, chunked, epoch) and v3 `/api/v3/query_influxql`."""

from __future__ import annotations

import httpx
import pytest

LP = """\
cpu,host=a,region=us usage=1.5,idle=10i 1700000000000000000
cpu,host=b,region=eu usage=2.5,idle=20i 1700000030000000000
cpu,host=a,region=us usage=3.5,idle=30i 1700000070000000000
cpu,host=b usage=4,idle=40i 1700000200000000000
cpu,host=a idle=50i 1700000260000000000
mem,host=a free=100i,used=3.25 1700000010000000000
"""


@pytest.fixture(scope="module")
def db(shared_server):
    assert shared_server.write(LP, db="iql").status_code == 204
    return shared_server


def v1(server, q: str, method: str = "GET", headers=None, **params) -> httpx.Response:
    if method == "POST":
        return httpx.post(f"{server.url}/query", params={"db": "iql", **params}, data={"q": q},
                          headers=headers)
    return httpx.get(f"{server.url}/query", params={"db": "iql", "q": q, **params},
                     headers=headers)


def test_v1_raw_select(db):
    assert v1(db, "SELECT * FROM cpu WHERE host = 'b'").json() == {"results": [{
        "statement_id": 0, "series": [{
            "name": "cpu", "columns": ["time", "host", "idle", "region", "usage"],
            "values": [["2023-11-14T22:13:50Z", "b", 20, "eu", 2.5],
                       ["2023-11-14T22:16:40Z", "b", 40, None, 4]]}]}]}


def test_v1_group_by_time_and_tags_with_epoch(db):
    response = v1(db, "SELECT count(usage) FROM cpu WHERE time >= 1700000000s AND "
                      "time < 1700000180s GROUP BY time(1m), host fill(none)", epoch="s")
    assert response.json()["results"][0]["series"] == [
        {"name": "cpu", "tags": {"host": "a"}, "columns": ["time", "count"],
         "values": [[1699999980, 1], [1700000040, 1]]},
        {"name": "cpu", "tags": {"host": "b"}, "columns": ["time", "count"],
         "values": [[1699999980, 1]]},
    ]


def test_v1_post_form_and_several_statements(db):
    response = v1(db, "SHOW MEASUREMENTS; SHOW FIELD KEYS FROM mem", method="POST")
    assert response.json() == {"results": [
        {"statement_id": 0, "series": [{"name": "measurements", "columns": ["name"],
                                         "values": [["cpu"], ["mem"]]}]},
        {"statement_id": 1, "series": [{"name": "mem", "columns": ["fieldKey", "fieldType"],
                                         "values": [["free", "integer"], ["used", "float"]]}]},
    ]}


def test_v1_show_statements(db):
    assert v1(db, 'SHOW TAG VALUES FROM cpu WITH KEY = "host"').json()["results"][0][
        "series"] == [{"name": "cpu", "columns": ["key", "value"],
                       "values": [["host", "a"], ["host", "b"]]}]
    assert v1(db, "SHOW TAG KEYS FROM cpu").json()["results"][0]["series"][0]["values"] == [
        ["host"], ["region"]]
    assert "iql" in [row[0] for row in
                     v1(db, "SHOW DATABASES").json()["results"][0]["series"][0]["values"]]
    assert v1(db, "SHOW RETENTION POLICIES").json()["results"][0]["series"][0]["values"] == [
        ["autogen", "0s", "168h0m0s", 1, True]]


def test_v1_bound_parameters(db):
    response = v1(db, "SELECT usage FROM cpu WHERE host = $h AND usage > $min",
                  params='{"h": "a", "min": 2}')
    assert response.json()["results"][0]["series"][0]["values"] == [
        ["2023-11-14T22:14:30Z", 3.5]]


def test_v1_csv(db):
    response = v1(db, "SELECT usage FROM cpu WHERE host = 'b'",
                  headers={"Accept": "application/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text == ("name,tags,time,usage\n"
                             "cpu,,1700000030000000000,2.5\ncpu,,1700000200000000000,4\n")


def test_v1_chunked(db):
    response = v1(db, "SELECT usage FROM cpu", chunked="true", chunk_size="3")
    chunks = [httpx.Response(200, content=line).json() for line in response.text.splitlines()]
    assert [len(c["results"][0]["series"][0]["values"]) for c in chunks] == [3, 1]
    assert chunks[0]["results"][0]["partial"] is True
    assert "partial" not in chunks[1]["results"][0]


def test_v1_errors(db):
    response = v1(db, "SELEC 1")
    assert response.status_code == 400
    assert response.json()["error"].startswith("error parsing query: found SELEC")
    assert v1(db, "GRANT ALL TO bob").json() == {"results": [{
        "statement_id": 0, "error": "the InfluxQL statement GRANT ALL is not supported"}]}
    deleted = v1(db, "DELETE FROM cpu WHERE time < now() - 30d").json()["results"][0]["error"]
    assert deleted.startswith("the InfluxQL statement DELETE is not supported: timewell "
                              "deletes whole measurements (DROP MEASUREMENT)")
    assert v1(db, "SELECT usage FROM cpu", db="nope").json() == {"results": [{
        "statement_id": 0, "error": "database not found: nope"}]}
    assert httpx.get(f"{db.url}/query").status_code == 400


def test_v3_influxql_adds_the_measurement_column(db):
    response = httpx.post(f"{db.url}/api/v3/query_influxql",
                          json={"db": "iql", "q": "SELECT mean(usage) FROM cpu GROUP BY host"})
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"iox::measurement": "cpu", "time": "1970-01-01T00:00:00", "host": "a", "mean": 2.5},
        {"iox::measurement": "cpu", "time": "1970-01-01T00:00:00", "host": "b", "mean": 3.25},
    ]
    response = httpx.get(f"{db.url}/api/v3/query_influxql",
                         params={"db": "iql", "q": "SHOW MEASUREMENTS", "format": "csv"})
    assert response.text == "iox::measurement,name\nmeasurements,cpu\nmeasurements,mem\n"


def test_v3_influxql_errors(db):
    url = f"{db.url}/api/v3/query_influxql"
    assert httpx.post(url, json={"db": "nope", "q": "SELECT x FROM cpu"}).status_code == 404
    response = httpx.post(url, json={"db": "iql", "q": "SELECT mean(usage), idle FROM cpu"})
    assert response.status_code == 400
    assert "mixing aggregate" in response.json()["error"]
    assert httpx.post(url, json={"db": "iql", "q": "SELEC"}).status_code == 400
