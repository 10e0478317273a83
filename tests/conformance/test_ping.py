"""Upstream `influxdb3/tests/server/ping.rs`."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import api


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_ping_test_ping(module_server, method):
    body = api(module_server, method, "/ping").json()
    assert "version" in body and "revision" in body
