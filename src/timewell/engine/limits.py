"""What bounds a trigger's runs: its time limit, and which kinds of trigger the server runs
(`--restrict-plugin-triggers-to`). The memory limit belongs to the worker (worker_main.py)."""

from __future__ import annotations

from timewell.catalog import TriggerDefinition
from timewell.engine.specs import (
    AllTablesTrigger,
    CronTrigger,
    EveryTrigger,
    RequestTrigger,
    TableTrigger,
    TriggerSpec,
    parse_trigger_spec,
)
from timewell.errors import InvalidRequest

TRIGGER_KINDS = ("wal", "schedule", "request")
DEFAULT_TIMEOUT_S = 60.0  # write and schedule triggers
DEFAULT_REQUEST_TIMEOUT_S = 30.0  # a client waits for these


def engine_limits(settings) -> dict:
    """The EngineSettings fields `config.Settings` sets for how plugins run."""
    return {"isolation": settings.plugin_isolation,
            "memory_limit_bytes": settings.plugin_memory_limit_bytes,
            "shutdown_grace_s": settings.plugin_shutdown_grace_s,
            "async_concurrency_limit": settings.async_trigger_concurrency_limit,
            "allowed_kinds": tuple(settings.plugin_trigger_kinds),
            "trigger_max_lag_bytes": settings.trigger_max_lag_bytes,
            "schedule_max_catch_up": settings.schedule_max_catch_up}


def trigger_kind(spec: TriggerSpec) -> str:
    """wal, schedule or request: what --restrict-plugin-triggers-to names."""
    if isinstance(spec, TableTrigger | AllTablesTrigger):
        return "wal"
    if isinstance(spec, EveryTrigger | CronTrigger):
        return "schedule"
    return "request"


def time_limit_s(definition: TriggerDefinition, server_timeout_s: float | None) -> float:
    """The trigger's own timeout, else --plugin-timeout, else the default for its kind."""
    own = definition.extra.get("timeout_s")
    if own is not None:
        return float(own)
    if server_timeout_s is not None:
        return server_timeout_s
    spec = parse_trigger_spec(definition.trigger_specification)
    return DEFAULT_REQUEST_TIMEOUT_S if isinstance(spec, RequestTrigger) else DEFAULT_TIMEOUT_S


def check_timeout(timeout_s) -> None:
    if timeout_s is not None and (isinstance(timeout_s, bool)
                                  or not isinstance(timeout_s, int | float) or timeout_s <= 0):
        raise InvalidRequest(f"timeout must be a positive duration, not {timeout_s!r}")
