"""Shared fixtures: a real `timewell serve` process per test, reached over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A timewell server subprocess on a free loopback port with its own data directory.

    Auth is off (`--without-auth`) unless `auth=True`: only the auth tests need tokens.
    `tls=(cert, key, verify)` serves HTTPS at `https://localhost:<port>`; `verify` is what
    clients check the certificate with (a CA file, or False for a certificate that fails).
    `env` adds to the server's environment."""

    def __init__(self, data_dir: Path, *extra_args: str, auth: bool = False,
                 tls: tuple[Path, Path, Path | bool] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_args = list(extra_args) if auth else ["--without-auth", *extra_args]
        self.port = free_port()
        self.env = env
        if tls is None:
            self.url, self.verify = f"http://127.0.0.1:{self.port}", True
        else:
            cert, key, verify = tls
            self.extra_args += ["--tls-cert", str(cert), "--tls-key", str(key)]
            self.url = f"https://localhost:{self.port}"
            self.verify = (ssl.create_default_context(cafile=str(verify))
                           if isinstance(verify, Path) else verify)
        self.process: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self) -> ServerProcess:
        args = [sys.executable, "-m", "timewell", "serve", "--data-dir", str(self.data_dir),
                "--http-bind", f"127.0.0.1:{self.port}", "--wal-flush-interval", "10ms",
                *self.extra_args]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        env = {**os.environ, **self.env} if self.env else None
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                # 401 is an answer too: a server with auth on is up
                if httpx.get(f"{self.url}/health", timeout=1,
                             verify=self.verify).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` and wait; the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> ServerProcess:
        if self.process and self.process.poll() is None:
            self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, verify=self.verify, **kwargs)

    # conveniences used by many tests
    def write(self, lp: str | bytes, db: str = "test", **params) -> httpx.Response:
        body = lp.encode() if isinstance(lp, str) else lp
        return httpx.post(f"{self.url}/api/v3/write_lp", params={"db": db, **params},
                          content=body, timeout=30, verify=self.verify)

    def query(self, q: str, db: str = "test", fmt: str = "json", **extra) -> httpx.Response:
        return httpx.post(f"{self.url}/api/v3/query_sql",
                          json={"db": db, "q": q, "format": fmt, **extra}, timeout=30,
                          verify=self.verify)

    def rows(self, q: str, db: str = "test", **extra) -> list[dict]:
        response = self.query(q, db, **extra)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def make_server(tmp_path):
    servers: list[ServerProcess] = []

    def make(*extra_args: str, data_dir: Path | None = None, auth: bool = False) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / "data", *extra_args, auth=auth)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        if server.process and server.process.poll() is None:
            server.stop(signal.SIGKILL)


@pytest.fixture
def server(make_server) -> ServerProcess:
    return make_server()


@pytest.fixture
def cli_env(server) -> dict:
    """Environment for running the `timewell` CLI against `server`."""
    env = dict(os.environ)
    env["TIMEWELL_HOST_URL"] = server.url
    return env


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory) -> ServerProcess:
    """One server for a whole module, for tests that only add data (fuzzing, clients)."""
    server = ServerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield server
    if server.process and server.process.poll() is None:
        server.stop(signal.SIGKILL)
