"""The processing engine: plugins bound to writes, schedules and HTTP requests by triggers."""

from timewell.engine.database import NodeDatabase
from timewell.engine.engine import EngineSettings, ProcessingEngine

__all__ = ["EngineSettings", "NodeDatabase", "ProcessingEngine"]
