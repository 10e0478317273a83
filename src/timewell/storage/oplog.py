"""A durable log of change records plus a periodic checkpoint, on the object store.

Each commit is one durable object `<dir>/log/<sequence>.json` holding a list of operations.
Every `checkpoint_every` commits the whole state is written to `<dir>/checkpoint.json` and
the log records it covers are removed. Loading reads the checkpoint and replays the newer log.
"""

from __future__ import annotations

import logging

import orjson

from timewell.storage.objectstore import ObjectStore

log = logging.getLogger(__name__)


class OpLog:
    def __init__(self, store: ObjectStore, directory: str, checkpoint_every: int = 100) -> None:
        self._store = store
        self._log_prefix = f"{directory}/log/"
        self._checkpoint_path = f"{directory}/checkpoint.json"
        self._checkpoint_every = checkpoint_every
        self._sequence = 0

    def load(self) -> tuple[dict | None, list[list[dict]]]:
        """The last checkpoint's state (or None) and the op lists committed after it, in order."""
        state, covered = None, 0
        try:
            checkpoint = orjson.loads(self._store.get(self._checkpoint_path))
            state, covered = checkpoint["state"], checkpoint["sequence"]
        except FileNotFoundError:
            pass
        self._sequence = covered
        commits = []
        for meta in self._store.list(self._log_prefix):
            sequence = int(meta.path.rsplit("/", 1)[-1].split(".")[0])
            if sequence <= covered:
                continue
            commits.append(orjson.loads(self._store.get(meta.path)))
            self._sequence = max(self._sequence, sequence)
        return state, commits

    def append(self, ops: list[dict]) -> None:
        self._sequence += 1
        self._store.durable_put(f"{self._log_prefix}{self._sequence:020d}.json", orjson.dumps(ops))

    def wants_checkpoint(self) -> bool:
        return self._sequence % self._checkpoint_every == 0

    def checkpoint(self, state: dict) -> None:
        covered = self._sequence
        body = orjson.dumps({"sequence": covered, "state": state})
        self._store.durable_put(self._checkpoint_path, body)
        for meta in self._store.list(self._log_prefix):
            if int(meta.path.rsplit("/", 1)[-1].split(".")[0]) <= covered:
                self._store.delete(meta.path)
        log.debug("checkpoint of %s at sequence %d", self._checkpoint_path, covered)
