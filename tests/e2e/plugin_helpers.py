"""Offline stand-ins for the outside world of plugins: wheels built on the spot, a plugin
repository served over local HTTP, and local git repositories."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import subprocess
import textwrap
import threading
import zipfile
from pathlib import Path


def build_wheel(folder: Path, name: str, version: str, modules: dict[str, str],
                requires: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel written by hand (no build backend, no network)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name.replace('-', '_')}-{version}"
    entries = {path: textwrap.dedent(text) for path, text in modules.items()}
    entries[f"{dist}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires))
    entries[f"{dist}.dist-info/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: timewell-tests\n"
                                          "Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = []
    for path, text in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
        record.append(f"{path},sha256={digest.rstrip(b'=').decode()},{len(text.encode())}")
    entries[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"])
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in entries.items():
            archive.writestr(path, text)
    return wheel


def offline_installers(monkeypatch, wheels: Path) -> None:
    """Point pip and uv (in servers started afterwards) at `wheels` only, never an index."""
    for name, value in {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels),
                        "UV_OFFLINE": "1", "UV_NO_INDEX": "1",
                        "UV_FIND_LINKS": str(wheels)}.items():
        monkeypatch.setenv(name, value)


class StaticServer:
    """Serves a directory over HTTP on a free loopback port, counting requests."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:
                requests.append(self.path)

        handler = functools.partial(Handler, directory=str(root))
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class GitRepo:
    """A local git repository to use as --plugin-repo."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=test", "-c", "user.email=test@example.com",
             "-c", "commit.gpgsign=false", *args],
            cwd=self.path, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")
