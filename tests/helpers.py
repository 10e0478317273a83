"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import time


def wait_for(check, timeout: float = 20.0, interval: float = 0.05):
    """Poll `check()` until it returns something truthy, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


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
