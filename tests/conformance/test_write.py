"""Upstream `influxdb3/tests/server/write.rs`: the v1, v2 and v3 write endpoints."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import api, query_influxql, query_sql, write_lp

V2_REJECTED = {"code": "invalid", "message": "write buffer error: parsing for line protocol failed"}


@pytest.mark.parametrize("db, precision, rp, expected", [
    (None, None, None, 400), ("foo", None, None, 204), ("foo", "s", None, 204),
    ("foo", "ms", None, 204), ("foo", "u", "autogen", 204), ("foo", "us", None, 204),
    ("foo", "n", "autogen", 204), ("foo", "ns", None, 204), ("foo", "invalid", None, 400),
    ("foo", None, "bar", 204), ("foo", None, "default", 204), ("foo", None, "autogen", 204)])
def test_write_api_v1_write_request_parsing(module_server, db, precision, rp, expected):
    params = {k: v for k, v in {"db": db, "rp": rp, "precision": precision}.items() if v}
    response = api(module_server, "POST", "/write", params=params,
                   content=b"cpu,host=a usage=0.5")
    assert response.status_code == expected, response.text


ROUND_TRIP = "\n".join([
    "+------------------+---------------------+------+-------+",
    "| iox::measurement | time                | host | usage |",
    "+------------------+---------------------+------+-------+",
    "| cpu              | 2065-01-07T17:28:51 | a    | 0.5   |",
    "| cpu              | 2065-01-07T17:28:52 | a    | 0.6   |",
    "| cpu              | 2065-01-07T17:28:53 | a    | 0.7   |",
    "+------------------+---------------------+------+-------+"])
BODY = (b"cpu,host=a usage=0.5 2998574931\n            cpu,host=a usage=0.6 2998574932\n"
        b"            cpu,host=a usage=0.7 2998574933")


def test_write_api_v1_write_round_trip(module_server):
    api(module_server, "POST", "/write", params={"db": "v1rt", "precision": "s"}, content=BODY)
    response = query_influxql(module_server, "SELECT time, host, usage FROM v1rt.autogen.cpu",
                              fmt="pretty")
    assert response.text == ROUND_TRIP


@pytest.mark.parametrize("org, bucket, precision, expected", [
    (None, None, None, 400), (None, "foo", None, 204), ("bar", "foo", None, 204),
    (None, "foo", "s", 204), (None, "foo", "ms", 204), (None, "foo", "us", 204),
    (None, "foo", "u", 204), (None, "foo", "n", 204), (None, "foo", "ns", 204)])
def test_write_api_v2_write_request_parsing(module_server, org, bucket, precision, expected):
    params = {k: v for k, v in {"bucket": bucket, "org": org, "precision": precision}.items()
              if v}
    response = api(module_server, "POST", "/api/v2/write", params=params,
                   content=b"cpu,host=a usage=0.5")
    assert response.status_code == expected, response.text


def test_write_api_v2_write_round_trip(module_server):
    api(module_server, "POST", "/api/v2/write", params={"bucket": "v2rt", "precision": "s"},
        content=BODY)
    response = query_influxql(module_server, "SELECT time, host, usage FROM v2rt.autogen.cpu",
                              fmt="pretty")
    assert response.text == ROUND_TRIP


def test_write_writes_with_different_schema_should_fail(module_server):
    write_lp(module_server, "schema_fail",
             "t0,t0_tag0=initTag t0_f0=0i\nt0,t0_tag0=initTag t0_f0=1i 2998574931")
    response = api(module_server, "POST", "/api/v3/write_lp",
                   params={"db": "schema_fail", "precision": "second"},
                   content=b"t0,t0_tag0=initTag t0_f0=0u 2998574930\n"
                           b"t0,t0_tag0=initTag t0_f0=1u 2998574931")
    assert response.status_code == 400


def test_write_api_no_sync_param(module_server):
    body = b"cpu,host=a usage=0.5"
    for path, params in (("/write", {"db": "nosync"}), ("/api/v2/write", {"bucket": "nosync"}),
                         ("/api/v3/write_lp", {"db": "nosync"})):
        response = api(module_server, "POST", path, params={**params, "no_sync": "true"},
                       content=body)
        assert response.status_code == 204, (path, response.text)


SPECIAL = (
    "metrics,normal_tag=value1,tag\\ with\\ spaces=value2,tag\\,with\\,commas=value3,"
    "tag\\=with\\=equals=value4,tag\\ with\\ spaces\\,and\\=all=value5 "
    "normal_field=1.0,field\\ with\\ spaces=42i,field\\,with\\,commas=\"test\","
    "field\\=with\\=equals=true,field\\ with\\ all\\,special\\=chars=100u 1\n"
    "metrics,normal_tag=value1,tag\\ with\\ spaces=value\\ with\\ spaces "
    "normal_field=2.0,field\\ with\\ spaces=84i 2")


def test_write_special_chars(module_server):
    """Upstream's snapshots `special_chars_query_results` and `special_chars_table_columns`:
    escaped spaces, commas and equals signs in tag and field keys and values."""
    write_lp(module_server, "special", SPECIAL)
    rows = query_sql(module_server, "special", "SELECT * FROM metrics ORDER BY time").json()
    assert rows == [
        {"field with all,special=chars": 100, "field with spaces": 42,
         "field,with,commas": "test", "field=with=equals": True, "normal_field": 1.0,
         "normal_tag": "value1", "tag with spaces": "value2", "tag with spaces,and=all": "value5",
         "tag,with,commas": "value3", "tag=with=equals": "value4",
         "time": "1970-01-01T00:00:01"},
        {"field with spaces": 84, "normal_field": 2.0, "normal_tag": "value1",
         "tag with spaces": "value with spaces", "time": "1970-01-01T00:00:02"}]
    columns = query_sql(module_server, "special",
                        "SELECT table_catalog, table_schema, table_name, column_name, data_type, "
                        "is_nullable FROM information_schema.columns "
                        "WHERE table_name = 'metrics' ORDER BY column_name").json()
    tag = "Dictionary(Int32, Utf8)"
    expected = [("field with all,special=chars", "UInt64"), ("field with spaces", "Int64"),
                ("field,with,commas", "Utf8"), ("field=with=equals", "Boolean"),
                ("normal_field", "Float64"), ("normal_tag", tag), ("tag with spaces", tag),
                ("tag with spaces,and=all", tag), ("tag,with,commas", tag),
                ("tag=with=equals", tag), ("time", "Timestamp(Nanosecond, None)")]
    assert columns == [
        {"column_name": name, "data_type": kind, "is_nullable": "NO" if name == "time" else "YES",
         "table_catalog": "public", "table_name": "metrics", "table_schema": "iox"}
        for name, kind in expected]


@pytest.mark.parametrize("accept_partial", [None, "true", "false"])
@pytest.mark.parametrize("body", [
    b"home,room=Sunroom temp=96 1735545600\nhome,room=Sunroom temp=\"hi\" 1735549200",
    b"vehicle,id=vwbus vel=0.0,distance=,status=\"STOPPED\""], ids=["schema", "parse"])
def test_write_v2_rejected_write_error_body(module_server, body, accept_partial):
    """The v2 error shape upstream's client libraries check (influxdb3-python, -csharp
    `WritePartialBatch_WithV2Api_*`, `WriteWithError`): a generic 400 `invalid`."""
    params = {"bucket": "v2err", "precision": "s"}
    if accept_partial:
        params["accept_partial"] = accept_partial
    response = api(module_server, "POST", "/api/v2/write", params=params, content=body)
    assert response.status_code == 400
    assert response.json() == V2_REJECTED
