"""Upstream `influxdb3/tests/cli/admin_token.rs`: the operator token, named admin tokens (create,
use, expire, delete) and the admin token recovery endpoint (`serve
--admin-token-recovery-http-bind`), through the CLI over HTTPS with `--tls-ca`, as upstream's
harness.

The tests upstream repeats from `cli/mod.rs` (`test_create_admin_token`,
`test_create_admin_token_json_format`, `test_create_admin_token_allowed_once`,
`test_regenerate_admin_token`, `test_delete_token`,
`test_create_admin_token_endpoint_disabled`) are ported once, in `test_cli.py`.

Servers: tests that only add named tokens share one (`ops`, its operator token made first, as
each upstream test does); each test that regenerates the operator token gets its own."""

from __future__ import annotations

import time

import psutil
import pytest

from tests.conformance.conftest import api, cli_fails, cli_ok
from tests.conftest import free_port
from tests.helpers import wait_for

CREATED = "New token created successfully!"
SHUTDOWN = "Admin token recovery endpoint shutting down after token regeneration"
EXIT_STATUS = ("upstream prints a refused token request as 'Failed to create token, error: "
               "ApiError {{ code: {code}, message: \"...\" }}' and exits 0; timewell exits 1 "
               "with 'Error: server answered {code}: <the server's message>' (contract: CLI "
               "failures)")


def _token(output: str) -> str:
    """Upstream's `parse_token`: the text after `Token: `."""
    return next(line.split("Token: ", 1)[1].strip() for line in output.splitlines()
                if "Token:" in line)


@pytest.fixture(scope="module")
def ops(make_module_server, ca):
    """A server with auth, and its operator token (made with the CLI, as upstream's tests
    start)."""
    server = make_module_server(auth=True, tls="good")
    out = cli_ok(server, "create", "token", "--admin", *ca)
    assert CREATED in out
    return server, _token(out)


def _with_recovery(make, *, auth: bool = True):
    port = free_port()
    server = make("--admin-token-recovery-http-bind", f"127.0.0.1:{port}", auth=auth,
                  tls="good")
    server.recovery_url = f"https://localhost:{port}"
    return server


@pytest.fixture(scope="module")
def recovery(make_module_server, ca):
    """A server with auth and the recovery endpoint, for the tests that never regenerate."""
    server = _with_recovery(make_module_server)
    assert CREATED in cli_ok(server, "create", "token", "--admin", *ca)
    return server


@pytest.fixture(scope="module")
def noauth(make_module_server):
    """Without auth (upstream's default harness), with the recovery endpoint."""
    return _with_recovery(make_module_server, auth=False)


def _regenerate_through_recovery(server, ca) -> str:
    out = cli_ok(None, "create", "token", "--admin", "--regenerate", "--host",
                 server.recovery_url, *ca, input="yes\n")
    assert CREATED in out
    return _token(out)


def _listening(server) -> set[int]:
    """The TCP ports the server process listens on (its own sockets: no probe of a port that
    another test's server may have taken)."""
    return {c.laddr.port for c in psutil.Process(server.process.pid).net_connections("tcp")
            if c.status == psutil.CONN_LISTEN}


def _create_database(server, ca, name: str, token: str) -> str:
    return cli_ok(server, "create", "database", name, "--token", token, *ca)


def _refused_database(server, ca, name: str, token: str) -> str:
    return cli_fails(server, "create", "database", name, "--token", token, *ca)


# -- named admin tokens


def test_cli_admin_token_test_create_named_admin_token(ops, ca):
    server, operator = ops
    out = cli_ok(server, "create", "token", "--admin", "--name", "foo_admin_named",
                 "--token", operator, *ca)
    assert CREATED in out


@pytest.mark.differs(EXIT_STATUS.format(code=409))
def test_cli_admin_token_test_create_named_admin_token_only_once(ops, ca):
    server, operator = ops
    args = ("create", "token", "--admin", "--name", "foo_admin_once", "--token", operator, *ca)
    assert CREATED in cli_ok(server, *args)
    error = cli_fails(server, *args)
    assert "server answered 409: token name already exists, foo_admin_once" in error


def test_cli_admin_token_test_named_admin_token_works(ops, ca):
    server, operator = ops
    named = _token(cli_ok(server, "create", "token", "--admin", "--name", "foo_admin_works",
                          "--token", operator, *ca))
    out = _create_database(server, ca, "sample_db_named", named)
    assert 'Database "sample_db_named" created successfully' in out


def test_cli_admin_token_test_named_admin_token_cannot_be_regenerated(ops, ca):
    server, operator = ops
    named = _token(cli_ok(server, "create", "token", "--admin", "--name", "foo_admin_regen",
                          "--token", operator, *ca))
    for token in (operator, named):
        error = cli_fails(server, "create", "token", "--admin", "--name", "foo_admin_regen",
                          "--regenerate", "--token", token, *ca)
        assert ("--regenerate cannot be used with --name, --regenerate only applies for "
                "operator token") in error


@pytest.mark.differs(EXIT_STATUS.format(code=405))
def test_cli_admin_token_test_create_named_admin_token_endpoint_disabled(noauth, ca):
    error = cli_fails(noauth, "create", "token", "--admin", "--name", "foo_admin",
                      *ca, input="yes\n")
    assert "405: endpoint disabled, started without auth" in error


def test_cli_admin_token_test_delete_named_admin_token(ops, ca):
    server, operator = ops
    for delete_with in ("operator", "admin"):  # yes: the named token deletes itself
        named = _token(cli_ok(server, "create", "token", "--admin", "--name", "foo_admin_del",
                              "--token", operator, *ca))
        assert "foo_admin_del" in cli_ok(server, "show", "tokens", "--token", operator, *ca)
        token = operator if delete_with == "operator" else named
        cli_ok(server, "delete", "token", "--token-name", "foo_admin_del", "--token", token, *ca,
               input="yes\n")
        assert "foo_admin_del" not in cli_ok(server, "show", "tokens", "--token", operator,
                                             *ca)


def test_cli_admin_token_test_delete_token_with_yes_flag(ops, ca):
    server, operator = ops
    out = cli_ok(server, "create", "token", "--admin", "--name", "to_delete", "--token",
                 operator, *ca)
    assert CREATED in out
    assert "to_delete" in cli_ok(server, "show", "tokens", "--token", operator, *ca)
    out = cli_ok(server, "delete", "token", "--token-name", "to_delete", "--token", operator,
                 *ca, "--yes")
    assert "deleted successfully" in out
    assert "to_delete" not in cli_ok(server, "show", "tokens", "--token", operator, *ca)


@pytest.mark.differs("upstream's refusal reads '... [401 Unauthorized] ...'; timewell's 'Error: "
                     "server answered 401: a valid token is needed; ...' (the same status; "
                     "contract: CLI failures)")
def test_cli_admin_token_test_check_named_admin_token_expiry_works(ops, ca):
    server, operator = ops
    out = cli_ok(server, "create", "token", "--admin", "--name", "foo_admin_expiry", "--token",
                 operator, "--expiry", "2s", *ca)
    assert CREATED in out
    named = _token(out)
    # the token works: checked over HTTP at once, as the CLI's own start-up can take longer
    # than the 2 s on a loaded machine (upstream's Rust CLI starts in milliseconds)
    response = api(server, "POST", "/api/v3/configure/database", json={"db": "sample_db"},
                   headers={"Authorization": f"Bearer {named}"})
    assert response.status_code == 200, response.text
    time.sleep(2)
    error = _refused_database(server, ca, "sample_2_db", named)
    assert "server answered 401" in error


# -- the admin token recovery endpoint


@pytest.mark.differs(EXIT_STATUS.format(code=401))
def test_cli_admin_token_test_regenerate_admin_token_without_auth_using_token_recovery_service(
        make_test_server, ca):
    server = _with_recovery(make_test_server)
    out = cli_ok(server, "create", "token", "--admin", *ca)
    assert CREATED in out
    old = _token(out)
    # regenerating needs the operator token on the main address
    error = cli_fails(server, "create", "token", "--admin", "--regenerate", *ca, input="yes\n")
    assert "server answered 401" in error
    new = _regenerate_through_recovery(server, ca)
    assert new != old
    assert "server answered 401" in _refused_database(server, ca, "sample_db", old)
    out = _create_database(server, ca, "sample_db", new)
    assert 'Database "sample_db" created successfully' in out


def test_cli_admin_token_test_recovery_service_only_accepts_regenerate_endpoint(recovery, ca):
    for args in (("create", "database", "--host", recovery.recovery_url, "test_db"),
                 ("show", "tokens", "--host", recovery.recovery_url)):
        error = cli_fails(recovery, *args, *ca)
        assert "error" in error.lower()
        assert ("server answered 404: the admin token recovery endpoint only regenerates the "
                "operator token") in error


@pytest.mark.differs(EXIT_STATUS.format(code=404))
def test_cli_admin_token_test_recovery_service_with_auth_disabled(noauth, ca):
    error = cli_fails(None, "create", "token", "--admin", "--regenerate", "--host",
                      noauth.recovery_url, *ca, input="yes\n")
    assert "missing admin token, cannot update" in error


def test_cli_admin_token_test_recovery_service_does_not_affect_named_admin_tokens(
        make_test_server, ca):
    server = _with_recovery(make_test_server)
    operator = _token(cli_ok(server, "create", "token", "--admin", *ca))
    named = _token(cli_ok(server, "create", "token", "--admin", "--name", "test_admin",
                          "--token", operator, *ca))
    new_operator = _regenerate_through_recovery(server, ca)
    assert "server answered 401" in _refused_database(server, ca, "test_db1", operator)
    assert 'Database "test_db2" created successfully' in _create_database(
        server, ca, "test_db2", named)
    assert 'Database "test_db3" created successfully' in _create_database(
        server, ca, "test_db3", new_operator)


def test_cli_admin_token_test_recovery_service_cannot_create_new_admin_token(recovery, ca):
    error = cli_fails(recovery, "create", "token", "--admin", "--host", recovery.recovery_url,
                      *ca)
    assert "error" in error.lower() and "server answered 404" in error


def test_cli_admin_token_test_recovery_endpoint_disabled_by_default(ops):
    """Upstream probes the default recovery address (127.0.0.1:8182), which a shared machine
    may have in use: here, the server without the flag listens on its HTTP port alone."""
    server, _ = ops
    assert _listening(server) == {server.port}
    assert "recovery endpoint" not in server.log()


def test_cli_admin_token_test_recovery_endpoint_auto_shutdown_after_regeneration(
        make_test_server, ca):
    server = _with_recovery(make_test_server)
    initial = _token(cli_ok(server, "create", "token", "--admin", *ca))
    new = _regenerate_through_recovery(server, ca)
    # the shutdown, from the server's log (a probe of the freed port could reach another
    # test's server, as upstream notes)
    wait_for(lambda: SHUTDOWN in server.log(), timeout=30)
    wait_for(lambda: _listening(server) == {server.port}, timeout=30)  # (timewell) it did
    assert initial != new
    _create_database(server, ca, "test_db", new)  # the main server still runs
    _refused_database(server, ca, "test_db2", initial)


def test_cli_admin_token_test_main_server_continues_after_recovery_endpoint_shutdown(
        make_test_server, ca):
    server = _with_recovery(make_test_server)
    initial = _token(cli_ok(server, "create", "token", "--admin", *ca))
    _create_database(server, ca, "before_recovery_db", initial)
    new = _regenerate_through_recovery(server, ca)
    assert initial != new
    time.sleep(0.5)
    _create_database(server, ca, "after_recovery_db", new)
    assert _listening(server) == {server.port}  # (timewell) and the recovery address closed

