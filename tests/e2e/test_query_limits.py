"""Queries that can't run away: a time limit per server (--query-timeout) that requests may
lower (`timeout`), answered 408 on every query path, 4xx for a bad `timeout`."""

from __future__ import annotations

import time

import httpx
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from tests.helpers import proto
from timewell.query.control import QueryCancelled, QueryControl
from timewell.server.flight_sql import SQL_TYPE_PREFIX, pack_any

ROWS = "\n".join(f"cpu,host=h{i % 5} v={i} {1_700_000_000_000_000_000 + i}" for i in range(2000))


def sql(server, q: str, **body) -> httpx.Response:
    return httpx.post(f"{server.url}/api/v3/query_sql", json={"db": "limits", "q": q, **body})


def test_a_request_may_lower_the_time_limit(make_server):
    server = make_server()
    assert server.write(ROWS, db="limits", precision="ns").status_code == 204
    assert sql(server, "SELECT count(*) AS n FROM cpu", timeout="30s").json() == [{"n": 2000}]
    assert sql(server, "SELECT count(*) AS n FROM cpu", timeout=5).status_code == 200
    stopped = sql(server, "SELECT count(*) AS n FROM cpu", timeout=1e-6)
    assert stopped.status_code == 408
    assert "time limit of 1e-06 s" in stopped.json()["error"]
    v1 = httpx.get(f"{server.url}/query", params={"db": "limits", "q": "SELECT count(v) FROM cpu",
                                                  "timeout": "0.000001"})
    assert v1.status_code == 408, v1.text
    v3 = httpx.get(f"{server.url}/api/v3/query_influxql",
                   params={"db": "limits", "q": "SELECT mean(v) FROM cpu", "timeout": "1us"})
    assert v3.status_code == 408, v3.text
    # and the server is fine afterwards
    assert sql(server, "SELECT count(*) AS n FROM cpu").json() == [{"n": 2000}]


@pytest.mark.parametrize("bad", ["abc", 0, -1, "0s", True])
def test_a_bad_timeout_is_a_400(shared_server, bad):
    response = sql(shared_server, "SELECT 1", timeout=bad)
    assert response.status_code == 400
    assert "'timeout' must be a positive number" in response.json()["error"]


def test_the_server_limit_caps_what_a_request_asks_for(make_server):
    server = make_server("--query-timeout", "1us")
    assert server.write(ROWS, db="limits", precision="ns").status_code == 204
    assert sql(server, "SELECT count(*) FROM cpu", timeout=60).status_code == 408
    client = flight.FlightClient(f"grpc://127.0.0.1:{server.port}")
    ticket = flight.Ticket(b'{"database": "limits", "sql_query": "SELECT count(*) FROM cpu", '
                           b'"query_type": "sql"}')
    with pytest.raises(flight.FlightTimedOutError, match="time limit"):
        client.do_get(ticket).read_all()
    assert server.write(ROWS, db="limits", precision="ns").status_code == 204  # writes go on


def test_no_limit_with_zero(make_server):
    server = make_server("--query-timeout", "0")
    assert server.write(ROWS, db="limits", precision="ns").status_code == 204
    assert sql(server, "SELECT count(*) AS n FROM cpu").json() == [{"n": 2000}]


def test_a_cancelled_query_stops_at_its_next_check():
    control = QueryControl(None)
    control.check()
    control.cancel()
    with pytest.raises(QueryCancelled, match="client went away"):
        control.check()


def test_a_query_past_its_memory_pool_is_a_422(make_server):
    server = make_server("--exec-mem-pool-bytes", "64KiB")
    lines = "\n".join(f"big,k=k{i} v={i} {1_700_000_000_000_000_000 + i}" for i in range(20000))
    assert server.write(lines, db="limits", precision="ns").status_code == 204
    response = sql(server, "SELECT k, count(*) FROM big GROUP BY k")
    assert response.status_code == 422, response.text
    assert "--exec-mem-pool-bytes" in response.json()["error"]
    assert sql(server, "SELECT count(*) AS n FROM big").json() == [{"n": 20000}]


def test_streamed_formats_send_batch_by_batch_past_the_result_limit(make_server):
    """jsonl, csv, Arrow IPC and Flight answers go out as DataFusion computes them: a result larger
    than --max-query-result-bytes (which only the buffered formats need) still arrives."""
    server = make_server("--max-query-result-bytes", "20000")
    lines = "\n".join(f"cpu,host=h{i % 7} v={i}i {1_700_000_000_000_000_000 + i}"
                      for i in range(100_000))
    assert server.write(lines, db="limits", precision="ns").status_code == 204
    query = "SELECT host, v FROM cpu ORDER BY v"
    assert sql(server, query).status_code == 422  # json is built whole
    with httpx.stream("GET", f"{server.url}/api/v3/query_sql",
                      params={"db": "limits", "q": query, "format": "arrow"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
        pieces = list(response.iter_raw())
    table = pa.ipc.open_stream(b"".join(pieces)).read_all()
    assert table.column("v").to_pylist() == list(range(100_000))
    assert len(pieces) > 1
    csv = sql(server, query, format="csv")
    assert csv.status_code == 200
    rows = csv.text.splitlines()
    assert rows[0] == "host,v" and rows[1] == "h0,0" and len(rows) == 100_001
    jsonl = sql(server, "SELECT v FROM cpu WHERE v < 3 ORDER BY v", format="jsonl")
    assert jsonl.text == '{"v":0}\n{"v":1}\n{"v":2}\n'
    # Flight too, in several batches, with the tags' dictionaries
    client = flight.FlightClient(f"grpc://127.0.0.1:{server.port}")
    reader = client.do_get(flight.Ticket(
        b'{"database": "limits", "sql_query": "' + query.encode() + b'", "query_type": "sql"}'))
    batches = [chunk.data for chunk in reader]
    assert len(batches) > 1
    table = pa.Table.from_batches(batches)
    assert table.column("v").to_pylist() == list(range(100_000))
    assert table.column("host").to_pylist()[:8] == [f"h{i % 7}" for i in range(8)]
    # and Flight SQL statements: planned at GetFlightInfo, streamed at DoGet
    command = pack_any(SQL_TYPE_PREFIX + "CommandStatementQuery", proto(1, query))
    options = flight.FlightCallOptions(headers=[(b"database", b"limits")])
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
    assert info.schema.names == ["host", "v"]
    batches = [chunk.data for chunk in client.do_get(info.endpoints[0].ticket, options)]
    assert len(batches) > 1
    assert pa.Table.from_batches(batches).column("v").to_pylist() == list(range(100_000))


def test_a_streamed_query_that_fails_at_once_is_still_a_4xx(shared_server):
    assert shared_server.write("cpu v=1 1", db="limits", precision="s").status_code == 204
    response = sql(shared_server, "SELECT * FROM nowhere", format="csv")
    assert response.status_code == 400
    assert "nowhere" in response.json()["error"]


def test_a_running_query_is_listed_and_can_be_killed(make_server):
    """system.queries shows it running; DELETE /api/v3/query?id= (timewell query --kill)
    stops it at its next batch: the stream ends early and the query is logged as failed."""
    server = make_server()
    for start in range(0, 600_000, 100_000):  # bodies under the 10 MiB limit
        body = "\n".join(f"cpu,host=h{i % 7} v={i}i {1_700_000_000_000_000_000 + i}"
                         for i in range(start, start + 100_000))
        assert server.write(body, db="limits", precision="ns").status_code == 204
    query = "SELECT host, v FROM cpu"
    with httpx.stream("GET", f"{server.url}/api/v3/query_sql", timeout=60,
                      params={"db": "limits", "q": query, "format": "csv"}) as response:
        pieces = response.iter_raw()
        received = len(next(pieces))
        [running] = [r for r in sql(server, "SELECT id, query_text, running FROM "
                                            "system.queries WHERE running").json()
                     if r["query_text"] == query]
        assert httpx.delete(f"{server.url}/api/v3/query",
                            params={"id": running["id"]}).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):  # the answer is cut short
            for piece in pieces:
                received += len(piece)
    assert received < 600_000 * 8  # far from the whole answer
    [done] = [r for r in sql(server, "SELECT query_text, running, success FROM "
                                     "system.queries").json() if r["query_text"] == query]
    assert done == {"query_text": query, "running": False, "success": False}
    assert httpx.delete(f"{server.url}/api/v3/query",
                        params={"id": running["id"]}).status_code == 404
    assert httpx.delete(f"{server.url}/api/v3/query", params={"id": "x"}).status_code == 400


def test_a_client_that_goes_away_cancels_its_query(make_server):
    """A real connection closed mid-query (the client's own timeout): the server stops the
    query at its next batch instead of computing an answer nobody reads."""
    server = make_server()
    body = "\n".join(f"cpu,host=h{i % 7} v={i}i {1_700_000_000_000_000_000 + i}"
                     for i in range(100_000))
    assert server.write(body, db="limits", precision="ns").status_code == 204
    # 10^10 pairs: minutes of work unless it is stopped.
    query = "SELECT count(*) AS n FROM cpu a CROSS JOIN cpu b WHERE a.v + b.v = 7"
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{server.url}/api/v3/query_sql", json={"db": "limits", "q": query},
                   timeout=1)
    deadline = time.monotonic() + 30
    while True:
        [record] = [r for r in sql(server, "SELECT query_text, running, success FROM "
                                           "system.queries").json()
                    if r["query_text"] == query]
        if not record["running"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert record == {"query_text": query, "running": False, "success": False}
    assert sql(server, "SELECT count(*) AS n FROM cpu").json() == [{"n": 100_000}]
