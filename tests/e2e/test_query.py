"""SQL over HTTP: formats, parameters, SHOW, information_schema and system tables."""

from __future__ import annotations

import io

import httpx
import pyarrow.parquet as pq
import pytest

LP = "cpu,host=a,region=eu usage=1.5,n=1i 1704067200000000000\n" \
     "cpu,host=b,region=us usage=2.5 1704067201500000000"


@pytest.fixture
def loaded(server):
    assert server.write(LP).status_code == 204
    return server


def test_json_omits_nulls_and_formats_time(loaded):
    assert loaded.rows("SELECT * FROM cpu ORDER BY host") == [
        {"host": "a", "n": 1, "region": "eu", "time": "2024-01-01T00:00:00", "usage": 1.5},
        {"host": "b", "region": "us", "time": "2024-01-01T00:00:01.500", "usage": 2.5},
    ]


def test_jsonl(loaded):
    response = loaded.query("SELECT host FROM cpu ORDER BY host", fmt="jsonl")
    assert response.headers["content-type"].startswith("application/jsonl")
    assert response.text == '{"host":"a"}\n{"host":"b"}\n'


def test_csv(loaded):
    response = loaded.query("SELECT host, usage, n FROM cpu ORDER BY host", fmt="csv")
    assert response.text == "host,usage,n\na,1.5,1\nb,2.5,\n"


def test_pretty(loaded):
    text = loaded.query("SELECT host, usage FROM cpu ORDER BY host", fmt="pretty").text
    assert text == ("+------+-------+\n| host | usage |\n+------+-------+\n"
                    "| a    | 1.5   |\n| b    | 2.5   |\n+------+-------+")


def test_parquet(loaded):
    response = loaded.query("SELECT host, usage FROM cpu ORDER BY host", fmt="parquet")
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column("usage").to_pylist() == [1.5, 2.5]


@pytest.mark.parametrize("accept, expected", [
    ("text/csv", "text/csv"), ("application/jsonl", "application/jsonl"),
    ("text/plain", "text/plain"), ("*/*", "application/json"),
])
def test_accept_header_picks_format(loaded, accept, expected):
    response = httpx.get(f"{loaded.url}/api/v3/query_sql",
                         params={"db": "test", "q": "SELECT host FROM cpu"},
                         headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(expected)


def test_get_with_params(loaded):
    response = httpx.get(f"{loaded.url}/api/v3/query_sql", params={
        "db": "test", "q": "SELECT usage FROM cpu WHERE host = $h", "params": '{"h": "b"}'})
    assert response.json() == [{"usage": 2.5}]


def test_post_with_params(loaded):
    assert loaded.rows("SELECT host FROM cpu WHERE usage > $min AND region = $r",
                       params={"min": 1, "r": "us"}) == [{"host": "b"}]


def test_single_quoted_table_name_and_iox_schema(loaded):
    assert loaded.rows("SELECT count(*) AS c FROM 'cpu'") == [{"c": 2}]
    assert loaded.rows("SELECT count(*) AS c FROM iox.cpu") == [{"c": 2}]


def test_show_tables(loaded):
    rows = loaded.rows("SHOW TABLES")
    assert {"table_catalog": "public", "table_schema": "iox", "table_name": "cpu",
            "table_type": "BASE TABLE"} in rows
    assert any(r["table_schema"] == "system" and r["table_name"] == "queries" for r in rows)
    assert any(r["table_schema"] == "information_schema" for r in rows)


def test_show_columns_and_information_schema_spellings(loaded):
    cols = loaded.rows("SHOW COLUMNS FROM cpu")
    assert [(c["column_name"], c["data_type"]) for c in cols] == [
        ("host", "Dictionary(Int32, Utf8)"), ("n", "Int64"), ("region", "Dictionary(Int32, Utf8)"),
        ("time", "Timestamp(Nanosecond, None)"), ("usage", "Float64")]
    rows = loaded.rows("SELECT column_name FROM information_schema.columns "
                       "WHERE table_name = 'cpu' AND data_type = 'Timestamp(Nanosecond, None)'")
    assert rows == [{"column_name": "time"}]


def test_time_functions(loaded):
    rows = loaded.rows("SELECT date_bin(INTERVAL '1 hour', time) AS hour, avg(usage) AS u "
                       "FROM cpu WHERE time >= '2024-01-01T00:00:00Z' GROUP BY 1")
    assert rows == [{"hour": "2024-01-01T00:00:00", "u": 2.0}]
    rows = loaded.rows("SELECT first_value(usage ORDER BY time) AS f, approx_median(usage) AS m "
                       "FROM cpu")
    assert rows[0]["f"] == 1.5
    assert loaded.rows("SELECT to_timestamp_nanos(0) AS t, "
                       "arrow_cast(1, 'Int32') AS i") == [{"t": "1970-01-01T00:00:00", "i": 1}]


def test_system_tables(loaded):
    loaded.rows("SELECT 1 AS marker_query")
    queries = loaded.rows("SELECT query_text, success FROM system.queries")
    assert {"query_text": "SELECT 1 AS marker_query", "success": True} in queries
    tables = loaded.rows("SELECT table_name, row_count FROM system.tables")
    assert tables == [{"table_name": "cpu", "row_count": 2}]
    dbs = loaded.rows("SELECT database_name FROM system.databases")
    assert {"database_name": "test"} in dbs


def test_internal_has_the_server_wide_system_tables_only(loaded):
    """`_internal`: the server-wide system tables answer; one database's tables (its caches,
    its triggers) are a 404 that says where to query them."""
    assert {"database_name": "test"} in loaded.rows(
        "SELECT database_name FROM system.databases", db="_internal")
    response = loaded.query("SELECT * FROM system.last_caches", db="_internal")
    assert response.status_code == 404
    assert response.json()["error"].startswith(
        "system.last_caches lists one database's last caches: query it in that database")


def test_query_without_tables_on_existing_empty_db(server):
    httpx.post(f"{server.url}/api/v3/configure/database", json={"db": "bare"})
    assert server.rows("SELECT 1 AS one", db="bare") == [{"one": 1}]


def test_empty_created_table_is_queryable(server):
    httpx.post(f"{server.url}/api/v3/configure/database", json={"db": "d"})
    httpx.post(f"{server.url}/api/v3/configure/table",
               json={"db": "d", "table": "t", "tags": ["h"], "fields": [
                   {"name": "v", "type": "int64"}]})
    assert server.rows("SELECT * FROM t", db="d") == []
    assert server.write("t,h=x v=1i 1", db="d").status_code == 204
    assert server.write("t,h=x v=1.5 2", db="d").status_code == 400  # types fixed by create


def test_contradictory_filter_and_duration_columns(loaded):
    assert loaded.rows("SELECT * FROM cpu WHERE usage = 1 AND usage = 2") == []
    assert loaded.rows("SELECT * FROM cpu WHERE host = 'a' AND host = 'b'") == []
    rows = loaded.rows("SELECT end2end_duration FROM system.queries WHERE success")
    assert rows and all(isinstance(r["end2end_duration"], int) for r in rows)
