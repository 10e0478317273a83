"""Giving freed memory back to the operating system.

Allocators keep freed pages for reuse. After a snapshot or a compaction has released hundreds
of megabytes that nothing will reuse soon, the process would otherwise stay at its peak size
while idle. The server makes Arrow allocate through malloc (`use_system_allocator`), because
pyarrow's default, mimalloc, keeps freed pages in per-thread heaps that no other thread can
release: under writes plus queries the pages query threads had used stayed with them (the
soak benchmark: 458 MiB after idling with mimalloc, 335 MiB with malloc, whose `malloc_trim`
returns every arena's free pages; throughput the same).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

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


def use_system_allocator() -> None:
    """Arrow allocates through malloc from now on, unless ARROW_DEFAULT_MEMORY_POOL says
    otherwise (then the user chose)."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())
