"""Upstream `influxdb3/tests/cli/offline_tokens.rs`: `create token --admin --offline
--output-file F` makes an admin token without a server; a server started with
`--admin-token-file F` accepts it."""

from __future__ import annotations

import json
import stat
import time

import pytest

from tests.conformance.conftest import api, cli_fails, cli_ok


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


def test_cli_offline_tokens_named_with_expiry(tmp_path):
    """(timewell) `--name` and `--expiry` go into the file (upstream's schema: `name`,
    `expiry_millis`); --offline needs --output-file; a token file is never overwritten."""
    token_file = tmp_path / "automation.json"
    args = ("create", "token", "--admin", "--offline", "--name", "automation", "--expiry", "1d")
    before = time.time() * 1000
    assert "Token saved to:" in cli_ok(None, *args, "--output-file", str(token_file))
    document = json.loads(token_file.read_text())
    assert document["name"] == "automation"
    assert before + 86_400_000 <= document["expiry_millis"] <= time.time() * 1000 + 86_400_000
    assert document["token"].startswith("apiv3_")
    assert "--offline needs --output-file" in cli_fails(None, *args)
    assert "exists already" in cli_fails(None, *args, "--output-file", str(token_file))
    assert json.loads(token_file.read_text()) == document
