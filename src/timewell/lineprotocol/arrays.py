"""Small Arrow helpers of the columnar path: wrapping bytes, index ranges, joining lines."""

from __future__ import annotations

import struct

import pyarrow as pa
import pyarrow.compute as pc


def string_array(data: bytes) -> pa.Array:
    """`data` (known to be UTF-8) as a one-element string array, without copying."""
    if len(data) < 2**31:
        return pa.StringArray.from_buffers(
            1, pa.py_buffer(struct.pack("<ii", 0, len(data))), pa.py_buffer(data)
        )
    return pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(struct.pack("<qq", 0, len(data))), pa.py_buffer(data)
    )


def join(strings: pa.Array, separator: str) -> bytes:
    """All of `strings` joined into one bytes value."""
    offsets = pa.array([0, len(strings)], pa.int32())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, strings), separator)
    return joined[0].as_buffer().to_pybytes()


_ARANGE = pa.array([], pa.int32())


def arange(start: int, count: int) -> pa.Array:
    """int32 `start, start+1, ...` of length `count`, sliced from a cached array (building
    one from a Python range costs more than the rest of a small parse)."""
    global _ARANGE
    if len(_ARANGE) < start + count:
        _ARANGE = pa.array(range(max(2 * len(_ARANGE), start + count, 1 << 16)), pa.int32())
    return _ARANGE.slice(start, count)


def strided(start: int, step: int, count: int) -> pa.Array:
    """int32 `start, start+step, ...` of length `count`."""
    return pc.add(pc.multiply(arange(0, count), step), start)
