"""`/metrics` in Prometheus text format, read with prometheus-client's own parser."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

PLUGIN = """
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        if batch["table_name"] == "boom":
            raise ValueError("boom")
"""


def scrape(server) -> dict[str, list]:
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {}
    for family in text_string_to_metric_families(response.text):
        assert all(s.labels["node_id"] == "local" for s in family.samples), family
        families[family.name] = family.samples
    return families


def value(samples, name: str, **labels) -> float:
    return sum(s.value for s in samples if s.name == name
               and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics(make_server, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "watch.py").write_text(PLUGIN)
    server = make_server("--plugin-dir", str(plugins))
    assert server.write("m,t=a v=1 1\nm,t=b v=2 2\nm,t=c v=oops 3", db="mdb").status_code == 400
    assert server.write("m v=3 4", db="other").status_code == 204
    assert server.query("SELECT * FROM m", db="mdb").status_code == 200
    assert httpx.get(f"{server.url}/query", params={"db": "mdb", "q": "SELECT v FROM m"}
                     ).status_code == 200
    assert server.query("SELECT nope FROM m", db="mdb").status_code == 400
    response = httpx.post(f"{server.url}/api/v3/configure/processing_engine_trigger", json={
        "db": "mdb", "plugin_filename": "watch.py", "trigger_name": "watch",
        "trigger_specification": "all_tables", "trigger_settings": {}})
    assert response.status_code == 200, response.text
    assert server.write("ok v=1 5", db="mdb").status_code == 204
    assert server.write("boom v=1 6", db="mdb").status_code == 204
    httpx.get(f"{server.url}/no/such/path")

    deadline = time.monotonic() + 10
    while True:
        families = scrape(server)
        if value(families.get("timewell_trigger_runs", []), "timewell_trigger_runs_total") >= 2:
            break
        assert time.monotonic() < deadline, "the trigger runs never showed in /metrics"
        time.sleep(0.1)

    http = families["timewell_http_requests"]
    assert value(http, "timewell_http_requests_total", endpoint="/api/v3/write_lp",
                 method="POST", status="400") == 1
    assert value(http, "timewell_http_requests_total", endpoint="/api/v3/write_lp",
                 status="204") == 3
    assert value(http, "timewell_http_requests_total", endpoint="/query", status="200") == 1
    assert value(http, "timewell_http_requests_total", endpoint="unmatched", status="404") == 1
    assert not any("/no/such/path" in s.labels.get("endpoint", "") for s in http)
    assert value(families["timewell_http_request_duration_seconds"],
                 "timewell_http_request_duration_seconds_count",
                 endpoint="/api/v3/query_sql") == 2

    lines = families["timewell_write_lines"]
    assert value(lines, "timewell_write_lines_total", database="mdb") == 4
    assert value(lines, "timewell_write_lines_total", database="other") == 1
    assert value(families["timewell_write_lines_rejected"], "timewell_write_lines_rejected_total",
                 database="mdb") == 1

    assert value(families["timewell_wal_flush_duration_seconds"],
                 "timewell_wal_flush_duration_seconds_count") >= 3

    queries = families["timewell_query_duration_seconds"]
    assert value(queries, "timewell_query_duration_seconds_count", query_type="sql",
                 success="true") >= 1
    assert value(queries, "timewell_query_duration_seconds_count", query_type="sql",
                 success="false") == 1
    assert value(queries, "timewell_query_duration_seconds_count",
                 query_type="influxql") == 1

    trigger = {"database": "mdb", "trigger": "watch"}
    assert value(families["timewell_trigger_runs"], "timewell_trigger_runs_total",
                 **trigger) == 2
    deadline = time.monotonic() + 10
    while value(families["timewell_trigger_errors"], "timewell_trigger_errors_total",
                **trigger) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
        families = scrape(server)
    durations = families["timewell_trigger_run_duration_seconds"]
    assert value(durations, "timewell_trigger_run_duration_seconds_count", **trigger) == 2
    assert value(durations, "timewell_trigger_run_duration_seconds_sum", **trigger) > 0
