"""What running a plugin once yields, wherever it runs (a thread of the server, or a worker
process): `RunDone`, or `RunFailed` with a message for the log and the stats."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from timewell.engine.events import Invocation
from timewell.engine.logs import RunLogger


@dataclass
class RunDone:
    result: object = None  # a PluginResponse for request triggers
    writes: dict[str, list[str]] = field(default_factory=dict)  # queued by write()/write_to_db()
    entered: float | None = None  # time.perf_counter() when the entry function was called
    cpu_s: float | None = None
    peak_memory_bytes: int | None = None


class RunFailed(Exception):
    """The run raised, overran, or its worker died; the message says which and why."""

    def __init__(self, message: str, entered: float | None = None,
                 cpu_s: float | None = None) -> None:
        super().__init__(message)
        self.entered = entered
        self.cpu_s = cpu_s


class Execution(Protocol):
    """Where a trigger's plugin runs."""

    async def check(self, entry: str) -> None:
        """Load the plugin and check it has `entry`; PluginLoadError says why not."""

    async def execute(self, invocation: Invocation, logger: RunLogger,
                      timeout_s: float | None) -> RunDone:
        """Run once; RunFailed on any failure."""

    def cancel(self) -> None:
        """Make the running runs' next `influxdb3_local` call raise KeyboardInterrupt."""

    async def stop(self, grace_s: float) -> None:
        """Cancel, give running runs `grace_s` to return, then end them for good."""


def describe_error(error: BaseException, plugin_path: Path | str) -> str:
    """The error and the plugin's line it came from, for logs and the system table."""
    root = str(plugin_path)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(root)]
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def timeout_message(timeout_s: float) -> str:
    return f"run exceeded the plugin time limit of {timeout_s:g}s"
