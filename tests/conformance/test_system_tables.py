"""Upstream `influxdb3/tests/server/system_tables.rs`: `system.*` tables over Flight SQL."""

from __future__ import annotations

import contextlib

import pyarrow.flight as flight
import pytest

from tests.conformance.conftest import api, flight_sql, write_lp


def rows(server, db: str, sql: str) -> list[dict]:
    return flight_sql(server, db, sql).to_pylist()


def test_system_tables_queries_table(make_module_server):
    s = make_module_server()  # its own server: system.queries is server-wide
    write_lp(s, "foo", "cpu,host=s1,region=us-east usage=0.9 1\n"
                       "cpu,host=s1,region=us-east usage=0.89 2\n"
                       "cpu,host=s1,region=us-east usage=0.85 3", precision="nanosecond")
    assert rows(s, "foo", "SELECT COUNT(*) FROM system.queries WHERE running = false") == [
        {"count(*)": 0}]
    for q in ("SELECT * FROM cpu", "SELECT * FROM mem", "SELECT usage, time FROM cpu"):
        with contextlib.suppress(flight.FlightError):  # `mem` does not exist: it fails
            rows(s, "foo", q)
    found = rows(s, "foo", "SELECT phase, query_type, query_text, success, running, cancelled "
                           "FROM system.queries WHERE success = true")
    expected = [
        {"phase": "success", "query_type": "flightsql", "query_text": f"CommandStatementQuery{q}",
         "success": True, "running": False, "cancelled": False}
        for q in ("SELECT * FROM cpu",
                  "SELECT COUNT(*) FROM system.queries WHERE running = false",
                  "SELECT usage, time FROM cpu")]
    key = lambda r: r["query_text"]  # noqa: E731
    assert sorted(found, key=key) == sorted(expected, key=key)


def _last_caches(server, db: str) -> list[dict]:
    return sorted(rows(server, db, "SELECT * FROM system.last_caches"),
                  key=lambda r: r["name"])


def _subset(found: list[dict], columns: list[str]) -> list[dict]:
    return [{c: r[c] for c in columns} for r in found]


LC_COLUMNS = ["table", "name", "key_columns", "value_columns", "count", "ttl"]


def _unordered_columns(found: list[dict]) -> list[dict]:
    return [{**r, "key_columns": sorted(r["key_columns"]),
             "value_columns": sorted(r["value_columns"])} for r in found]


@pytest.mark.differs("upstream orders a table's tags by name (its default key columns read "
                     "[cpu, host, region] for `cpu,region=..,host=..,cpu=..`); timewell keeps "
                     "them in order of first appearance (contract section 1), so the lists are "
                     "compared as sets and the default cache name follows that order")
def test_system_tables_last_caches_table(module_server):
    s, db1, db2 = module_server, "lct_foo", "lct_bar"
    for db in (db1, db2):
        write_lp(s, db, "cpu,region=us,host=a,cpu=1 usage=90\nmem,region=us,host=a usage=500\n")
        assert _last_caches(s, db) == []
    url = "/api/v3/configure/last_cache"
    for body in ({"db": db1, "table": "cpu", "key_columns": ["host"]},
                 {"db": db1, "table": "mem", "name": "mem_last_cache", "ttl": 60},
                 {"db": db2, "table": "cpu", "count": 5}):
        assert api(s, "POST", url, json=body).is_success
    assert _unordered_columns(_subset(_last_caches(s, db1), LC_COLUMNS)) == [
        {"table": "cpu", "name": "cpu_host_last_cache", "key_columns": ["host"],
         "value_columns": ["cpu", "region", "time", "usage"], "count": 1, "ttl": 14400},
        {"table": "mem", "name": "mem_last_cache", "key_columns": ["host", "region"],
         "value_columns": ["time", "usage"], "count": 1, "ttl": 60}]
    # upstream: cpu_cpu_host_region_last_cache (its key columns in name order)
    db2_cache = {"table": "cpu", "name": "cpu_region_host_cpu_last_cache",
                 "key_columns": ["cpu", "host", "region"], "value_columns": ["time", "usage"],
                 "count": 5, "ttl": 14400}
    assert _unordered_columns(_subset(_last_caches(s, db2), LC_COLUMNS)) == [db2_cache]
    assert api(s, "DELETE", url, json={"db": db1, "table": "cpu",
                                       "name": "cpu_host_last_cache"}).is_success
    assert _unordered_columns(_subset(_last_caches(s, db1), LC_COLUMNS)) == [
        {"table": "mem", "name": "mem_last_cache", "key_columns": ["host", "region"],
         "value_columns": ["time", "usage"], "count": 1, "ttl": 60}]
    write_lp(s, db2, "cpu,region=us,host=a,cpu=2 usage=40,temp=95")
    assert _unordered_columns(_subset(_last_caches(s, db2), LC_COLUMNS)) == [
        {**db2_cache, "value_columns": ["temp", "time", "usage"]}]


DC_COLUMNS = ["table", "name", "column_names", "max_cardinality", "max_age_seconds"]


def test_system_tables_distinct_caches_table(module_server):
    """Upstream's `meta_caches_table` (the distinct value cache was first called the metadata
    cache; the system table is now `system.distinct_caches`)."""
    s, db1, db2 = module_server, "dct_foo", "dct_bar"
    for db in (db1, db2):
        write_lp(s, db, "cpu,region=us-east,host=a usage=90\nmem,region=us-east,host=a usage=90\n")
        assert rows(s, db, "SELECT * FROM system.distinct_caches") == []
    url = "/api/v3/configure/distinct_cache"
    for body in ({"db": db1, "table": "cpu", "columns": ["region", "host"]},
                 {"db": db1, "table": "mem", "columns": ["region", "host"],
                  "max_cardinality": 1000},
                 {"db": db2, "table": "cpu", "columns": ["host"], "max_age": 1000}):
        assert api(s, "POST", url, json=body).is_success

    def caches(db):
        found = rows(s, db, "SELECT * FROM system.distinct_caches")
        return _subset(sorted(found, key=lambda r: r["name"]), DC_COLUMNS)

    assert caches(db1) == [
        {"table": "cpu", "name": "cpu_region_host_distinct_cache",
         "column_names": ["region", "host"], "max_cardinality": 100000, "max_age_seconds": 86400},
        {"table": "mem", "name": "mem_region_host_distinct_cache",
         "column_names": ["region", "host"], "max_cardinality": 1000, "max_age_seconds": 86400}]
    assert caches(db2) == [
        {"table": "cpu", "name": "cpu_host_distinct_cache", "column_names": ["host"],
         "max_cardinality": 100000, "max_age_seconds": 1000}]
    assert api(s, "DELETE", url, json={"db": db1, "table": "cpu",
                                       "name": "cpu_region_host_distinct_cache"}).is_success
    assert api(s, "DELETE", url, json={"db": db2, "table": "cpu",
                                       "name": "cpu_host_distinct_cache"}).is_success
    assert caches(db1) == [
        {"table": "mem", "name": "mem_region_host_distinct_cache",
         "column_names": ["region", "host"], "max_cardinality": 1000, "max_age_seconds": 86400}]
    assert caches(db2) == []
