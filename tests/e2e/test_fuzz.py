"""Random bodies and parameters at the write and query endpoints: never a 5xx, never a hang."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

lp_alphabet = st.sampled_from(list("abc,= \\\"\n#tfi0123456789.-+eTu") + ["\r\n", "é", "\x00"])
lp_text = st.lists(lp_alphabet, max_size=80).map("".join)
param_text = st.one_of(st.none(), st.text(max_size=12),
                       st.sampled_from(["auto", "s", "ms", "ns", "true", "false", "x"]))


@FUZZ
@given(body=st.one_of(lp_text.map(str.encode), st.binary(max_size=200)),
       db=st.one_of(st.just("fuzz"), st.text(max_size=10)),
       precision=param_text, accept_partial=param_text, no_sync=param_text,
       endpoint=st.sampled_from(["/api/v3/write_lp", "/api/v2/write", "/write"]),
       gzip_header=st.booleans())
def test_write_endpoints_never_5xx(shared_server, body, db, precision, accept_partial, no_sync,
                                   endpoint, gzip_header):
    params = {k: v for k, v in {"db": db, "bucket": db, "precision": precision,
                                "accept_partial": accept_partial, "no_sync": no_sync}.items()
              if v is not None}
    headers = {"Content-Encoding": "gzip"} if gzip_header else {}
    response = httpx.post(f"{shared_server.url}{endpoint}", params=params, content=body,
                          headers=headers, timeout=10)
    assert response.status_code < 500, response.text
    assert response.status_code in (204, 400, 404, 413, 422), response.status_code


sql_words = st.sampled_from(["SELECT", "*", "FROM", "m", "'m'", "WHERE", "v", ">", "1", "$p",
                             "GROUP BY", "ORDER BY", "time", "count(*)", "(", ")", ",", ";",
                             "SHOW TABLES", "SHOW COLUMNS FROM", "system.queries", "LIMIT",
                             "information_schema.columns", "'", "\"", "now()", "-"])


@FUZZ
@given(q=st.one_of(st.lists(sql_words, max_size=12).map(" ".join), st.text(max_size=40)),
       db=st.one_of(st.just("fuzz"), st.text(max_size=8)),
       fmt=st.one_of(st.none(), st.sampled_from(["json", "jsonl", "csv", "pretty", "parquet",
                                                 "xml", ""])),
       params=st.one_of(st.none(), st.dictionaries(st.text(max_size=3),
                                                   st.one_of(st.integers(), st.text(max_size=5),
                                                             st.none(), st.floats()),
                                                   max_size=2)),
       method=st.sampled_from(["GET", "POST"]))
@example(q="SELECT 1", db="fuzz", fmt=None, params={"": float("inf")}, method="POST")
@example(q="SELECT 1", db="fuzz", fmt=None, params={"x": float("nan")}, method="GET")
def test_query_endpoint_never_5xx(shared_server, q, db, fmt, params, method):
    httpx.post(f"{shared_server.url}/api/v3/write_lp", params={"db": "fuzz"},
               content=b"m,t=a v=1 1")
    args = {"db": db, "q": q}
    if fmt is not None:
        args["format"] = fmt
    if params is not None:
        args["params"] = params
    url = f"{shared_server.url}/api/v3/query_sql"
    if method == "GET":
        query = {k: (json.dumps(v) if k == "params" else v) for k, v in args.items()}
        response = httpx.get(url, params=query, timeout=10)
    else:
        # json.dumps, not httpx's json=, which refuses NaN and infinities before sending:
        # a careless client sends them as `NaN` / `Infinity` tokens, and the server must
        # answer those with a 4xx too.
        response = httpx.post(url, content=json.dumps(args), timeout=10,
                              headers={"content-type": "application/json"})
    assert response.status_code < 500, (q, response.text)


def test_server_alive_after_fuzzing(shared_server):
    assert httpx.get(f"{shared_server.url}/health").status_code == 200
    response = httpx.post(f"{shared_server.url}/api/v3/write_lp", params={"db": "after"},
                          content=b"alive v=1 1")
    assert response.status_code == 204
