"""Upstream `influxdb3/tests/server/schema_enforcement.rs`: `schema_mode` on database creation
(Core refuses `explicit`) and `PATCH /api/v3/configure/table`, which declares more columns on a
table, add-only."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import api

TABLE = "cpu"


@pytest.fixture(scope="module")
def s(make_module_server):
    return make_module_server()


def _write(server, db: str, lp: str):
    return api(server, "POST", "/api/v3/write_lp", params={"db": db, "precision": "second"},
               content=lp.encode())


def _with_table(server, db: str) -> None:
    response = api(server, "POST", "/api/v3/configure/database", json={"db": db})
    assert response.status_code == 200, response.text
    response = api(server, "POST", "/api/v3/configure/table",
                   json={"db": db, "table": TABLE, "tags": ["host"],
                         "fields": [{"name": "usage", "type": "float64"}]})
    assert response.status_code == 200, response.text


def _patch(server, body: dict):
    return api(server, "PATCH", "/api/v3/configure/table", json=body)


@pytest.mark.differs("upstream: 400 'explicit schema mode is only available in InfluxDB 3 "
                     "Enterprise'; timewell: 400 saying schema_mode 'explicit' is not "
                     "supported (there is no edition that has it)")
def test_schema_enforcement_explicit_schema_mode_is_enterprise_only(s):
    response = api(s, "POST", "/api/v3/configure/database",
                   json={"db": "sensors_x", "schema_mode": "explicit"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("schema_mode 'explicit' is not supported")
    response = api(s, "POST", "/api/v3/configure/database", json={"db": "sensors_x"})
    assert response.status_code == 200, response.text


def test_schema_enforcement_implicit_schema_mode_is_accepted(s):
    response = api(s, "POST", "/api/v3/configure/database",
                   json={"db": "sensors_i", "schema_mode": "implicit"})
    assert response.status_code == 200, response.text
    response = api(s, "POST", "/api/v3/configure/database", json={"db": "open_i"})
    assert response.status_code == 200, response.text
    for db in ("sensors_i", "open_i"):
        assert _write(s, db, "cpu,host=a usage=1.0 1000").status_code == 204
        response = _write(s, db, "cpu,host=a,region=west usage=1.0,free=2i 2000")
        assert response.status_code == 204, response.text


def test_schema_enforcement_patch_table_adds_columns(s):
    _with_table(s, "sensors_a")
    response = _patch(s, {"db": "sensors_a", "table": TABLE, "tags": ["region"],
                          "fields": [{"name": "free", "type": "int64"}]})
    assert response.status_code == 200, response.text
    response = _write(s, "sensors_a", "cpu,host=a,region=west usage=1.0,free=2i 4000")
    assert response.status_code == 204, response.text
    response = _write(s, "sensors_a", "cpu,host=a,region=west usage=1.0,free=2.0 5000")
    assert response.status_code == 400
    assert "free" in response.text


def test_schema_enforcement_patch_table_is_add_only(s):
    _with_table(s, "sensors_r")
    response = _patch(s, {"db": "sensors_r", "table": TABLE,
                          "fields": [{"name": "usage", "type": "utf8"}]})
    assert response.status_code == 400, response.text


def test_schema_enforcement_patch_table_rejects_an_empty_request(s):
    _with_table(s, "sensors_e")
    response = _patch(s, {"db": "sensors_e", "table": TABLE})
    assert response.status_code == 400, response.text


def test_schema_enforcement_patch_table_requires_an_existing_table(s):
    _with_table(s, "sensors_m")
    response = _patch(s, {"db": "sensors_m", "table": "missing", "tags": ["host"]})
    assert response.status_code == 404, response.text
