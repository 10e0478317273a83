"""Hardening end to end: request size limits hold memory down, results are bounded, TLS works,
and no path or header makes the server fail."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import zlib

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ServerProcess, free_port

MiB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def gzip_bomb(inflated: int) -> bytes:
    """A gzip stream of `inflated` zero bytes, built without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MiB)
    parts = [packer.compress(chunk) for _ in range(inflated // MiB)]
    return b"".join(parts) + packer.flush()


def test_gzip_bomb_and_oversize_bodies_leave_memory_bounded(make_server):
    server = make_server()
    url = f"{server.url}/api/v3/write_lp?db=bomb"
    assert httpx.post(url, content=b"m f=1").status_code == 204
    before = rss_bytes(server.process.pid)

    bomb = gzip_bomb(1024 * MiB)  # 1 GiB inflated, about 1 MiB sent
    assert len(bomb) < 2 * MiB
    response = httpx.post(url, content=bomb, headers={"Content-Encoding": "gzip"}, timeout=60)
    assert response.status_code == 413 and "after decompression" in response.json()["error"]

    declared = httpx.post(url, content=b"x" * (11 * MiB))
    assert declared.status_code == 413

    def streamed():  # no Content-Length: the server must stop reading at its limit
        for _ in range(100):
            yield b"m f=1\n" * (MiB // 6)

    try:
        response = httpx.post(url, content=streamed(), timeout=60)
        assert response.status_code == 413
    except httpx.TransportError:
        pass  # the server may close the connection while 100 MB are still being sent
    grown = rss_bytes(server.process.pid) - before
    assert grown < 200 * MiB, f"server memory grew by {grown / MiB:.0f} MiB"
    assert httpx.post(url, content=b"m f=2").status_code == 204


def raw_request(port: int, head: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # refused mid-way: read what was answered
            sock.sendall(head)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
        return answer


def test_oversize_request_heads_get_431(make_server):
    server = make_server()
    small = raw_request(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: "
                        + b"a" * 30_000 + b"\r\nConnection: close\r\n\r\n")
    assert small.startswith(b"HTTP/1.1 200")
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(1000))
    answer = raw_request(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431") and b"headers are larger than" in answer
    before = rss_bytes(server.process.pid)
    endless = b"GET /health HTTP/1.1\r\nX-Endless: " + b"c" * (50 * MiB)
    assert raw_request(server.port, endless).startswith(b"HTTP/1.1 431")
    long_url = raw_request(server.port, b"GET /health?" + b"q" * 100_000 + b" HTTP/1.1\r\n\r\n")
    assert long_url.startswith(b"HTTP/1.1 431")
    assert rss_bytes(server.process.pid) - before < 50 * MiB
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_query_results_past_the_limit_are_refused(make_server):
    server = make_server("--max-query-result-bytes", "20000")
    lines = "\n".join(f"m,host=h{i % 10} v={i}i {i}" for i in range(5000))
    assert server.write(lines, precision="ns").status_code == 204
    response = server.query("SELECT * FROM m")
    assert response.status_code == 422
    message = response.json()["error"]
    assert "LIMIT" in message and "--max-query-result-bytes" in message
    assert len(server.rows("SELECT * FROM m LIMIT 10")) == 10
    assert server.rows("SELECT count(*) AS n FROM m") == [{"n": 5000}]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_a_self_signed_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    log = open(tmp_path / "tls.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "timewell", "serve", "--data-dir", str(tmp_path / "data"),
         "--http-bind", f"127.0.0.1:{port}", "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=log, stderr=subprocess.STDOUT)
    verify = ssl.create_default_context(cafile=str(cert))
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{url}/health", verify=verify)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, \
                    (tmp_path / "tls.log").read_text()
                time.sleep(0.1)
        assert response.status_code == 401  # TLS carries the requests; auth is still on
        token = httpx.post(f"{url}/api/v3/configure/token/admin", verify=verify).json()
        response = httpx.get(f"{url}/health", verify=verify,
                             headers={"Authorization": f"Bearer {token['token']}"})
        assert response.text == "OK"
        cli = subprocess.run(  # the CLI trusts a private CA through SSL_CERT_FILE
            [sys.executable, "-m", "timewell", "show", "databases", "-H", url],
            env={**os.environ, "SSL_CERT_FILE": str(cert), "TIMEWELL_AUTH_TOKEN": token["token"]},
            capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    result = subprocess.run([sys.executable, "-m", "timewell", "serve", "--tls-cert", str(cert)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--tls-key" in result.stderr


def test_path_parameters_cannot_escape(tmp_path, make_server):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (tmp_path / "outside.py").write_text(
        "def process_request(influxdb3_local, query_parameters, request_headers,\n"
        "                    request_body, args=None):\n    return 'escaped'\n")
    (plugins / "inside.py").write_text(
        (tmp_path / "outside.py").read_text().replace("escaped", "inside"))
    (plugins / "link.py").symlink_to(tmp_path / "outside.py")
    server = make_server("--plugin-dir", str(plugins))
    http = server.client()
    assert http.post("/api/v3/configure/database", json={"db": "t"}).status_code == 200
    for name in ["../outside.py", str(tmp_path / "outside.py"), "link.py", "./../outside.py",
                 "sub/../../outside.py", "%2e%2e/outside.py", "..\\outside.py", "\x00.py"]:
        response = http.post("/api/v3/configure/processing_engine_trigger", json={
            "db": "t", "trigger_name": "x", "plugin_filename": name,
            "trigger_specification": "request:x"})
        assert 400 <= response.status_code < 500, (name, response.text)
        response = http.post("/api/v3/plugin_test/wal", json={
            "filename": name, "database": "t", "input_lp": "m f=1"})
        assert response.status_code >= 400 or response.json()["errors"], name
        response = http.post("/api/v3/plugins/files", json={
            "plugin_name": name.replace("outside", "written"), "content": "x = 1\n"})
        # `%2e%2e` and a backslash are plain characters of a file name inside the directory
        escapes = name not in ("%2e%2e/outside.py", "..\\outside.py")
        assert not escapes or 400 <= response.status_code < 500, (name, response.text)
    assert [p.name for p in tmp_path.glob("written*")] == []
    assert "escaped" in (tmp_path / "outside.py").read_text()  # not overwritten via link.py
    for db in ["../t", "t/../../x", "/etc", "..", "t%2F..%2F.."]:
        assert http.post("/api/v3/configure/database", json={"db": db}).status_code == 400
        assert http.post("/api/v3/write_lp", params={"db": db},
                         content=b"m f=1").status_code == 400
    for path in ["/api/v3/engine/../../etc/passwd", "/api/v3/engine/%2e%2e/%2e%2e/etc/passwd",
                 "/api/v3/engine/..%2f..%2fetc%2fpasswd", "/../../etc/passwd"]:
        connection = http_connection(server.port)
        connection.request("GET", path)
        status = connection.getresponse().status
        assert status == 404, (path, status)
    trigger = http.post("/api/v3/configure/processing_engine_trigger", json={
        "db": "t", "trigger_name": "x", "plugin_filename": "inside.py",
        "trigger_specification": "request:x"})
    assert trigger.status_code == 200
    assert http.get("/api/v3/engine/x").text == "inside"
    connection = http_connection(server.port)
    connection.request("GET", "/api/v3/engine/x/../x")
    assert connection.getresponse().status == 404  # a path is a name, not a file path


def http_connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> tuple[ServerProcess, str]:
    server = ServerProcess(tmp_path_factory.mktemp("guarded") / "data", auth=True).start()
    token = httpx.post(f"{server.url}/api/v3/configure/token/admin").json()["token"]
    yield server, token
    server.stop()


_PATHS = st.one_of(
    st.sampled_from(["/health", "/ping", "/write", "/query", "/api/v3/write_lp",
                     "/api/v3/query_sql", "/api/v3/configure/database",
                     "/api/v3/configure/token", "/api/v3/configure/token/admin/regenerate",
                     "/api/v3/configure/token/named_admin", "/api/v3/engine/x", "/api/v2/write",
                     "/api/v3/configure/processing_engine_trigger", "/metrics"]),
    st.text(st.sampled_from("abc/._-%2eEfF0?=&p"), max_size=40).map(lambda s: "/" + s),
)
_HEADER_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
            max_size=200),
    st.sampled_from(["Bearer", "Basic", "Token", "Basic Og==", "Basic OjpQ", "bearer  x",
                     "Basic " + "A" * 5000]),
    st.builds(lambda scheme, rest: f"{scheme} {rest}",
              st.sampled_from(["Bearer", "Token", "Basic", "BASIC", "bearer"]),
              st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=120)),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]), path=_PATHS,
       authorization=st.one_of(st.none(), _HEADER_VALUES),
       query=st.one_of(st.none(), st.sampled_from(["p=x", "p=", "p=apiv3_", "db=a&p=%00"])),
       with_valid_token=st.booleans())
def test_auth_headers_and_paths_never_get_a_5xx(guarded, method, path, authorization, query,
                                               with_valid_token):
    server, token = guarded
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    if query:
        path += ("&" if "?" in path else "?") + query
    connection = http_connection(server.port)
    try:
        connection.request(method, path, body=b"{}", headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status < 500, (method, path, authorization, body[:200])
    if authorization is None or token not in authorization:
        if path.split("?")[0] == "/api/v3/configure/token/admin":
            assert response.status in (405, 409)  # the bootstrap, done once already
        else:  # refused by auth, or by the HTTP parser before it
            assert response.status in (400, 401), (method, path, authorization, response.status)
        if response.status == 401:
            assert body == b""
    if with_valid_token and "regenerate" not in path:
        headers["Authorization"] = f"Bearer {token}"
        connection = http_connection(server.port)
        try:
            connection.request(method, path, body=b"{}", headers=headers)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        assert response.status < 500 and response.status != 401, (method, path)
