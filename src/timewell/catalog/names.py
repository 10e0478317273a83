"""Which names of databases, tables and columns are allowed."""

from __future__ import annotations

import re

from timewell.errors import InvalidRequest

MAX_NAME_BYTES = 255
_DATABASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(/[A-Za-z0-9_-]+)?")
_DATABASE_NAME_MAX = 64


def check_database_name(name: str) -> None:
    if not name:
        raise InvalidRequest("database name is missing: pass it as db=<name>")
    if len(name) > _DATABASE_NAME_MAX or not _DATABASE_NAME.fullmatch(name):
        raise InvalidRequest(
            f"invalid database name '{name}': use at most {_DATABASE_NAME_MAX} ASCII characters, "
            "start with a letter or digit, then letters, digits, '_' or '-' (one '/' allowed)"
        )


def check_table_name(name: str) -> None:
    _check_identifier("table", name)


def check_column_name(name: str) -> None:
    _check_identifier("column", name)
    if name == "time":
        raise InvalidRequest("column name 'time' is reserved for the timestamp")


def _check_identifier(kind: str, name: str) -> None:
    if not name:
        raise InvalidRequest(f"{kind} name is empty")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidRequest(f"{kind} name '{name[:40]}...' is longer than {MAX_NAME_BYTES} bytes")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidRequest(f"{kind} name {name!r} contains control characters")
