"""Upstream `influxdb3/tests/cli/db_retention.rs`: `create database --retention-period`,
`update database --retention-period` (a duration, or `none` to clear it), read back from
`system.databases`. As upstream's harness, the server speaks HTTPS and the CLI trusts it with
`--tls-ca`."""

from __future__ import annotations

import json

import pytest

from tests.conformance.conftest import cli_fails, cli_ok


@pytest.fixture(scope="module")
def s(make_module_server):
    return make_module_server(tls="good")


def _retention(server, ca, db: str) -> str:
    return cli_ok(server, "query", "-d", "_internal", *ca, "--format", "json",
                  "SELECT retention_period_ns FROM system.databases "
                  f"WHERE system.databases.database_name='{db}'")


def test_cli_db_retention_test_create_db_with_retention_period(s, ca):
    out = cli_ok(s, "create", "database", "test_db", "--retention-period", "30d", *ca)
    assert 'Database "test_db" created successfully' in out
    assert _retention(s, ca, "test_db") == '[{"retention_period_ns":2592000000000000}]'


def test_cli_db_retention_test_create_db_without_retention_period(s, ca):
    out = cli_ok(s, "create", "database", "test_db2", *ca)
    assert 'Database "test_db2" created successfully' in out
    assert _retention(s, ca, "test_db2") == "[{}]"


def test_cli_db_retention_test_create_db_with_invalid_retention_period(s, ca):
    error = cli_fails(s, "create", "database", "test_db3", "--retention-period", "invalid", *ca)
    assert "server answered 400: invalid duration 'invalid'" in error  # (timewell) why
    assert "test_db3" not in cli_ok(s, "show", "databases", *ca)


def test_cli_db_retention_test_update_db_retention_period(s, ca):
    db = "test_db_update"
    out = cli_ok(s, "create", "database", db, "--retention-period", "30d", *ca)
    assert f'Database "{db}" created successfully' in out
    out = cli_ok(s, "update", "database", "--database", db, "--retention-period", "60d", *ca)
    assert f'Database "{db}" updated successfully' in out
    assert _retention(s, ca, db) == '[{"retention_period_ns":5184000000000000}]'  # 60 days


def test_cli_db_retention_test_clear_db_retention_period(s, ca):
    db = "test_db_clear"
    out = cli_ok(s, "create", "database", db, "--retention-period", "30d", *ca)
    assert f'Database "{db}" created successfully' in out
    out = cli_ok(s, "update", "database", "--database", db, "--retention-period", "none", *ca)
    assert f'Database "{db}" updated successfully' in out
    assert _retention(s, ca, db) == "[{}]"  # no retention


@pytest.mark.differs("upstream prints 'Update command failed: server responded with error "
                     "[409 Conflict]: attempted to modify resource that was already deleted' "
                     "and names the deleted database '<name>-<time>'; timewell keeps the "
                     "name (contract §4) and fails with 'Error: server answered 409: attempted "
                     "to modify database '<name>', which was already deleted' (the same status, "
                     "the resource named)")
def test_cli_db_retention_test_update_db_retention_after_delete(s, ca):
    db = "retention_deleted_db"
    cli_ok(s, "create", "database", db, *ca)
    out = cli_ok(s, "delete", "database", db, *ca, input="yes\n")
    assert f'Database "{db}" deleted successfully' in out
    shown = json.loads(cli_ok(s, "show", "databases", "--format", "json", "--show-deleted", *ca))
    deleted = next(entry["iox::database"] for entry in shown
                   if entry.get("deleted") and entry["iox::database"].startswith(db))
    error = cli_fails(s, "update", "database", "--database", deleted, "--retention-period",
                      "3h", *ca)
    assert error.strip() == (f"Error: server answered 409: attempted to modify database "
                             f"'{deleted}', which was already deleted")
