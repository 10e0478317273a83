"""Giving freed memory back to the operating system.

Arrow's allocator (mimalloc) and glibc's malloc (used by DataFusion and Python) keep freed pages
for reuse. After a snapshot or a compaction has released hundreds of megabytes that nothing will
reuse soon, the process would otherwise stay at its peak size while idle.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import pyarrow as pa

_libc = None
with contextlib.suppress(OSError, TypeError):
    _name = ctypes.util.find_library("c")
    _libc = ctypes.CDLL(_name) if _name else None


def give_back_free_memory() -> None:
    """Return the allocators' free pages to the OS (a few ms; call it from a worker thread)."""
    pa.default_memory_pool().release_unused()
    trim = getattr(_libc, "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)
