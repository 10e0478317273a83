"""The on-disk form of one WAL file: framed, checksummed Arrow IPC streams.

    magic (8 bytes) | crc32 of payload (u32) | payload length (u64) | payload
    payload = index length (u32) | index (JSON) | one Arrow IPC stream per table write
    index   = {"sequence": n, "writes": [{"db", "table", "table_id" (if known), "len"}, ...]}

A file whose length or checksum does not match was torn by a crash or damaged afterwards;
`decode` refuses it with `CorruptWalFile` and the caller decides what to do.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import orjson
import pyarrow as pa

from timewell.storage.framing import DamagedFrame, frame, unframe

MAGIC = b"TWWAL\x00\x01\n"
_INDEX_LEN = struct.Struct(">I")


class CorruptWalFile(ValueError):
    pass


@dataclass(frozen=True)
class TableWrite:
    """Rows written to one table: only the columns the lines named, nulls where a line did not.

    `table_id` is the catalog's id of the table the rows were validated against (never reused,
    unlike names: a table deleted and created again gets a new one), so that rows of a deleted
    table are never taken for rows of a new table of the same name. None in files written
    before ids existed."""

    database: str
    table: str
    data: pa.Table
    table_id: int | None = None


def encode(sequence: int, writes: list[TableWrite], cursors: dict[str, int] | None = None) -> bytes:
    """`cursors`: write triggers' cursors committed with these writes (their runs' output),
    as `"<database>/<trigger>": sequence`; the index holds them when there are any."""
    blobs, index = [], []
    for write in writes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, write.data.schema) as stream:
            stream.write_table(write.data)
        blob = sink.getvalue()
        blobs.append(blob)
        entry = {"db": write.database, "table": write.table, "len": blob.size}
        if write.table_id is not None:
            entry["table_id"] = write.table_id
        index.append(entry)
    header = {"sequence": sequence, "writes": index}
    if cursors:
        header["cursors"] = cursors
    index_bytes = orjson.dumps(header)
    payload = b"".join([_INDEX_LEN.pack(len(index_bytes)), index_bytes, *map(bytes, blobs)])
    return frame(MAGIC, payload)


def decode(data: bytes) -> tuple[int, list[TableWrite]]:
    """`(sequence, writes)` of a WAL file's bytes; CorruptWalFile if it is torn or damaged."""
    sequence, writes, _ = decode_with_cursors(data)
    return sequence, writes


def decode_with_cursors(data: bytes) -> tuple[int, list[TableWrite], dict[str, int]]:
    """`(sequence, writes, trigger cursors committed with them)`; CorruptWalFile if damaged."""
    try:
        payload = unframe(MAGIC, data)
    except DamagedFrame as e:
        raise CorruptWalFile(str(e)) from None
    (index_len,) = _INDEX_LEN.unpack_from(payload, 0)
    index = orjson.loads(bytes(payload[4 : 4 + index_len]))
    offset, writes = 4 + index_len, []
    for entry in index["writes"]:
        # Copied out so the columns start on aligned addresses, as Arrow kernels expect.
        blob = pa.py_buffer(bytes(payload[offset : offset + entry["len"]]))
        offset += entry["len"]
        table = pa.ipc.open_stream(blob).read_all()
        writes.append(TableWrite(entry["db"], entry["table"], table, entry.get("table_id")))
    return index["sequence"], writes, index.get("cursors") or {}
