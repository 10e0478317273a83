"""Fixtures for the conformance suite: upstream InfluxDB 3 Core's own server and CLI tests,
re-expressed against a real timewell server (see docs/compatibility.md).

Each module shares one server (module scope) to keep the suite fast; tests in a module use
their own database names so that they do not see each other's data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from tests.conftest import ServerProcess


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "differs(reason): timewell deliberately differs from upstream here; the test "
        "asserts timewell's behaviour, the reason names upstream's and why we differ")


@pytest.fixture(scope="module")
def make_module_server(tmp_path_factory):
    """Start servers that live as long as the module: `make(*extra_args, auth=False)`. Each has
    a plugin directory (`server.plugin_dir`)."""
    servers: list[ServerProcess] = []

    def make(*extra_args: str, auth: bool = False) -> ServerProcess:
        root = tmp_path_factory.mktemp("conformance")
        plugins = root / "plugins"
        plugins.mkdir()
        server = ServerProcess(root / "data", "--plugin-dir", str(plugins), *extra_args,
                               auth=auth)
        server.plugin_dir = plugins
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        if server.process and server.process.poll() is None:
            server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def module_server(make_module_server) -> ServerProcess:
    """One auth-less server for the whole module."""
    return make_module_server()


def cli(server: ServerProcess | None, *args: str, input: str | None = None,
        env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `timewell ARGS` (upstream's `influxdb3 ARGS`) against `server`."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    if server is not None:
        full_env["TIMEWELL_HOST_URL"] = server.url
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "timewell", *args], input=input, text=True,
                          capture_output=True, env=full_env, timeout=timeout)


def api(server: ServerProcess, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", timeout=30, **kwargs)


def write_lp(server: ServerProcess, db: str, lp: str, precision: str = "second",
             **params) -> httpx.Response:
    """The upstream test client's `write_lp_to_db`: `/api/v3/write_lp`, asserting success."""
    response = api(server, "POST", "/api/v3/write_lp",
                   params={"db": db, "precision": precision, **params}, content=lp.encode())
    assert response.status_code == 204, response.text
    return response


def query_sql(server: ServerProcess, db: str, q: str, fmt: str = "json") -> httpx.Response:
    return api(server, "GET", "/api/v3/query_sql", params={"db": db, "q": q, "format": fmt})


def query_influxql(server: ServerProcess, q: str, db: str | None = None,
                   fmt: str = "json") -> httpx.Response:
    params = {"q": q, "format": fmt}
    if db is not None:
        params["db"] = db
    return api(server, "GET", "/api/v3/query_influxql", params=params)


def flight_sql(server: ServerProcess, database: str, sql: str,
               headers: list[tuple[bytes, bytes]] = ()) -> pa.Table:
    """Upstream's `FlightSqlClient::query`: a Flight SQL CommandStatementQuery with the
    `database` header (and `headers`), then DoGet on its ticket."""
    return flight_sql_command(server, database, "CommandStatementQuery", proto(1, sql),
                              headers)[1]


def flight_sql_command(server: ServerProcess, database: str | None, name: str, body: bytes = b"",
                       headers: list[tuple[bytes, bytes]] = ()
                       ) -> tuple[flight.FlightInfo, pa.Table]:
    """A Flight SQL command (`name`, e.g. `CommandGetTables`, its fields encoded in `body`)
    as upstream's `FlightSqlServiceClient` sends it: GetFlightInfo, then DoGet on its
    ticket."""
    from timewell.server.flight_sql import pack_any

    command = pack_any(f"type.googleapis.com/arrow.flight.protocol.sql.{name}", body)
    options = flight_options(database, headers)
    with flight.FlightClient(flight_location(server)) as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
        return info, client.do_get(info.endpoints[0].ticket, options).read_all()


def flight_location(server: ServerProcess) -> str:
    return server.url.replace("http://", "grpc+tcp://").replace("https://", "grpc+tls://")


def flight_options(database: str | None,
                   headers: list[tuple[bytes, bytes]] = ()) -> flight.FlightCallOptions:
    named = [(b"database", database.encode())] if database is not None else []
    return flight.FlightCallOptions(headers=[*named, *headers])


def proto(number: int, value: bytes | str | int | bool) -> bytes:
    """One protobuf field: a string or bytes (length-delimited), or an integer or bool
    (varint)."""
    if isinstance(value, bool | int):
        return _varint(number << 3) + _varint(int(value))
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
