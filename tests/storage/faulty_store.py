"""An object store that fails on demand, for tests of what a failed or slow write leaves behind.

    store = FaultyStore.file(tmp_path)          # or FaultyStore.memory()
    store.fail_put_after_write = True           # durable_put writes the object, then raises
    store.fail_delete = True                    # delete raises
    store.only = "/wal/"                        # ...but only for paths containing this
    store.hold_puts()                           # durable_put blocks until release_puts()

`fail_put_after_write` is the nasty case: the caller sees an error (an fsync that failed, an
S3 answer that never came) although the object may be on the store.
"""

from __future__ import annotations

import threading

from timewell.storage.objectstore import ObjectExists, ObjectStore


class InjectedFault(OSError):
    pass


class FaultyStore(ObjectStore):
    def __init__(self, store, local_root=None) -> None:
        super().__init__(store, local_root)
        self.fail_put_before_write = False
        self.fail_put_after_write = False
        self.fail_delete = False
        self.only = ""  # the switches apply to paths containing this
        self.failed_puts: list[str] = []
        self.failed_deletes: list[str] = []
        self.put_started = threading.Event()  # set when a durable_put begins (held or not)
        self._gate: threading.Event | None = None

    def hold_puts(self) -> None:
        """Make every durable_put wait until `release_puts` (set `put_started` first)."""
        self._gate = threading.Event()
        self.put_started.clear()

    def release_puts(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    def durable_put(self, path: str, data: bytes, *, create_only: bool = False) -> None:
        self.put_started.set()
        gate = self._gate
        if gate is not None and not gate.wait(30):
            raise InjectedFault(f"durable_put of {path} held for 30 s")
        if self.only in path and self.fail_put_before_write:
            self.failed_puts.append(path)
            raise InjectedFault(f"injected failure before writing {path}")
        try:
            super().durable_put(path, data, create_only=create_only)
        except ObjectExists:
            if self.only in path and self.fail_put_after_write:  # the store still fails
                self.failed_puts.append(path)
                raise InjectedFault(f"injected failure writing {path} again") from None
            raise
        if self.only in path and self.fail_put_after_write:
            self.failed_puts.append(path)
            raise InjectedFault(f"injected failure after writing {path}")

    def delete(self, path: str) -> None:
        if self.only in path and self.fail_delete:
            self.failed_deletes.append(path)
            raise InjectedFault(f"injected failure deleting {path}")
        super().delete(path)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except FileNotFoundError:
            return False
        return True
