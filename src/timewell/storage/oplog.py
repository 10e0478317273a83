"""A durable log of change records plus a periodic checkpoint, on the object store.

Each commit is one durable object `<dir>/log/<sequence>.json` holding a list of operations.
Every `checkpoint_every` commits the whole state is written to `<dir>/checkpoint.json` and
the log records it covers are removed. Loading reads the checkpoint and replays the newer log.

Records and checkpoints are framed like WAL files, so damage is detected rather than parsed:

    magic (8 bytes) | crc32 of payload (u32) | payload length (u64) | payload (JSON)

Files without the magic were written by versions before the framing and are read as plain JSON.

What a damaged file means decides what loading does with it:

- the LAST log record: it was being written when the process died (`durable_put` returns
  only after the fsync), so it was never acknowledged. It is logged, copied to
  `<dir>/damaged/` for inspection, removed, and skipped.
- any other record: newer records follow it, so it was acknowledged and its change is lost;
  loading stops with `CorruptLog` rather than start without it.
- the checkpoint: the records it covers are gone; loading stops with `CorruptLog`.

An append that fails may still have left its record on the store (the write happened, the
fsync or the answer failed). It is deleted at once; if that fails too, the record is deleted
before the next append is written, so nothing newer is ever committed on top of a change the
caller was told failed. (A crash before that leaves it in place and the restart applies it:
the caller was told "failed", and the state is "possibly applied", as for any crash mid-call.)
"""

from __future__ import annotations

import logging

import orjson

from timewell.storage.framing import DamagedFrame, frame, unframe
from timewell.storage.objectstore import ObjectStore

log = logging.getLogger(__name__)

MAGIC = b"TWLOG\x00\x01\n"


class CorruptLog(Exception):
    """A log record or checkpoint that held acknowledged changes is damaged: start-up stops."""


class DamagedRecord(ValueError):
    """Bytes that are not a whole, intact record (torn, truncated or altered)."""


def encode_record(value: object) -> bytes:
    return frame(MAGIC, orjson.dumps(value))


def decode_record(data: bytes) -> object:
    """The JSON value of a record or checkpoint; DamagedRecord when it is not intact."""
    if not data.startswith(MAGIC):
        try:  # written before records were framed: plain JSON
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise DamagedRecord(f"neither a checksummed record nor JSON: {e}") from None
    try:
        payload = unframe(MAGIC, data)
    except DamagedFrame as e:
        raise DamagedRecord(str(e)) from None
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as e:  # a checksummed payload that is not JSON: a bug
        raise DamagedRecord(f"intact but not JSON: {e}") from None


class OpLog:
    def __init__(self, store: ObjectStore, directory: str, checkpoint_every: int = 100) -> None:
        self._store = store
        self._directory = directory
        self._log_prefix = f"{directory}/log/"
        self._checkpoint_path = f"{directory}/checkpoint.json"
        self._checkpoint_every = checkpoint_every
        self._sequence = 0  # the last sequence number used
        self._checkpointed = 0  # the sequence the checkpoint on the store covers
        self._uncertain: str | None = None  # a failed append's record that may be on the store
        # Damaged last records the last `load` set aside: a change they held is not in the
        # state (right if they were torn, as assumed; wrong if an acknowledged one rotted).
        self.skipped: list[str] = []

    def load(self) -> tuple[dict | None, list[list[dict]]]:
        """The last checkpoint's state (or None) and the op lists committed after it, in order.

        CorruptLog when a file holding acknowledged changes is damaged (see the module)."""
        self.skipped = []
        state, covered = self._load_checkpoint()
        self._checkpointed = covered
        records = [(sequence, meta.path) for meta in self._store.list(self._log_prefix)
                   if (sequence := _sequence_of(meta.path)) is not None]
        self._sequence = max([covered, *(sequence for sequence, _ in records)])
        newer = [path for sequence, path in records if sequence > covered]
        commits = []
        for position, path in enumerate(newer):
            try:
                commits.append(decode_record(self._store.get(path)))
            except DamagedRecord as e:
                if position < len(newer) - 1:
                    raise CorruptLog(
                        f"{path} is damaged ({e}) and newer records follow it, so it held an "
                        f"acknowledged change. Start-up stopped rather than run without it. "
                        f"Restore the file from a backup; or, accepting the loss of that "
                        f"change, move it out of {self._log_prefix} and start again."
                    ) from None
                self._set_aside(path, str(e))
        return state, commits

    def append(self, ops: list[dict]) -> None:
        """Make `ops` durable as the next record; raises if that cannot be made sure of."""
        if self._uncertain is not None:
            # Raises while the store is still failing: nothing may be committed after it.
            self._store.durable_delete(self._uncertain)
            log.info("removed %s, the record of a change reported as failed", self._uncertain)
            self._uncertain = None
        self._sequence += 1  # never reused, even if this append fails
        path = f"{self._log_prefix}{self._sequence:020d}.json"
        try:
            self._store.durable_put(path, encode_record(ops))
        except Exception:
            try:
                self._store.durable_delete(path)
            except Exception:
                self._uncertain = path
                log.exception("could not remove %s after its write failed; it is removed "
                              "before the next change is written", path)
            raise

    def wants_checkpoint(self) -> bool:
        return self._sequence - self._checkpointed >= self._checkpoint_every

    def checkpoint(self, state: dict) -> None:
        """Write `state`, which must hold every change appended so far, and drop the records
        it covers. The caller makes sure no append runs meanwhile."""
        covered = self._sequence
        self._store.durable_put(self._checkpoint_path,
                                encode_record({"sequence": covered, "state": state}))
        self._checkpointed = covered
        if self._uncertain is not None and _sequence_of(self._uncertain) <= covered:
            self._uncertain = None  # covered: a load skips it, as the caller was told
        for meta in self._store.list(self._log_prefix):
            sequence = _sequence_of(meta.path)
            if sequence is not None and sequence <= covered:
                self._store.delete(meta.path)
        log.debug("checkpoint of %s at sequence %d", self._checkpoint_path, covered)

    def _load_checkpoint(self) -> tuple[dict | None, int]:
        try:
            data = self._store.get(self._checkpoint_path)
        except FileNotFoundError:
            return None, 0
        try:
            checkpoint = decode_record(data)
            return checkpoint["state"], checkpoint["sequence"]
        except (DamagedRecord, KeyError, TypeError) as e:
            raise CorruptLog(
                f"{self._checkpoint_path} is damaged ({e!r}); the log records it covers were "
                f"removed when it was written, so start-up cannot rebuild the state without it. "
                f"Restore the file from a backup."
            ) from None

    def _set_aside(self, path: str, reason: str) -> None:
        """Keep a copy of a torn last record for inspection, and remove it from the log."""
        log.error("skipping damaged last record %s (%s): it was being written when the "
                  "process stopped and was never acknowledged; a copy is kept in %s/damaged/",
                  path, reason, self._directory)
        name = path.rsplit("/", 1)[-1]
        self._store.put(f"{self._directory}/damaged/{name}", self._store.get(path))
        self._store.durable_delete(path)
        self.skipped.append(path)


def _sequence_of(path: str) -> int | None:
    """The sequence number of a log record's path; None for anything else."""
    name = path.rsplit("/", 1)[-1]
    stem, dot, extension = name.partition(".")
    return int(stem) if dot and extension == "json" and stem.isdigit() else None
