"""The frame every durable file of ours is written in, so that damage is detected, not parsed:

    magic (8 bytes) | crc32 of payload (u32) | payload length (u64) | payload

WAL files, catalog and index log records and checkpoints all use it, each with its own magic.
"""

from __future__ import annotations

import struct
import zlib

_HEADER = struct.Struct(">IQ")


class DamagedFrame(ValueError):
    """Bytes that are not a whole, intact frame (torn, truncated or altered)."""


def frame(magic: bytes, payload: bytes) -> bytes:
    return magic + _HEADER.pack(zlib.crc32(payload), len(payload)) + payload


def unframe(magic: bytes, data: bytes) -> memoryview:
    """The payload of a frame; DamagedFrame when the magic, length or checksum is off."""
    head = len(magic) + _HEADER.size
    if len(data) < head or not data.startswith(magic):
        raise DamagedFrame("header missing or cut short")
    crc, length = _HEADER.unpack_from(data, len(magic))
    payload = memoryview(data)[head:]
    if len(payload) != length:
        raise DamagedFrame(f"expected {length} payload bytes, found {len(payload)}")
    if zlib.crc32(payload) != crc:
        raise DamagedFrame("checksum mismatch")
    return payload
