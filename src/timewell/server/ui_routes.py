"""The web console at `/ui/`: the files of `timewell/ui/static/`, read once and served
gzipped, under a path naming their content hash so browsers may keep them for good.

`index.html` is the only page; it names the asset path and whether the console must ask for a
token, and is never cached. Every answer carries a strict Content-Security-Policy (scripts and
styles from this origin only, no inline code, no eval) and refuses to be framed. `/` sends
browsers (`Accept: text/html`) to `/ui/`; other clients there need a token as before, and get
404 with one.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from timewell.ui import STATIC_DIR

UI_PREFIX = "/ui"
ASSETS = f"{UI_PREFIX}/assets"
FAVICON = "/favicon.ico"
_PUBLIC_PATHS = frozenset({UI_PREFIX, f"{UI_PREFIX}/", FAVICON})
_PUBLIC_PREFIX = f"{ASSETS}/"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
          ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}


def is_console_request(scope: Scope) -> bool:
    """Whether a request is for the console's own files, which need no token: its code is no
    secret, and it fetches nothing of the server's until the user gives a token. `/` counts
    only for browsers, so API clients there are still asked for a token."""
    path = scope["path"]
    if path == "/":
        return any(name == b"accept" and b"text/html" in value
                   for name, value in scope["headers"])
    return path in _PUBLIC_PATHS or path.startswith(_PUBLIC_PREFIX)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str

    @classmethod
    def of(cls, path: str, body: bytes) -> Asset:
        media_type = (_TYPES.get(Path(path).suffix) or mimetypes.guess_type(path)[0]
                      or "application/octet-stream")
        return cls(body, gzip.compress(body, 9, mtime=0), media_type)

    def response(self, request: Request, cache_control: str) -> Response:
        headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
        body = self.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=self.media_type, headers=headers)


class ConsoleFiles:
    """The console's files in memory, and the hash of them all that versions their paths."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        files = {p.relative_to(root).as_posix(): p.read_bytes()
                 for p in sorted(root.rglob("*")) if p.is_file()}
        digest = hashlib.sha256()
        for name, body in files.items():
            digest.update(name.encode() + b"\0" + body + b"\0")
        self.version = digest.hexdigest()[:16]
        template = files.pop("index.html")
        self.assets = {name: Asset.of(name, body) for name, body in files.items()}
        self._template = template.decode()

    def index(self, auth_required: bool) -> Asset:
        html = (self._template.replace("{{assets}}", f"{ASSETS}/{self.version}")
                .replace("{{auth}}", "required" if auth_required else "off"))
        return Asset.of("index.html", html.encode())


def routes(auth_required: bool, files: ConsoleFiles | None = None) -> list[Route]:
    files = files or ConsoleFiles()
    index = files.index(auth_required)
    favicon = files.assets["favicon.svg"]

    async def root(request: Request) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"{UI_PREFIX}/", 302)
        return JSONResponse({"error": "not found; the web console is at /ui/"}, 404)

    async def to_console(request: Request) -> Response:
        return RedirectResponse(f"{UI_PREFIX}/", 302)

    async def console(request: Request) -> Response:
        return index.response(request, "no-cache")

    async def asset(request: Request) -> Response:
        found = files.assets.get(request.path_params["path"])
        if found is None:
            return JSONResponse({"error": "no such console file"}, 404, headers=SECURITY_HEADERS)
        # an old page asking for an old version gets today's file, just not cached for good
        fresh = request.path_params["version"] == files.version
        return found.response(request, _IMMUTABLE if fresh else "no-cache")

    async def icon(request: Request) -> Response:
        return favicon.response(request, "public, max-age=86400")

    return [
        Route("/", root, methods=["GET"]),
        Route(UI_PREFIX, to_console, methods=["GET"]),
        Route(f"{UI_PREFIX}/", console, methods=["GET"]),
        Route(ASSETS + "/{version}/{path:path}", asset, methods=["GET"]),
        Route(FAVICON, icon, methods=["GET"]),
    ]
