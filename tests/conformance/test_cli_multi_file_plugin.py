"""Upstream `influxdb3/tests/cli/multi_file_plugin.rs`, the earlier form of `cli/plugins.rs`
(`test_cli_plugins.py`): the same multi-file plugins, named with an entry file of their own
choosing, `create trigger --multi-file-plugin-dir DIR --entrypoint FILE` and
`dir:<DIR>:<FILE>` in the dry runs, instead of `__main__.py`. Over HTTPS with `--tls-ca`."""

from __future__ import annotations

import json

import pytest

from tests.conformance import multi_file_plugins as mfp
from tests.conformance.conftest import cli, cli_fails, cli_ok


@pytest.fixture(scope="module")
def s(make_module_server):
    return make_module_server(tls="good")


def test_cli_multi_file_plugin_test_multi_file_wal_plugin(s, ca):
    mfp.build(s.plugin_dir, "test_plugin", mfp.WAL_PLUGIN, "main.py")
    cli_ok(s, "create", "database", "wal_db", *ca)
    cli_ok(s, "create", "table", "--database", "wal_db", "sensor_data", *ca,
           "--fields", "temperature:float64")
    cli_ok(s, "create", "trigger", "multi_file_trigger", "--database", "wal_db",
           "--multi-file-plugin-dir", "test_plugin", "--entrypoint", "main.py",
           "--trigger-spec", "table:sensor_data", *ca)
    cli_ok(s, "write", "--database", "wal_db", *ca, "sensor_data temperature=25.5")
    rows = mfp.rows_eventually(s, ca, "wal_db", "SELECT * FROM sensor_data_processed")
    assert "51" in json.dumps(rows)  # 25.5 * 2


def test_cli_multi_file_plugin_test_multi_file_scheduled_plugin(s, ca):
    mfp.build(s.plugin_dir, "scheduled_plugin", mfp.SCHEDULED_PLUGIN, "scheduler.py")
    cli_ok(s, "create", "database", "metrics_db", *ca)
    mfp.check_scheduled(json.loads(cli_ok(
        s, "test", "schedule_plugin", "--database", "metrics_db", "--schedule", "* * * * * *",
        *ca, "dir:scheduled_plugin:scheduler.py")))


@pytest.mark.differs("upstream's `test wal_plugin` exits 0 whatever the plugin did; timewell's "
                     "exits 1 when the dry run reports errors (the same JSON is printed)")
def test_cli_multi_file_plugin_test_multi_file_plugin_with_import_error(s, ca):
    mfp.build(s.plugin_dir, "broken_plugin", mfp.BROKEN_PLUGIN, "main.py")
    cli_ok(s, "create", "database", "broken_db", *ca)
    mfp.check_import_error(cli(s, "test", "wal_plugin", "--database", "broken_db", "--lp",
                            "test foo=1", "dir:broken_plugin:main.py", *ca))


def test_cli_multi_file_plugin_test_multi_file_plugin_missing_entrypoint(s, ca):
    mfp.build(s.plugin_dir, "missing_entrypoint", mfp.NO_ENTRY_PLUGIN, "main.py")
    cli_ok(s, "create", "database", "missing_db", *ca)
    error = cli_fails(s, "create", "trigger", "bad_trigger", "--database", "missing_db",
                      "--multi-file-plugin-dir", "missing_entrypoint", "--entrypoint", "main.py",
                      "--trigger-spec", "all_tables", *ca)
    assert "plugin directory 'missing_entrypoint' has no entry file main.py" in error
