"""Upstream `influxdb3/tests/server/client.rs`: the requests the `influxdb3_client` crate makes,
and that the server's answers parse (here: are what that client expects)."""

from __future__ import annotations

from tests.conformance.conftest import api


def test_client_write_and_query(module_server):
    s = module_server
    response = api(s, "POST", "/api/v3/write_lp",
                   params={"db": "cl_foo", "precision": "nanosecond", "accept_partial": "false"},
                   content=b"bar,t1=a,t2=aa f1=123")
    assert response.status_code == 204
    json_rows = api(s, "GET", "/api/v3/query_sql",
                    params={"db": "cl_foo", "q": "SELECT * FROM bar", "format": "json"})
    assert json_rows.status_code == 200 and json_rows.json()[0]["f1"] == 123.0
    csv_rows = api(s, "GET", "/api/v3/query_influxql",
                   params={"db": "cl_foo", "q": "SELECT * FROM bar", "format": "csv"})
    assert csv_rows.status_code == 200
    assert csv_rows.text.splitlines()[0] == "iox::measurement,time,f1,t1,t2"


def test_client_configure_last_caches(module_server):
    s, url = module_server, "/api/v3/configure/last_cache"
    assert api(s, "POST", "/api/v3/write_lp", params={"db": "cl_lc", "accept_partial": "false"},
               content=b"bar,t1=a,t2=aa f1=123").status_code == 204
    for extra in ({}, {"value_columns": ["f1"]}):
        created = api(s, "POST", url, json={"db": "cl_lc", "table": "bar", **extra})
        assert created.status_code == 201  # LastCacheCreatedResponse: the cache's description
        name = created.json()["name"]
        assert api(s, "DELETE", url, params={"db": "cl_lc", "table": "bar",
                                             "name": name}).status_code == 200
