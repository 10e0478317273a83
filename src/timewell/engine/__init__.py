"""The processing engine: plugins bound to writes, schedules and HTTP requests by triggers.

The names below load on first use: a plugin worker process imports modules of this package
(the worker loop, the plugin API) and must not pull in the server's query engine and storage
along with them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timewell.engine.database import NodeDatabase
    from timewell.engine.engine import EngineSettings, ProcessingEngine

__all__ = ["EngineSettings", "NodeDatabase", "ProcessingEngine"]


def __getattr__(name: str):
    if name == "NodeDatabase":
        from timewell.engine.database import NodeDatabase

        return NodeDatabase
    if name in ("EngineSettings", "ProcessingEngine"):
        from timewell.engine import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'timewell.engine' has no attribute {name!r}")
