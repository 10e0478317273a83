"""API tokens: made, verified, regenerated and deleted, kept in the catalog as SHA-512 hashes.

A token is `apiv3_` followed by 64 random bytes in URL-safe base64, so its hash needs no salt:
nobody can guess a token to match a stolen hash. Verifying one costs a SHA-512 of the presented
text, one dict lookup and a constant-time comparison (a few microseconds), which is why the
hashes live in memory, rebuilt after every change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa

from timewell.catalog import Catalog, TokenDefinition
from timewell.errors import AlreadyExists, InvalidRequest, NotAllowed, NotFound

log = logging.getLogger(__name__)

OPERATOR_TOKEN_NAME = "_admin"
TOKEN_PREFIX = "apiv3_"
_RANDOM_BYTES = 64
_MAX_NAME_CHARS = 200


class TokenNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"token not found: '{name}'")


class OperatorTokenExists(AlreadyExists):
    def __init__(self) -> None:
        super().__init__("an admin token exists already: regenerate it with the current one "
                         "(timewell create token --admin --regenerate)")


class CannotDeleteOperatorToken(NotAllowed):
    def __init__(self) -> None:
        super().__init__(f'The operator token "{OPERATOR_TOKEN_NAME}" is required and cannot be '
                         "deleted. To regenerate an operator token, use: timewell create token "
                         "--admin --regenerate --token [TOKEN]")


class MissingOperatorToken(TokenNotFound):
    def __init__(self) -> None:
        NotFound.__init__(self, "missing admin token, cannot update: there is no operator "
                          "token to regenerate (create it with `timewell create token --admin`)")


def new_token_text() -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(
        secrets.token_bytes(_RANDOM_BYTES)).rstrip(b"=").decode()


def token_hash(text: str | bytes) -> bytes:
    return hashlib.sha512(text.encode() if isinstance(text, str) else text).digest()


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: the only moment its text exists outside the client."""

    definition: TokenDefinition
    text: str


@dataclass(frozen=True)
class TokenFile:
    """A preset token for automation (`--admin-token-file`): upstream's JSON
    `{"token", "name", "expiry_millis"?}`, or the token text alone."""

    text: str
    name: str = OPERATOR_TOKEN_NAME
    expiry_ms: int | None = None

    @classmethod
    def read(cls, path: Path) -> TokenFile:
        """ValueError with a readable message when the file is unusable."""
        try:
            content = path.read_bytes().strip()
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e.strerror}") from None
        if content.startswith(b"{"):
            try:
                data = orjson.loads(content)
            except orjson.JSONDecodeError as e:
                raise ValueError(f"{path} is not valid JSON: {e}") from None
            text, name = data.get("token"), data.get("name") or OPERATOR_TOKEN_NAME
            expiry = data.get("expiry_millis")
            if not isinstance(name, str) or not (expiry is None or isinstance(expiry, int)):
                raise ValueError(f"{path}: 'name' must be a string and 'expiry_millis' an "
                                 "integer")
        else:
            text, name, expiry = content.decode(errors="replace"), OPERATOR_TOKEN_NAME, None
        if not isinstance(text, str) or not text.startswith(TOKEN_PREFIX) or len(text) < 40:
            raise ValueError(f"{path} holds no token: expected '{TOKEN_PREFIX}...' of at least "
                             "40 characters (make one with `timewell create token --admin`)")
        check_token_name(name, allow_operator=True)
        return cls(text, name, expiry)


def check_token_name(name, allow_operator: bool = False) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("the token name is empty")
    if len(name) > _MAX_NAME_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidRequest(f"invalid token name {name[:40]!r}: use at most "
                             f"{_MAX_NAME_CHARS} printable characters")
    if name == OPERATOR_TOKEN_NAME and not allow_operator:
        raise InvalidRequest(f"the token name '{OPERATOR_TOKEN_NAME}' is reserved for the "
                             "operator token")


class Tokens:
    """The node's tokens. Thread-safe; changes are committed to the catalog first."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        # digest -> (digest as stored, token); the lookup finds the candidate and the
        # constant-time comparison decides, so timing says nothing about stored hashes.
        self._by_hash: dict[bytes, tuple[bytes, TokenDefinition]] = {}
        self._refresh()

    # -- verifying (the per-request path)

    def verify(self, text: str | bytes) -> TokenDefinition | None:
        """The live token `text` is, or None (unknown, deleted or expired)."""
        digest = token_hash(text)
        found = self._by_hash.get(digest)
        if found is None or not hmac.compare_digest(digest, found[0]):
            return None
        token = found[1]
        if token.expiry_ms is not None and time.time() * 1000 >= token.expiry_ms:
            return None
        return token

    def is_operator(self, token: TokenDefinition) -> bool:
        return token.name == OPERATOR_TOKEN_NAME

    # -- changing

    def create_admin(self) -> IssuedToken:
        """The first admin (operator) token; OperatorTokenExists once there is one."""
        with self._catalog.lock:
            if OPERATOR_TOKEN_NAME in self._catalog.tokens:
                raise OperatorTokenExists()
            issued = self._issue(OPERATOR_TOKEN_NAME, None)
        log.info("operator token '%s' created", OPERATOR_TOKEN_NAME)
        return issued

    def regenerate_admin(self) -> IssuedToken:
        """A new text for the operator token; the old one stops working at once."""
        with self._catalog.lock:
            if OPERATOR_TOKEN_NAME not in self._catalog.tokens:
                raise MissingOperatorToken()
            issued = self._issue(OPERATOR_TOKEN_NAME, None)
        log.info("operator token '%s' regenerated; the previous one is revoked",
                 OPERATOR_TOKEN_NAME)
        return issued

    def create_named_admin(self, name: str, expiry_secs: int | None) -> IssuedToken:
        check_token_name(name)
        if expiry_secs is not None and (isinstance(expiry_secs, bool)
                                        or not isinstance(expiry_secs, int) or expiry_secs <= 0):
            raise InvalidRequest("'expiry_secs' must be a positive whole number of seconds")
        expiry_ms = _now_ms() + expiry_secs * 1000 if expiry_secs is not None else None
        with self._catalog.lock:
            if name in self._catalog.tokens:
                raise AlreadyExists(f"token name already exists, {name}")
            issued = self._issue(name, expiry_ms)
        log.info("admin token '%s' created", name)
        return issued

    def delete(self, name: str) -> None:
        if name == OPERATOR_TOKEN_NAME:
            raise CannotDeleteOperatorToken()
        with self._catalog.lock:
            if name not in self._catalog.tokens:
                raise TokenNotFound(name)
            self._catalog.commit([{"op": "delete_token", "name": name}])
            self._refresh()
        log.info("token '%s' deleted", name)

    def preset(self, file: TokenFile) -> None:
        """Make the file's token valid under its name (replacing that name's old token)."""
        digest = token_hash(file.text).hex()
        with self._catalog.lock:
            existing = self._catalog.tokens.get(file.name)
            if (existing is not None and existing.hash == digest
                    and existing.expiry_ms == file.expiry_ms):
                return
            self._put(file.name, digest, file.expiry_ms, existing)
        log.info("token '%s' loaded from the admin token file", file.name)

    # -- reading

    def table(self, _database: str) -> pa.Table:
        """`system.tokens`: names and dates, never hashes."""
        with self._catalog.lock:
            tokens = sorted(self._catalog.tokens.values(), key=lambda t: t.id)
        return pa.table({
            "token_id": pa.array([t.id for t in tokens], pa.uint64()),
            "name": pa.array([t.name for t in tokens], pa.string()),
            "created_at": pa.array([t.created_at_ms for t in tokens], pa.timestamp("ms")),
            "description": pa.array([t.description for t in tokens], pa.string()),
            "expiry": pa.array([t.expiry_ms for t in tokens], pa.timestamp("ms")),
            "permissions": pa.array(["*:*:*"] * len(tokens), pa.string()),
        })

    # -- internals

    def _issue(self, name: str, expiry_ms: int | None) -> IssuedToken:
        text = new_token_text()
        definition = self._put(name, token_hash(text).hex(), expiry_ms,
                               self._catalog.tokens.get(name))
        return IssuedToken(definition, text)

    def _put(self, name: str, digest: str, expiry_ms: int | None,
             existing: TokenDefinition | None) -> TokenDefinition:
        token_id = existing.id if existing is not None else 1 + max(
            (t.id for t in self._catalog.tokens.values()), default=0)
        definition = TokenDefinition(token_id, name, digest, _now_ms(), expiry_ms)
        self._catalog.commit([{"op": "put_token", "token": definition.to_json()}])
        self._refresh()
        return definition

    def _refresh(self) -> None:
        with self._catalog.lock:
            by_hash = {(d := bytes.fromhex(t.hash)): (d, t) for t in self._catalog.tokens.values()}
        self._by_hash = by_hash  # one assignment: readers see the old or the new dict


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
