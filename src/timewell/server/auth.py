"""The one place requests are authenticated: an ASGI middleware in front of every route.

Every path needs a valid token except the first admin token's creation, the endpoints opened
with `--disable-authz`, request triggers created public, and the web console's own files
(which fetch nothing without a token). A refused request gets `401` (no or bad token) or `403`
(a token that may not do this) with an empty body, or `400` with upstream's JSON error when the
`Authorization` header is not `<Bearer|Token|Basic> <token>`, before any route runs and before
its body is read. The `Authorization` header is removed once checked, so nothing downstream
(plugins, logs) ever sees it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from timewell.auth import Tokens

TOKEN_PATH = "/api/v3/configure/token"
BOOTSTRAP_PATH = "/api/v3/configure/token/admin"
REGENERATE_PATH = "/api/v3/configure/token/admin/regenerate"
ENGINE_PREFIX = "/api/v3/engine/"
OPENABLE_PATHS = {"health": "/health", "ping": "/ping", "metrics": "/metrics"}
_V1_PATHS = frozenset({"/write", "/query"})  # also take the token as `?p=`
_WITHOUT_AUTH = b'{"error":"endpoint disabled, started without auth"}'
_SCHEMES = (b"Bearer", b"Token", b"Basic")
MALFORMED_MESSAGE = ("Authorization header was malformed, the request was not in the form of "
                     "'Authorization: <auth-scheme> <token>', supported auth-schemes are Bearer, "
                     "Token and Basic")
_MALFORMED = json.dumps({"error": MALFORMED_MESSAGE}).encode()


class MalformedAuthorization(ValueError):
    """An `Authorization` header that is not `<Bearer|Token|Basic> <token>`."""

    def __init__(self) -> None:
        super().__init__(MALFORMED_MESSAGE)


class AuthMiddleware:
    def __init__(self, app: ASGIApp, tokens: Tokens | None,
                 is_public_request: Callable[[str], bool],
                 open_paths: frozenset[str] = frozenset(),
                 is_console_request: Callable[[Scope], bool] | None = None) -> None:
        """`tokens` None: auth is off (`--without-auth`). `is_public_request(path)` says
        whether `/api/v3/engine/<path>` is served by a trigger created public. `open_paths`
        and the requests `is_console_request` accepts (the web console's files) need no
        token."""
        self.app = app
        self._tokens = tokens
        self._is_public_request = is_public_request
        self._open_paths = open_paths
        self._is_console_request = is_console_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self._tokens is None:
            if path == TOKEN_PATH or path.startswith(TOKEN_PATH + "/"):
                await _respond(send, 405, _WITHOUT_AUTH)
                return
            await self.app(scope, receive, send)
            return
        if (path == BOOTSTRAP_PATH or path in self._open_paths
                or (self._is_console_request is not None and self._is_console_request(scope))
                or (path.startswith(ENGINE_PREFIX)
                    and self._is_public_request(path[len(ENGINE_PREFIX):]))):
            await self.app(_without_authorization(scope), receive, send)
            return
        try:
            presented = presented_tokens(scope)
        except MalformedAuthorization:
            await _respond(send, 400, _MALFORMED)
            return
        token = next(filter(None, map(self._tokens.verify, presented)), None)
        if token is None:
            await _respond(send, 401)
            return
        # Only the operator token may replace itself: a named (perhaps expiring) admin token
        # must not be able to mint a permanent one.
        if path == REGENERATE_PATH and not self._tokens.is_operator(token):
            await _respond(send, 403)
            return
        await self.app(_without_authorization(scope), receive, send)


def header_authorizer(tokens: Tokens) -> Callable[[str | None], bool]:
    """For calls that are not HTTP/1.1 requests (Arrow Flight): whether an `authorization`
    value carries a valid token, in any of the forms HTTP requests may use. (Upstream answers
    every refusal, malformed header or not, with UNAUTHENTICATED there.)"""

    def authorize(value: str | None) -> bool:
        try:
            token = parse_authorization(value.encode("utf-8", "replace")) if value else None
        except MalformedAuthorization:
            return False
        return token is not None and tokens.verify(token) is not None

    return authorize


def presented_tokens(scope: Scope) -> list[bytes]:
    """The tokens a request carries: `?p=` on the v1 endpoints, and the Authorization header's
    (`Bearer <t>`, `Token <t>`, or Basic with the token as password). A malformed header raises
    `MalformedAuthorization`, unless a `p=` token makes it irrelevant (as upstream)."""
    found = []
    if scope["path"] in _V1_PATHS and b"p=" in scope["query_string"]:
        found += [value.encode("latin-1")
                  for name, value in parse_qsl(scope["query_string"].decode("latin-1"))
                  if name == "p" and value]
    for name, value in scope["headers"]:
        if name == b"authorization":
            try:
                token = parse_authorization(value)
            except MalformedAuthorization:
                if not found:
                    raise
                token = None
            if token:
                found.append(token)
            break
    return found


def parse_authorization(value: bytes) -> bytes:
    """The token in an `Authorization` value, as upstream reads it: exactly two parts split on
    one space, the scheme spelled `Bearer`, `Token` or `Basic` (case matters), and for Basic a
    base64 `user:token` whose user has no colon. An empty token is returned empty (it then
    fails authentication, a 401, not a 400)."""
    parts = value.split(b" ")
    if len(parts) != 2 or parts[0] not in _SCHEMES:
        raise MalformedAuthorization
    scheme, credentials = parts
    if scheme != b"Basic":
        return credentials
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedAuthorization from None
    user, sep, password = decoded.rpartition(":")
    if not sep or ":" in user:
        raise MalformedAuthorization
    return password.encode()


def _without_authorization(scope: Scope) -> Scope:
    headers = scope["headers"]
    if not any(name == b"authorization" for name, _ in headers):
        return scope
    scope = dict(scope)
    scope["headers"] = [(n, v) for n, v in headers if n != b"authorization"]
    return scope


async def _respond(send: Send, status: int, body: bytes = b"") -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="timewell"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
