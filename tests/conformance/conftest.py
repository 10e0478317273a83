"""Fixtures for the conformance suite: upstream InfluxDB 3 Core's own server and CLI tests,
re-expressed against a real timewell server (see docs/compatibility.md).

Each module shares one server (module scope) to keep the suite fast; tests in a module use
their own database names so that they do not see each other's data."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from tests.conftest import ServerProcess
from tests.helpers import proto


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "differs(reason): timewell deliberately differs from upstream here; the test "
        "asserts timewell's behaviour, the reason names upstream's and why we differ")


@dataclass(frozen=True)
class TestingCerts:
    """Upstream's `testing-certs/`: a root CA, a `localhost` certificate it signed, and an
    expired one (`localhost_bad`)."""

    root_ca: Path
    cert: Path
    key: Path
    bad_cert: Path
    bad_key: Path


@pytest.fixture(scope="session")
def testing_certs(tmp_path_factory) -> TestingCerts:
    """Made once per session, as upstream's harness makes its `testing-certs/`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    root = tmp_path_factory.mktemp("testing-certs")
    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def pem(path: Path, data: bytes) -> Path:
        path.write_bytes(data)
        return path

    def key_pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("timewell test CA"))
          .issuer_name(name("timewell test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(not_before: dt.datetime, not_after: dt.datetime):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name("localhost"))
                .issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    good, good_key = leaf(now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    bad, bad_key = leaf(epoch, epoch + dt.timedelta(seconds=1))  # long expired, as upstream's
    return TestingCerts(pem(root / "rootCA.pem", ca.public_bytes(serialization.Encoding.PEM)),
                        pem(root / "localhost.pem", good), pem(root / "localhost.key", good_key),
                        pem(root / "localhost_bad.pem", bad),
                        pem(root / "localhost_bad.key", bad_key))


@pytest.fixture(scope="module")
def ca(testing_certs) -> tuple[str, str]:
    """The CLI arguments that trust the session's test CA (upstream's `--tls-ca`)."""
    return ("--tls-ca", str(testing_certs.root_ca))


def _server_factory(tmp_path_factory, testing_certs: TestingCerts):
    servers: list[ServerProcess] = []

    def make(*extra_args: str, auth: bool = False, tls: str | None = None,
             env: dict[str, str] | None = None) -> ServerProcess:
        root = tmp_path_factory.mktemp("conformance")
        plugins = root / "plugins"
        plugins.mkdir()
        certs = testing_certs
        served = {None: None,
                  "good": (certs.cert, certs.key, certs.root_ca),
                  "bad": (certs.bad_cert, certs.bad_key, False)}[tls]
        server = ServerProcess(root / "data", "--plugin-dir", str(plugins), *extra_args,
                               auth=auth, tls=served, env=env)
        server.plugin_dir = plugins
        servers.append(server)
        return server.start()

    return make, servers


def _stop_all(servers: list[ServerProcess]) -> None:
    for server in servers:
        if server.process and server.process.poll() is None:
            server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def make_module_server(tmp_path_factory, testing_certs):
    """Start servers that live as long as the module: `make(*extra_args, auth=False,
    tls=None, env=None)`. Each has a plugin directory (`server.plugin_dir`). `tls="good"`
    serves HTTPS with a certificate `testing_certs.root_ca` signed (as upstream's harness
    does), `tls="bad"` with an expired one; `env` adds to the server's environment."""
    make, servers = _server_factory(tmp_path_factory, testing_certs)
    yield make
    _stop_all(servers)


@pytest.fixture
def make_test_server(tmp_path_factory, testing_certs):
    """As `make_module_server`, for servers a test needs in a state of its own (upstream
    starts one per test): stopped at the end of the test."""
    make, servers = _server_factory(tmp_path_factory, testing_certs)
    yield make
    _stop_all(servers)


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


def cli_ok(server: ServerProcess | None, *args: str, input: str | None = None,
           env: dict | None = None) -> str:
    """Upstream's `server.run(...)`: the CLI succeeds; its output, trimmed."""
    result = cli(server, *args, input=input, env=env)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout.strip()


def cli_fails(server: ServerProcess | None, *args: str, input: str | None = None,
              env: dict | None = None) -> str:
    """Upstream's `server.run(...).unwrap_err()`: the CLI fails; what it printed."""
    result = cli(server, *args, input=input, env=env)
    assert result.returncode != 0, (args, result.stdout)
    return result.stdout + result.stderr


def api(server: ServerProcess, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", timeout=30, verify=server.verify,
                         **kwargs)


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
