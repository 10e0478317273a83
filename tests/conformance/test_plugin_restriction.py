"""Upstream `influxdb3/tests/server/plugin_restriction.rs`: `--restrict-plugin-triggers-to`
refuses to create triggers of the kinds it leaves out (driven through the CLI, as upstream)."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import cli

PLUGIN = "def process_scheduled_call(influxdb3_local, schedule_time, args=None): pass\n"
ALL_KINDS = PLUGIN + ("def process_writes(influxdb3_local, table_batches, args=None): pass\n"
                      "def process_request(influxdb3_local, query_parameters, request_headers, "
                      "request_body, args=None): pass\n")

WORDING = ("upstream: 'server is configured to reject WalRows' (Schedule, Request); timewell "
           "names the kind, the spec and the flag: \"this server does not run wal triggers "
           "('all_tables'): it was started with --restrict-plugin-triggers-to schedule\"")
CHECKED = ("upstream creates a (disabled) wal or request trigger on a plugin that has only "
           "process_scheduled_call; timewell loads the plugin at creation and answers 400 "
           "naming the missing function, so a trigger that can never run is not created")


def _server(make_module_server, *args: str):
    server = make_module_server(*args)
    (server.plugin_dir / "test_plugin.py").write_text(PLUGIN)
    (server.plugin_dir / "all_kinds.py").write_text(ALL_KINDS)
    result = cli(server, "create", "database", "testdb")
    assert result.returncode == 0, result.stderr
    return server


def _create(server, name: str, spec: str, *extra: str, path: str = "test_plugin.py"):
    return cli(server, "create", "trigger", "--database", "testdb", "--path", path,
               "--trigger-spec", spec, *extra, name)


def _rejected(server, name: str, spec: str, kind: str, allowed: str) -> None:
    result = _create(server, name, spec)
    assert result.returncode != 0, result.stdout
    output = result.stdout + result.stderr
    assert f"this server does not run {kind} triggers ('{spec}')" in output, output
    assert f"--restrict-plugin-triggers-to {allowed}" in output, output


def _allowed(server, name: str, spec: str) -> None:
    """Allowed: on upstream's plugin a schedule trigger is created; a wal or request trigger
    passes the restriction and is refused only for the function upstream's plugin lacks, and
    is created on a plugin that has it."""
    result = _create(server, name, spec, "--disabled")
    if spec.startswith(("every:", "cron:")):
        assert result.returncode == 0, (result.stdout, result.stderr)
        return
    assert result.returncode != 0, result.stdout
    function = "process_request" if spec.startswith("request:") else "process_writes"
    assert f"plugin 'test_plugin.py' has no function {function}(" in result.stderr, result.stderr
    result = _create(server, name, spec, "--disabled", path="all_kinds.py")
    assert result.returncode == 0, (result.stdout, result.stderr)


@pytest.mark.differs(WORDING)
def test_plugin_restriction_test_restrict_plugin_triggers_to_schedule_rejects_other_types(
        make_module_server):
    server = _server(make_module_server, "--restrict-plugin-triggers-to", "schedule")
    _rejected(server, "wal_trigger", "all_tables", "wal", "schedule")
    _rejected(server, "wal_table_trigger", "table:cpu", "wal", "schedule")
    _rejected(server, "request_trigger", "request:mypath", "request", "schedule")
    _allowed(server, "every_trigger", "every:10s")
    _allowed(server, "cron_trigger", "cron:* * * * * *")


@pytest.mark.differs(WORDING + "; " + CHECKED)
def test_plugin_restriction_test_restrict_plugin_triggers_to_wal_rejects_other_types(
        make_module_server):
    server = _server(make_module_server, "--restrict-plugin-triggers-to", "wal")
    _rejected(server, "schedule_trigger", "every:10s", "schedule", "wal")
    _rejected(server, "request_trigger", "request:mypath", "request", "wal")
    _allowed(server, "wal_trigger", "all_tables")


@pytest.mark.differs(CHECKED)
def test_plugin_restriction_test_no_plugin_trigger_restriction_allows_all_types(
        make_module_server):
    server = _server(make_module_server)
    _allowed(server, "wal_trigger", "all_tables")
    _allowed(server, "schedule_trigger", "every:10s")
    _allowed(server, "request_trigger", "request:mypath")
