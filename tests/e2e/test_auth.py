"""Authentication end to end: a real server with auth on, every endpoint, every header form."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import ServerProcess
from timewell.auth import new_token_text, token_hash
from timewell.server.auth import MALFORMED_MESSAGE
from timewell.server.ui_routes import is_console_request

BOOTSTRAP = "/api/v3/configure/token/admin"
REGENERATE = "/api/v3/configure/token/admin/regenerate"


def endpoints() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, read from the app itself so that new
    endpoints are covered without editing this test."""
    from timewell.config import Settings
    from timewell.node import Node
    from timewell.server.app import build_app

    app = build_app(Node(Settings(object_store="memory")))
    found = []
    for route in app.routes:
        path = route.path.replace("{path:path}", "some/path")
        found += [(method, path) for method in sorted(route.methods or []) if method != "HEAD"]
    return found


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def header_forms(token: str) -> dict[str, dict]:
    basic = base64.b64encode(f"anyuser:{token}".encode()).decode()
    bare = base64.b64encode(f":{token}".encode()).decode()
    return {"bearer": bearer(token), "token": {"Authorization": f"Token {token}"},
            "basic": {"Authorization": f"Basic {basic}"},
            "basic-no-user": {"Authorization": f"Basic {bare}"}}


class AuthServer:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.url = server.url
        created = httpx.post(f"{self.url}{BOOTSTRAP}")
        assert created.status_code == 201, created.text
        self.admin = created.json()["token"]
        self.named = self.named_token("ci")
        self.expired = self.named_token("short", expiry_secs=1)
        self.deleted = self.named_token("gone")
        assert self.request("DELETE", "/api/v3/configure/token",
                            params={"token_name": "gone"}).status_code == 200
        time.sleep(1.1)  # `short` has expired

    def named_token(self, name: str, **body) -> str:
        response = self.request("POST", "/api/v3/configure/token/named_admin",
                                json={"token_name": name, **body})
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def request(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = {**bearer(token or self.admin), **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def auth(tmp_path_factory) -> AuthServer:
    server = ServerProcess(tmp_path_factory.mktemp("auth") / "data", auth=True).start()
    yield AuthServer(server)
    server.stop()


def test_every_endpoint_refuses_missing_wrong_expired_and_deleted_tokens(auth):
    valid_hash = token_hash(auth.admin).hex()
    refused = {
        "missing": {},
        "wrong": bearer(new_token_text()),
        "the stored hash": bearer(valid_hash),
        "expired": bearer(auth.expired),
        "deleted": bearer(auth.deleted),
    }
    checked = 0
    for method, path in endpoints():
        if path == BOOTSTRAP:
            continue  # open by design; see test_bootstrap_is_open_once
        if is_console_request({"path": path, "headers": []}):
            continue  # the web console's own files: open by design (tests/e2e/console/)
        for what, headers in refused.items():
            response = httpx.request(method, f"{auth.url}{path}", headers=headers,
                                     content=b"m f=1", timeout=30)
            assert response.status_code == 401, (method, path, what, response.text)
            assert response.content == b"", (method, path, what)
            checked += 1
    assert checked > 100


def test_every_endpoint_refuses_a_malformed_authorization_header_with_400(auth):
    malformed = {
        "bearer alone": "Bearer",
        "unknown scheme": f"Digest {auth.admin}",
        "lowercase scheme": f"bearer {auth.admin}",
        "token with a space": f"Bearer {auth.admin} extra",
        "bad basic": "Basic !!notbase64",
        "basic without password": "Basic " + base64.b64encode(auth.admin.encode()).decode(),
    }
    for method, path in endpoints():
        if path == BOOTSTRAP or is_console_request({"path": path, "headers": []}):
            continue  # open by design: the bootstrap, the web console's own files
        for what, value in malformed.items():
            response = httpx.request(method, f"{auth.url}{path}",
                                     headers={"Authorization": value}, content=b"m f=1",
                                     timeout=30)
            assert response.status_code == 400, (method, path, what, response.text)
            assert response.json() == {"error": MALFORMED_MESSAGE}, (method, path, what)


def test_every_endpoint_accepts_a_valid_token_in_each_header_form(auth):
    for method, path in endpoints():
        if path in (BOOTSTRAP, REGENERATE):
            continue  # the bootstrap is open, and a regeneration would revoke auth.admin
        for token in (auth.admin, auth.named):
            for form, headers in header_forms(token).items():
                response = httpx.request(method, f"{auth.url}{path}", headers=headers,
                                         timeout=30)
                assert response.status_code not in (401, 403), (method, path, form)
                assert response.status_code < 500, (method, path, form, response.text)


def test_v1_endpoints_take_the_token_as_p(auth):
    response = httpx.post(f"{auth.url}/write", params={"db": "v1auth", "p": auth.named},
                          content=b"m f=1i 1")
    assert response.status_code == 204, response.text
    for bad in (auth.expired, auth.deleted, "nope"):
        response = httpx.post(f"{auth.url}/write", params={"db": "v1auth", "p": bad},
                              content=b"m f=1i 1")
        assert response.status_code == 401 and response.content == b""
    # `p=` is only for v1: elsewhere it is just a query parameter
    response = httpx.post(f"{auth.url}/api/v3/write_lp", params={"db": "v1auth", "p": auth.admin},
                          content=b"m f=1i 1")
    assert response.status_code == 401
    rows = auth.request("GET", "/api/v3/query_sql",
                        params={"db": "v1auth", "q": "SELECT f FROM m"}).json()
    assert rows == [{"f": 1}]


def test_bootstrap_is_open_once_and_regenerate_needs_the_operator_token(auth):
    response = httpx.post(f"{auth.url}{BOOTSTRAP}")
    assert response.status_code == 409 and "exists already" in response.json()["error"]
    response = auth.request("POST", REGENERATE, token=auth.named)
    assert response.status_code == 403 and response.content == b""
    old = auth.admin
    response = auth.request("POST", REGENERATE)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "token", "hash", "created_at", "expiry"}
    assert body["name"] == "_admin" and body["hash"] == token_hash(body["token"]).hex()
    auth.admin = body["token"]
    assert auth.request("GET", "/api/v3/configure/database", token=old).status_code == 401
    assert auth.request("GET", "/api/v3/configure/database").status_code == 200
    response = auth.request("DELETE", "/api/v3/configure/token", params={"token_name": "_admin"})
    assert response.status_code == 405
    response = auth.request("POST", "/api/v3/configure/token/named_admin",
                            json={"token_name": "ci"})
    assert response.status_code == 409


def test_authorization_never_reaches_plugins_or_logs(make_server, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "echo.py").write_text(
        "def process_request(influxdb3_local, query_parameters, request_headers,\n"
        "                    request_body, args=None):\n"
        "    influxdb3_local.info('headers', sorted(request_headers))\n"
        "    return {'headers': request_headers, 'query': query_parameters}\n")
    (plugins / "tick.py").write_text(
        "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n")
    server = make_server("--plugin-dir", str(plugins), "--log-level", "debug", auth=True)
    admin = httpx.post(f"{server.url}{BOOTSTRAP}").json()["token"]
    headers = bearer(admin)
    assert httpx.post(f"{server.url}/api/v3/configure/database", json={"db": "hooks"},
                      headers=headers).status_code == 200

    def create(name: str, spec: str, plugin: str, **settings):
        return httpx.post(f"{server.url}/api/v3/configure/processing_engine_trigger", json={
            "db": "hooks", "trigger_name": name, "plugin_filename": plugin,
            "trigger_specification": spec, "trigger_settings": settings}, headers=headers)

    assert create("private", "request:private", "echo.py").status_code == 200
    assert create("open", "request:open", "echo.py", public=True).status_code == 200
    refused = create("tick", "every:1h", "tick.py", public=True)
    assert refused.status_code == 400 and "only request triggers" in refused.text

    assert httpx.get(f"{server.url}/api/v3/engine/private").status_code == 401
    assert httpx.get(f"{server.url}/api/v3/engine/private",
                     headers=bearer(new_token_text())).status_code == 401
    private = httpx.get(f"{server.url}/api/v3/engine/private", headers=headers)
    assert private.status_code == 200 and "authorization" not in private.json()["headers"]
    public = httpx.get(f"{server.url}/api/v3/engine/open", params={"x": "1"})
    assert public.status_code == 200 and public.json()["query"] == {"x": "1"}
    with_token = httpx.get(f"{server.url}/api/v3/engine/open", headers=headers)
    assert "authorization" not in with_token.json()["headers"]
    rows = httpx.post(f"{server.url}/api/v3/query_sql", headers=headers, json={
        "db": "hooks", "q": "SELECT trigger_name, public FROM system.processing_engine_triggers "
                            "ORDER BY trigger_name"}).json()
    assert rows == [{"trigger_name": "open", "public": True},
                    {"trigger_name": "private", "public": False}]
    # a disabled public trigger is no longer public
    httpx.post(f"{server.url}/api/v3/configure/processing_engine_trigger/disable",
               params={"db": "hooks", "trigger_name": "open"}, headers=headers)
    assert httpx.get(f"{server.url}/api/v3/engine/open").status_code == 401

    # the secrets never show in the server's log, whatever was asked
    httpx.post(f"{server.url}/write", params={"db": "hooks", "p": admin}, content=b"bad line")
    httpx.post(f"{server.url}/api/v3/write_lp?db=hooks", headers=headers, content=b"m f=1")
    named = httpx.post(f"{server.url}/api/v3/configure/token/named_admin", headers=headers,
                       json={"token_name": "n"}).json()["token"]
    httpx.delete(f"{server.url}/api/v3/configure/token", params={"token_name": "n"},
                 headers=headers)
    httpx.get(f"{server.url}/api/v3/query_sql", headers=bearer(named))
    server.stop()
    log = server.log()
    assert "operator token '_admin' created" in log
    for secret in (admin, named, token_hash(admin).hex()):
        assert secret not in log and secret[6:30] not in log


def test_without_auth_token_endpoints_answer_405(make_server):
    server = make_server()  # --without-auth
    assert httpx.post(f"{server.url}{BOOTSTRAP}").status_code == 405
    response = httpx.delete(f"{server.url}/api/v3/configure/token", params={"token_name": "x"})
    assert response.status_code == 405 and "without auth" in response.json()["error"]
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_disable_authz_opens_only_the_named_endpoints(make_server):
    server = make_server("--disable-authz", "health,ping", auth=True)
    assert httpx.get(f"{server.url}/health").text == "OK"
    assert httpx.get(f"{server.url}/ping").status_code == 200
    assert httpx.get(f"{server.url}/api/v3/configure/database").status_code == 401
    result = subprocess.run([sys.executable, "-m", "timewell", "serve", "--disable-authz",
                             "health,query"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot open query" in result.stderr


def test_admin_token_file_presets_the_operator_token(make_server, tmp_path):
    text = new_token_text()
    token_file = tmp_path / "admin-token.json"
    token_file.write_text(f'{{"token": "{text}", "name": "_admin"}}')
    token_file.chmod(0o600)
    server = make_server("--admin-token-file", str(token_file), auth=True)
    assert httpx.get(f"{server.url}/api/v3/configure/database",
                     headers=bearer(text)).status_code == 200
    assert httpx.post(f"{server.url}{BOOTSTRAP}").status_code == 409
    server.restart()  # the file again: nothing changes
    assert httpx.get(f"{server.url}/api/v3/configure/database",
                     headers=bearer(text)).status_code == 200
    token_file.write_text("not a token")
    result = subprocess.run([sys.executable, "-m", "timewell", "serve", "--admin-token-file",
                             str(token_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "holds no token" in result.stderr


def test_tokens_survive_restart_and_are_stored_only_as_hashes(make_server, tmp_path):
    server = make_server(auth=True)
    admin = httpx.post(f"{server.url}{BOOTSTRAP}").json()["token"]
    named = httpx.post(f"{server.url}/api/v3/configure/token/named_admin", headers=bearer(admin),
                       json={"token_name": "keep", "expiry_secs": 3600}).json()
    server.restart()
    assert httpx.get(f"{server.url}/api/v3/configure/database",
                     headers=bearer(named["token"])).status_code == 200
    rows = httpx.get(f"{server.url}/api/v3/query_sql", headers=bearer(admin), params={
        "db": "_internal", "q": "SELECT name, expiry FROM system.tokens ORDER BY name"}).json()
    assert [r["name"] for r in rows] == ["_admin", "keep"]
    assert rows[1]["expiry"].startswith(named["expiry"][:16])  # same minute, no zone
    on_disk = b"".join(p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file())
    for secret in (admin, named["token"]):
        assert secret.encode() not in on_disk


def test_bootstrap_flow_from_the_cli_as_the_readme_shows(make_server):
    server = make_server(auth=True)
    env = {**os.environ, "TIMEWELL_HOST_URL": server.url}
    env.pop("TIMEWELL_AUTH_TOKEN", None)
    env.pop("INFLUXDB3_AUTH_TOKEN", None)

    def timewell(*args, **extra_env):
        return subprocess.run([sys.executable, "-m", "timewell", *args],
                              env={**env, **extra_env}, capture_output=True, text=True,
                              timeout=60)

    refused = timewell("show", "databases")
    assert refused.returncode == 1 and "timewell create token --admin" in refused.stderr
    created = timewell("create", "token", "--admin")
    assert created.returncode == 0, created.stderr
    token = re.search(r"^Token: (apiv3_\S+)$", created.stdout, re.MULTILINE).group(1)
    assert f"export TIMEWELL_AUTH_TOKEN={token}" in created.stdout
    assert "will not be shown again" in created.stdout
    again = timewell("create", "token", "--admin")
    assert again.returncode == 1 and "409" in again.stderr

    env["TIMEWELL_AUTH_TOKEN"] = token
    assert timewell("create", "database", "sensors").returncode == 0
    assert timewell("write", "-d", "sensors", "home,room=kitchen temp=21.5 1700000000",
                    "--precision", "s").returncode == 0
    query = timewell("query", "-d", "sensors", "SELECT room, temp FROM home")
    assert query.returncode == 0 and "kitchen" in query.stdout
    named = timewell("create", "token", "--admin", "--name", "grafana", "--expiry", "10d",
                     "--format", "json")
    assert named.returncode == 0, named.stderr
    assert '"name": "grafana"' in named.stdout and '"expiry": "20' in named.stdout
    shown = timewell("show", "tokens")
    assert shown.returncode == 0 and "grafana" in shown.stdout and "_admin" in shown.stdout
    assert "apiv3_" not in shown.stdout
    assert timewell("delete", "token", "--token-name", "grafana", "--yes").returncode == 0
    assert "grafana" not in timewell("show", "tokens").stdout
    # the upstream name of the variable works too
    alias = timewell("show", "databases", TIMEWELL_AUTH_TOKEN="", INFLUXDB3_AUTH_TOKEN=token)
    assert alias.returncode == 0 and "sensors" in alias.stdout
    regenerated = timewell("create", "token", "--admin", "--regenerate", "--yes")
    assert regenerated.returncode == 0
    assert timewell("show", "databases").returncode == 1  # the old token was revoked


def test_arrow_flight_needs_a_token_too(auth):
    from influxdb_client_3 import InfluxDBClient3

    assert auth.request("POST", "/api/v3/write_lp", params={"db": "flightauth"},
                        content=b"m f=1i 1").status_code == 204
    with InfluxDBClient3(host=auth.url, token=auth.named, database="flightauth") as client:
        assert client.query("SELECT f FROM m", mode="pandas")["f"].tolist() == [1]
    for bad in (auth.expired, auth.deleted, new_token_text()):
        with InfluxDBClient3(host=auth.url, token=bad, database="flightauth") as client, \
                pytest.raises(Exception, match="(?i)unauthenticated|unauthorized"):
            client.query("SELECT f FROM m")
