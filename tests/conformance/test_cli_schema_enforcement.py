"""Upstream `influxdb3/tests/cli/schema_enforcement.rs`: `create database --schema-mode` (a
Core server refuses `explicit`) and `update table --tags/--fields`, which drives
`PATCH /api/v3/configure/table` (the API side: `test_schema_enforcement.py`). Over HTTPS with
`--tls-ca`, as upstream's harness. Each test uses its own database (one server per module)."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import cli_fails, cli_ok


@pytest.fixture(scope="module")
def s(make_module_server):
    return make_module_server(tls="good")


@pytest.mark.differs("upstream's Core answers 'explicit schema mode is only available in "
                     "InfluxDB 3 Enterprise'; timewell's 400 says 'schema_mode 'explicit' is "
                     "not supported: a database takes its schema from writes and declared "
                     "tables (implicit)' (there is no other edition to point to); nothing is "
                     "created in both")
def test_cli_schema_enforcement_create_database_with_explicit_schema_mode_is_enterprise_only(
        s, ca):
    error = cli_fails(s, "create", "database", "sensors_explicit", "--schema-mode", "explicit",
                      *ca)
    assert "server answered 400: schema_mode 'explicit' is not supported" in error
    assert "sensors_explicit" not in cli_ok(s, "show", "databases", *ca)


def test_cli_schema_enforcement_create_database_with_implicit_schema_mode(s, ca):
    cli_ok(s, "create", "database", "sensors_implicit", "--schema-mode", "implicit", *ca)
    cli_ok(s, "write", "-d", "sensors_implicit", *ca, "cpu,host=a usage=1.0")
    cli_ok(s, "write", "-d", "sensors_implicit", *ca, "cpu,host=a,region=west usage=1.0")


@pytest.mark.differs("argument errors come from timewell's parser (click): upstream (clap) says "
                     "\"invalid value 'strict' for '--schema-mode <SCHEMA_MODE>' [possible "
                     "values: implicit, explicit]\", timewell \"Invalid value for "
                     "'--schema-mode': 'strict' is not one of 'implicit', 'explicit'.\"; both "
                     "refuse before sending anything")
def test_cli_schema_enforcement_create_database_rejects_an_unknown_schema_mode(s, ca):
    error = cli_fails(s, "create", "database", "nope", "--schema-mode", "strict", *ca)
    assert ("Invalid value for '--schema-mode': 'strict' is not one of 'implicit', "
            "'explicit'.") in error
    assert "nope" not in cli_ok(s, "show", "databases", *ca)


def test_cli_schema_enforcement_update_table_adds_columns(s, ca):
    db = "sensors_update"
    cli_ok(s, "create", "database", db, *ca)
    cli_ok(s, "create", "table", "-d", db, "cpu", "--tags", "host", "-f", "usage:float64", *ca)
    out = cli_ok(s, "update", "table", "-d", db, "cpu", "--tags", "region", "-f",
                 "free:int64", *ca)
    assert f'Table "{db}"."cpu" updated with 1 tag(s) and 1 field(s)' in out
    # a write at the declared types is accepted
    cli_ok(s, "write", "-d", db, *ca, "cpu,host=a,region=west usage=1.0,free=2i")
    # the declaration fixed `free` as int64, so a float is refused
    error = cli_fails(s, "write", "-d", db, *ca, "cpu,host=a,region=west usage=1.0,free=2.0")
    assert "free" in error


def test_cli_schema_enforcement_update_table_requires_columns(s, ca):
    cli_ok(s, "create", "database", "sensors_empty", *ca)
    error = cli_fails(s, "update", "table", "-d", "sensors_empty", "cpu", *ca)
    assert "one of --tags or --fields is required for update table" in error
