"""A test object store that can lose power: what survives is only what was made durable.

`kill -9` leaves the operating system's page cache intact, so a crash test built on it cannot
catch a missing fsync. `PowerCutStore` is an `ObjectStore` (obstore's `MemoryStore` underneath,
so queries read Parquet through the same `arrow_filesystem` as `ObjectStore.memory()`) that
keeps, beside the live objects, a model of what a power loss would leave behind.

The durability model (that of a local file system, which is also the strictest backend):

* `durable_put(path, data)` is durable once it returns: the object survives with exactly
  `data` (fsync of the file and of its directory; or a completed S3 PUT).
* `put(path, data)` is volatile: at a power cut the object keeps its earlier value (or stays
  absent), gets the new bytes, or gets a torn prefix of them (cut at a random length, possibly
  empty: a rename made durable by the journal before the file's data blocks were written).
* `delete(path)` is volatile until a later durable operation in the same directory: a
  `durable_put` of a sibling fsyncs the directory, and that makes the current state of every
  name in it durable (earlier deletes become permanent; earlier volatile puts keep only their
  name, their bytes are still not durable, so the model still lets them come back torn).
* Volatile operations on one path are applied in order: the surviving value of a path is the
  result of some prefix of its pending operations (each path is cut independently).
* `durable_delete(path)` is durable once it returns (the directory was fsync'd).
* The operation the power cut interrupts is volatile, whatever it was. An interrupted
  `durable_put` leaves the earlier value (or nothing) or the whole object, never a torn one:
  `ObjectStore.durable_put` writes a temporary file, fsyncs it and only then renames it into
  place (`atomic_durable_put=True`, the default). `atomic_durable_put=False` models a store
  that renames before the bytes are durable (obstore's own local put, which timewell used
  before): an interrupted `durable_put` may then leave a torn object under the new name.
* `torn_writes=False` models S3: no put is ever torn (a PUT lands whole or not at all).

The store stands in for `ObjectStore` as a whole, so it tests the layers above it (which writes
are durable, in which order, and what recovery does with what is left), not `ObjectStore`'s own
fsyncs: directories, for one, are taken to be made durable by `durable_put` as it promises.

Mutating operations (put, durable_put, delete) are numbered from 1. With `cut_at=n`, operation
n does not complete: the store records it as volatile, raises `PowerCut` (a `BaseException`, so
the server's `except Exception` handlers cannot swallow it) and from then on refuses every
operation, reads included, so the abandoned server can do no more I/O through it. Reads through
`arrow_filesystem()` bypass the model: they only read, and see the live objects as the page
cache would.

`cut(rng)` returns what survives as `{path: bytes}`; `PowerCutStore(initial=...)` starts a store
(the next boot) on it.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import obstore
from obstore.exceptions import AlreadyExistsError
from obstore.store import MemoryStore

from timewell.storage.objectstore import ObjectExists, ObjectMeta, ObjectStore


class PowerCut(BaseException):
    """The power went out: raised by the interrupted operation and every one after it."""


@dataclass(frozen=True)
class Operation:
    """One mutating operation: its number, kind (`put`, `durable_put`, `delete`), path and
    bytes (None for a delete), and `label`, what the store's user said it was doing."""

    number: int
    kind: str
    path: str
    data: bytes | None
    label: str


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


class PowerCutStore(ObjectStore):
    """An in-memory object store that knows which writes a power loss would keep."""

    def __init__(self, *, initial: dict[str, bytes] | None = None, cut_at: int | None = None,
                 torn_writes: bool = True, atomic_durable_put: bool = True) -> None:
        super().__init__(MemoryStore())
        self._lock = threading.RLock()
        self.cut_at = cut_at
        self.torn_writes = torn_writes
        self.atomic_durable_put = atomic_durable_put
        self.operations = 0  # mutating operations started so far
        self.label = ""  # set by the harness: what it is doing (write, snapshot, ...)
        self.interrupted: Operation | None = None  # the operation the power cut stopped
        self.tripped = False
        self.on_cut: list[Callable[[], None]] = []  # called (in the cutting thread) at the cut
        self._durable: dict[str, bytes] = {}
        # Per path, the volatile operations since its last durable state, oldest first:
        # ("put", bytes), ("whole", bytes) (a put that cannot be torn) or ("delete", None).
        self._pending: dict[str, list[tuple[str, bytes | None]]] = {}
        for path, data in (initial or {}).items():
            obstore.put(self._store, path, data)
            self._durable[path] = data
        self._description = "power-cut memory"

    # -- the ObjectStore interface

    def put(self, path: str, data: bytes) -> None:
        data = bytes(data)
        with self._lock:
            self._begin("put", path, data)
            obstore.put(self._store, path, data)
            self._pending.setdefault(path, []).append(("put", data))

    def durable_put(self, path: str, data: bytes, *, create_only: bool = False) -> None:
        data = bytes(data)
        with self._lock:
            self._begin("durable_put", path, data)
            try:
                obstore.put(self._store, path, data, mode="create" if create_only else None)
            except AlreadyExistsError:
                raise ObjectExists(path) from None
            self._durable[path] = data
            self._pending.pop(path, None)
            self._fsync_directory(parent(path))

    def delete(self, path: str) -> None:
        with self._lock:
            self._begin("delete", path, None)
            with contextlib.suppress(FileNotFoundError):
                obstore.delete(self._store, path)
            self._pending.setdefault(path, []).append(("delete", None))

    def durable_delete(self, path: str) -> None:
        with self._lock:
            self._begin("delete", path, None)
            with contextlib.suppress(FileNotFoundError):
                obstore.delete(self._store, path)
            self._durable.pop(path, None)
            self._pending.pop(path, None)
            self._fsync_directory(parent(path))

    def get(self, path: str) -> bytes:
        self._check()
        return super().get(path)

    def get_range(self, path: str, start: int, end: int) -> bytes:
        self._check()
        return super().get_range(path, start, end)

    def size(self, path: str) -> int:
        self._check()
        return super().size(path)

    def list(self, prefix: str) -> list[ObjectMeta]:
        self._check()
        return super().list(prefix)

    # -- the power cut

    def cut(self, rng: random.Random) -> dict[str, bytes]:
        """What a power loss now would leave: every durable object, and each volatile change
        kept, dropped or torn as `rng` decides (the same seed gives the same state)."""
        with self._lock:
            state = dict(self._durable)
            for path in sorted(self._pending):
                ops = self._pending[path]
                applied = rng.randint(0, len(ops))
                for kind, data in ops[:applied]:
                    if kind == "delete":
                        state.pop(path, None)
                    else:
                        state[path] = data
                last_kind, last_data = ops[applied - 1] if applied else ("", None)
                if last_kind == "put" and self.torn_writes and last_data and rng.random() < 0.3:
                    # cut anywhere, possibly to nothing
                    state[path] = last_data[:rng.randrange(len(last_data))]
            return state

    def power_off(self) -> None:
        """Cut the power between operations: nothing is interrupted, everything after fails."""
        with self._lock:
            self.tripped = True

    def durable_state(self) -> dict[str, bytes]:
        """The objects that survive any power cut (for tests of the model itself)."""
        with self._lock:
            return dict(self._durable)

    # -- internals

    def _check(self) -> None:
        if self.tripped:
            raise PowerCut(f"the power is off (cut at operation {self.cut_at})")

    def _begin(self, kind: str, path: str, data: bytes | None) -> None:
        """Count the operation; at the cut point record it as volatile, and trip."""
        self._check()
        self.operations += 1
        if self.operations != self.cut_at:
            return
        self.interrupted = Operation(self.operations, kind, path, data, self.label)
        if kind == "delete":
            self._pending.setdefault(path, []).append(("delete", None))
        else:
            # Half-done: maybe renamed into place with its bytes not yet written (torn), unless
            # the store's durable puts are all-or-nothing.
            whole = kind == "durable_put" and self.atomic_durable_put
            self._pending.setdefault(path, []).append(("whole" if whole else "put", data))
        self.tripped = True
        for callback in self.on_cut:
            callback()
        raise PowerCut(f"power cut at operation {self.operations}: {kind} {path}")

    def _fsync_directory(self, directory: str) -> None:
        """The directory's entries as they are now become durable: pending deletes of its
        files are final (pending puts keep their name but not their bytes, so stay pending)."""
        for path in [p for p, ops in self._pending.items() if parent(p) == directory]:
            if self._pending[path][-1][0] == "delete":
                self._durable.pop(path, None)
                del self._pending[path]
