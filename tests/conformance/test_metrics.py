"""Upstream `influxdb3/tests/server/metrics.rs`: every series on `/metrics` carries the node's
`node_id` label."""

from __future__ import annotations

from tests.conformance.conftest import api


def test_metrics_metrics_endpoint_includes_node_id_label(make_module_server):
    server = make_module_server("--node-id", "test-server")
    body = api(server, "GET", "/metrics").text
    series = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert series, body
    missing = [line for line in series if 'node_id="test-server"' not in line]
    assert not missing, missing[:5]
