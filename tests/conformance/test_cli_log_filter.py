"""Upstream `influxdb3/tests/cli/log_filter.rs`: `serve --log-filter` (or `LOG_FILTER`) with a
debug default is widened with quieter levels for chatty libraries, unless
`--disable-log-filter-noise-reduction`; the filter in force is logged at start-up
(`log_filter_active`)."""

from __future__ import annotations

import pytest

from tests.helpers import wait_for

# upstream's expansion names its Rust dependencies (`reqwest=info`); timewell's, the Python
# libraries that are as chatty at debug level
NOISY = "httpcore=info"
DIFFERS = ("upstream's expanded filter names its Rust crates (reqwest=info, ...); timewell's "
           "names the Python libraries it uses that are chatty at debug level (httpcore=info, "
           "httpx=info, asyncio=info, ...): the same rule, other library names")


def _active_filter(server) -> str:
    wait_for(lambda: "log_filter_active" in server.log(), timeout=30)
    return next(line for line in server.log().splitlines() if "log_filter_active" in line)


@pytest.mark.differs(DIFFERS)
def test_cli_log_filter_debug_filter_expanded_at_startup(make_module_server):
    server = make_module_server("--log-filter", "debug")
    line = _active_filter(server)
    assert "filter=debug," in line and NOISY in line


def test_cli_log_filter_debug_filter_not_expanded_when_disabled(make_module_server):
    server = make_module_server("--log-filter", "debug", "--disable-log-filter-noise-reduction")
    line = _active_filter(server)
    assert line.endswith("log_filter_active filter=debug"), line
    assert NOISY not in server.log()


@pytest.mark.differs(DIFFERS)
def test_cli_log_filter_log_filter_expanded_via_log_filter_env_var(make_module_server):
    server = make_module_server(env={"LOG_FILTER": "debug"})
    line = _active_filter(server)
    assert "filter=debug," in line and NOISY in line
