"""Upstream `influxdb3/tests/cli/offline_tokens.rs`: `create token --admin --offline
--output-file F` makes an admin token without a server; a server started with
`--admin-token-file F` accepts it."""

from __future__ import annotations

import json
import stat

import pytest

from tests.conformance.conftest import api, cli_ok


@pytest.mark.differs("upstream's `show databases` lists its `_internal` database; timewell has "
                     "none to list (its `_internal` is only the name under which server-wide "
                     "system tables are queried, which the test's query does)")
def test_cli_offline_tokens_test_offline_token_creation_flow(make_module_server,
                                                            testing_certs, tmp_path):
    token_file = tmp_path / "admin_token.json"
    out = cli_ok(None, "create", "token", "--admin", "--offline", "--output-file",
                 str(token_file))
    assert "Token saved to:" in out
    document = json.loads(token_file.read_text())
    token = document["token"]
    assert document["name"] == "_admin"
    # (timewell) the file holds a credential: readable by its owner only
    assert token_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO) == 0

    server = make_module_server("--admin-token-file", str(token_file), auth=True, tls="good")
    ca = ("--tls-ca", str(testing_certs.root_ca))
    assert "_admin" in cli_ok(server, "show", "tokens", "--token", token, *ca)
    shown = cli_ok(server, "show", "databases", "--token", token, *ca)
    assert "_internal" not in shown  # upstream: listed
    response = api(server, "GET", "/api/v3/query_sql",
                   params={"db": "_internal", "q": "SELECT * FROM system.tables LIMIT 1"},
                   headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    out = cli_ok(server, "create", "database", "admin_test_db", "--token", token, *ca)
    assert 'Database "admin_test_db" created successfully' in out
