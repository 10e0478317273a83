"""Upstream `influxdb3/tests/cli/tls_no_verify.rs`: every client command reaches a server whose
TLS certificate does not verify (expired, as upstream's `localhost_bad.pem`) when given
`--tls-no-verify`. One server for the module; each test uses its own database, as upstream."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import cli, cli_ok

NO_VERIFY = "--tls-no-verify"


@pytest.fixture(scope="module")
def s(make_module_server):
    return make_module_server(tls="bad")


def _clean(out: str) -> str:
    assert "certificate" not in out, out
    return out


def test_cli_tls_no_verify_test_show_databases_with_tls_no_verify(s):
    _clean(cli_ok(s, "show", "databases", NO_VERIFY))
    # (timewell) without the flag the certificate is checked, and the error says what to do
    refused = cli(s, "show", "databases")
    assert refused.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr and "--tls-no-verify" in refused.stderr


def test_cli_tls_no_verify_test_show_plugins_with_tls_no_verify(s):
    _clean(cli_ok(s, "show", "plugins", NO_VERIFY))


def test_cli_tls_no_verify_test_query_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "testdb")
    _clean(cli_ok(s, "query", NO_VERIFY, "-d", "testdb", "SELECT 1"))


def test_cli_tls_no_verify_test_write_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "writedb")
    _clean(cli_ok(s, "write", NO_VERIFY, "-d", "writedb", "cpu,host=server01 value=0.64"))


def test_cli_tls_no_verify_test_create_table_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "tabledb")
    _clean(cli_ok(s, "create", "table", NO_VERIFY, "-d", "tabledb", "--tags", "host",
                  "--fields", "value:float64", "cpu"))


def test_cli_tls_no_verify_test_delete_table_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "deltabledb")
    cli_ok(s, "write", NO_VERIFY, "-d", "deltabledb", "cpu,host=server01 value=0.64")
    _clean(cli_ok(s, "delete", "table", NO_VERIFY, "-d", "deltabledb", "cpu", input="yes\n"))


def test_cli_tls_no_verify_test_last_cache_commands_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "cachedb")
    cli_ok(s, "write", NO_VERIFY, "-d", "cachedb", "cpu,host=server01 value=0.64")
    _clean(cli_ok(s, "create", "last_cache", NO_VERIFY, "-d", "cachedb", "-t", "cpu"))
    _clean(cli_ok(s, "delete", "last_cache", NO_VERIFY, "-d", "cachedb", "-t", "cpu",
                  "cpu_host_last_cache", input="yes\n"))


def test_cli_tls_no_verify_test_distinct_cache_commands_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "dvcachedb")
    cli_ok(s, "write", NO_VERIFY, "-d", "dvcachedb", "cpu,host=server01 value=0.64")
    _clean(cli_ok(s, "create", "distinct_cache", NO_VERIFY, "-d", "dvcachedb", "-t", "cpu",
                  "--columns", "host"))
    _clean(cli_ok(s, "delete", "distinct_cache", NO_VERIFY, "-d", "dvcachedb", "-t", "cpu",
                  "cpu_host_distinct_cache", input="yes\n"))


def test_cli_tls_no_verify_test_create_database_with_tls_no_verify(s):
    _clean(cli_ok(s, "create", "database", NO_VERIFY, "newdb"))


def test_cli_tls_no_verify_test_delete_database_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "deletedb")
    _clean(cli_ok(s, "delete", "database", NO_VERIFY, "deletedb", input="yes\n"))


def test_cli_tls_no_verify_test_update_database_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "updatedb")
    _clean(cli_ok(s, "update", "database", NO_VERIFY, "-d", "updatedb", "--retention-period",
                  "30d"))


def test_cli_tls_no_verify_test_update_table_with_tls_no_verify(s):
    cli_ok(s, "create", "database", NO_VERIFY, "updatetabledb")
    cli_ok(s, "write", NO_VERIFY, "-d", "updatetabledb", "cpu,host=server01 value=0.64")


def test_cli_tls_no_verify_show_system(s):
    """(timewell) `show system` takes the flag too, before or after its subcommand."""
    cli_ok(s, "create", "database", NO_VERIFY, "systemdb")
    _clean(cli_ok(s, "show", "system", NO_VERIFY, "-d", "systemdb", "table-list"))
    _clean(cli_ok(s, "show", "system", "-d", "systemdb", "table-list", NO_VERIFY))
    assert cli(s, "show", "system", "-d", "systemdb", "table-list").returncode == 1
