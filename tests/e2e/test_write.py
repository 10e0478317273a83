"""Writes over the v3, v2 and v1 endpoints of a real server."""

from __future__ import annotations

import gzip

import httpx


def test_v3_write_then_query(server):
    response = server.write("cpu,host=a,region=eu usage=1.5,count=3i,ok=t,note=\"hi\" 1700000000")
    assert response.status_code == 204, response.text
    assert response.content == b""
    rows = server.rows("SELECT * FROM cpu")
    assert rows == [{"count": 3, "host": "a", "note": "hi", "ok": True, "region": "eu",
                     "time": "2023-11-14T22:13:20", "usage": 1.5}]


def test_all_five_field_types_keep_their_types(server):
    assert server.write("t f=1.0,i=-2i,u=3u,s=\"x\",b=false 1").status_code == 204
    rows = server.rows("SELECT arrow_typeof(f) AS f, arrow_typeof(i) AS i, arrow_typeof(u) AS u,"
                       " arrow_typeof(s) AS s, arrow_typeof(b) AS b FROM t")
    assert rows == [{"f": "Float64", "i": "Int64", "u": "UInt64", "s": "Utf8", "b": "Boolean"}]


def test_precision_parameter(server):
    for precision, ts in [("s", 1), ("ms", 1000), ("us", 1_000_000), ("ns", 1_000_000_000)]:
        assert server.write(f"p,prec={precision} v=1 {ts}", precision=precision).status_code == 204
    rows = server.rows("SELECT prec, time FROM p ORDER BY prec")
    assert {r["time"] for r in rows} == {"1970-01-01T00:00:01"}


def test_auto_precision_guesses_by_magnitude(server):
    lines = "\n".join([
        "a,unit=s v=1 1700000000",
        "a,unit=ms v=1 1700000000000",
        "a,unit=us v=1 1700000000000000",
        "a,unit=ns v=1 1700000000000000000",
    ])
    assert server.write(lines).status_code == 204
    rows = server.rows("SELECT DISTINCT time FROM a")
    assert rows == [{"time": "2023-11-14T22:13:20"}]


def test_missing_timestamp_uses_server_time(server):
    assert server.write("now_t v=1").status_code == 204
    rows = server.rows("SELECT count(*) AS n FROM now_t WHERE time > now() - interval '1 minute'")
    assert rows == [{"n": 1}]


def test_partial_write_reports_bad_lines_and_keeps_good_ones(server):
    body = "m v=1 1\nm v=oops 2\n\n# comment\nm v=3 3\nm,t= v=4 4"
    response = server.write(body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "partial write of line protocol occurred"
    assert [d["line_number"] for d in payload["data"]] == [2, 4]
    assert payload["data"][0]["original_line"] == "m v=oops 2"
    assert all(d["error_message"] for d in payload["data"])
    assert server.rows("SELECT v FROM m ORDER BY time") == [{"v": 1.0}, {"v": 3.0}]


def test_accept_partial_false_writes_nothing(server):
    response = server.write("n v=1 1\nn v=bad 2", accept_partial="false")
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "line protocol parsing error"
    assert payload["data"]["line_number"] == 2
    assert server.query("SELECT * FROM n").status_code == 404  # not even the database exists


def test_type_conflict_is_rejected_per_line(server):
    assert server.write("c v=1 1").status_code == 204
    response = server.write("c v=2i 2\nc v=3 3")
    assert response.status_code == 400
    data = response.json()["data"]
    assert data == [{"error_message": "invalid column type for column 'v', expected float64, "
                                      "got int64", "line_number": 1, "original_line": "c v=2i 2"}]
    assert server.rows("SELECT v FROM c ORDER BY time") == [{"v": 1.0}, {"v": 3.0}]


def test_type_conflict_within_one_body_first_line_wins(server):
    response = server.write("d x=1i 1\nd x=\"s\" 2\nd x=2i 3")
    assert response.status_code == 400
    assert [e["line_number"] for e in response.json()["data"]] == [2]
    assert server.rows("SELECT x FROM d ORDER BY time") == [{"x": 1}, {"x": 2}]


def test_tag_and_field_kinds_conflict(server):
    assert server.write("k,host=a v=1 1").status_code == 204
    response = server.write("k host=\"a\" 2")
    assert response.status_code == 400
    assert "expected tag, got utf8" in response.json()["data"][0]["error_message"]


def test_new_columns_are_added_and_old_rows_read_null(server):
    assert server.write("e a=1 1").status_code == 204
    assert server.write("e,host=x b=2i 2").status_code == 204
    assert server.rows("SELECT * FROM e ORDER BY time") == [
        {"a": 1.0, "time": "1970-01-01T00:00:01"},
        {"b": 2, "host": "x", "time": "1970-01-01T00:00:02"},
    ]


def test_gzip_body(server):
    body = gzip.compress(b"gz v=1 1\ngz v=2 2")
    response = httpx.post(f"{server.url}/api/v3/write_lp", params={"db": "test"}, content=body,
                          headers={"Content-Encoding": "gzip"})
    assert response.status_code == 204
    assert server.rows("SELECT count(*) AS n FROM gz") == [{"n": 2}]


def test_no_sync_write_is_queryable_soon(server):
    assert server.write("ns v=1 1", no_sync="true").status_code == 204
    for _ in range(100):
        if server.query("SELECT * FROM ns").status_code == 200:
            break
    assert server.rows("SELECT v FROM ns") == [{"v": 1.0}]


def test_v2_write(server):
    response = httpx.post(f"{server.url}/api/v2/write",
                          params={"bucket": "v2db", "org": "ignored", "precision": "s"},
                          content=b"v2 v=1 1700000000")
    assert response.status_code == 204
    assert server.rows("SELECT time FROM v2", db="v2db") == [{"time": "2023-11-14T22:13:20"}]


def test_v2_write_is_all_or_nothing_with_v2_error_shape(server):
    response = httpx.post(f"{server.url}/api/v2/write", params={"bucket": "v2b"},
                          content=b"x v=1 1\nx v= 2")
    assert response.status_code == 400
    assert response.json() == {"code": "invalid",
                               "message": "write buffer error: parsing for line protocol failed"}
    assert server.query("SELECT * FROM x", db="v2b").status_code == 404


def test_v2_default_precision_is_ns(server):
    httpx.post(f"{server.url}/api/v2/write", params={"bucket": "p2"}, content=b"x v=1 1000")
    assert server.rows("SELECT time FROM x", db="p2") == [{"time": "1970-01-01T00:00:00.000001"}]


def test_v1_write_with_retention_policy(server):
    r1 = httpx.post(f"{server.url}/write", params={"db": "v1db"}, content=b"v1 v=1 5")
    r2 = httpx.post(f"{server.url}/write", params={"db": "v1db", "rp": "autogen"},
                    content=b"v1 v=2 6")
    r3 = httpx.post(f"{server.url}/write", params={"db": "v1db", "rp": "weekly"},
                    content=b"v1 v=3 7")
    assert (r1.status_code, r2.status_code, r3.status_code) == (204, 204, 204)
    assert server.rows("SELECT v FROM v1 ORDER BY time", db="v1db") == [{"v": 1.0}, {"v": 2.0}]
    assert server.rows("SELECT v FROM v1", db="v1db/weekly") == [{"v": 3.0}]


def test_many_series_in_one_batch(server):
    lines = "\n".join(f"cpu,host=h{i % 100},dc=d{i % 7} v={i},n={i}i {i + 1}" for i in range(5000))
    assert server.write(lines).status_code == 204
    assert server.rows("SELECT count(*) AS n, count(DISTINCT host) AS hosts, sum(n) AS total "
                       "FROM cpu") == [{"n": 5000, "hosts": 100, "total": sum(range(5000))}]


def test_line_numbers_skip_blank_and_comment_lines_and_bom(server):
    body = "\ufeffbom v=1 1\n\t# comment\n  \n\tbom v=2 2\r\nbom v=\"s\" 3".encode()
    response = server.write(body)
    assert response.status_code == 400
    data = response.json()["data"]
    assert [(d["line_number"], d["original_line"]) for d in data] == [(3, 'bom v="s" 3')]
    assert server.rows("SELECT v FROM bom ORDER BY time") == [{"v": 1.0}, {"v": 2.0}]
