"""`timewell serve` flags for plugins: the plugin repository and the package manager, and how
plugins run (isolation, time and memory limits, cancellation grace, which triggers)."""

from __future__ import annotations

import functools

import click

from timewell.duration import parse_duration_ns
from timewell.engine.repository import DEFAULT_PLUGIN_REPO

_TRIGGER_KINDS = ("wal", "schedule", "request")

_OPTIONS = [
    click.option("--plugin-repo", default=DEFAULT_PLUGIN_REPO, show_default=True,
                 envvar=["TIMEWELL_PLUGIN_REPO", "INFLUXDB3_PLUGIN_REPO"],
                 help="Where gh:<path> plugins come from: an HTTP(S) base URL, or a git "
                      "repository (URL or local path, optionally @<ref>)."),
    click.option("--package-manager", default="discover", show_default=True,
                 type=click.Choice(["discover", "uv", "pip", "disabled"]),
                 envvar=["TIMEWELL_PACKAGE_MANAGER", "INFLUXDB3_PACKAGE_MANAGER"],
                 help="Installs plugin packages; discover: uv when available, else pip; "
                      "disabled: refuse package installs."),
    click.option("--plugin-isolation", default="process", show_default=True,
                 type=click.Choice(["process", "thread"]),
                 envvar=["TIMEWELL_PLUGIN_ISOLATION"],
                 help="process: each trigger's plugin runs in a worker process of its own "
                      "(crashes, memory and time limits contained); thread: in threads of "
                      "the server (a little faster, no protection)."),
    click.option("--plugin-memory-limit", default="1GiB", show_default=True,
                 envvar=["TIMEWELL_PLUGIN_MEMORY_LIMIT"],
                 help="Memory a worker process may allocate beyond its start-up size "
                      "(RLIMIT_DATA); 0: no limit. Process isolation only."),
    click.option("--plugin-shutdown-grace", default="5s", show_default=True,
                 envvar=["TIMEWELL_PLUGIN_SHUTDOWN_GRACE"],
                 help="How long a cancelled run (trigger disabled or deleted, server "
                      "stopping) may take to return before its worker is killed."),
    click.option("--async-trigger-concurrency-limit", type=int, default=32, show_default=True,
                 envvar=["TIMEWELL_ASYNC_TRIGGER_CONCURRENCY_LIMIT",
                         "INFLUXDB3_ASYNC_TRIGGER_CONCURRENCY_LIMIT"],
                 help="Runs of run_async triggers at once, over all triggers."),
    click.option("--restrict-plugin-triggers-to", default=",".join(_TRIGGER_KINDS),
                 show_default=True, envvar=["TIMEWELL_RESTRICT_PLUGIN_TRIGGERS_TO"],
                 help="The kinds of trigger that may be created: a comma-separated subset of "
                      "wal, schedule, request."),
    click.option("--trigger-max-lag", default="1GiB", show_default=True,
                 envvar=["TIMEWELL_TRIGGER_MAX_LAG"],
                 help="WAL kept after snapshots for write triggers that are behind; a trigger "
                      "further behind skips to the oldest flush kept (logged and counted)."),
    click.option("--schedule-max-catch-up", type=int, default=100, show_default=True,
                 envvar=["TIMEWELL_SCHEDULE_MAX_CATCH_UP"],
                 help="Fire times missed while the server was down that a schedule trigger "
                      "with missed_fires=catch_up runs after a restart, at most."),
]


def plugin_environment_options(command):
    """Adds the flags; the command gets them as `plugin_environment`, Settings fields."""

    @functools.wraps(command)
    def callback(*args, plugin_repo: str, package_manager: str, plugin_isolation: str,
                 plugin_memory_limit: str, plugin_shutdown_grace: str,
                 async_trigger_concurrency_limit: int, restrict_plugin_triggers_to: str,
                 trigger_max_lag: str, schedule_max_catch_up: int, **kwargs):
        if not plugin_repo.strip():
            raise click.BadParameter("must not be empty", param_hint="--plugin-repo")
        settings = {"plugin_repo": plugin_repo.strip(),
                    "package_manager": None if package_manager == "discover" else package_manager,
                    "plugin_isolation": plugin_isolation,
                    "plugin_memory_limit_bytes": _memory_limit(plugin_memory_limit),
                    "plugin_shutdown_grace_s": _grace(plugin_shutdown_grace),
                    "async_trigger_concurrency_limit": _positive(
                        async_trigger_concurrency_limit, "--async-trigger-concurrency-limit"),
                    "plugin_trigger_kinds": _kinds(restrict_plugin_triggers_to),
                    "trigger_max_lag_bytes": _max_lag(trigger_max_lag),
                    "schedule_max_catch_up": _non_negative(schedule_max_catch_up,
                                                           "--schedule-max-catch-up")}
        return command(*args, plugin_environment=settings, **kwargs)

    for option in reversed(_OPTIONS):
        callback = option(callback)
    return callback


def _memory_limit(text: str) -> int | None:
    from timewell.storage.snapshot import parse_memory_threshold

    try:
        size = parse_memory_threshold(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--plugin-memory-limit") from None
    return size or None


def _max_lag(text: str) -> int:
    from timewell.storage.snapshot import parse_memory_threshold

    try:
        return parse_memory_threshold(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--trigger-max-lag") from None


def _non_negative(value: int, flag: str) -> int:
    if value < 0:
        raise click.BadParameter("must be 0 or more", param_hint=flag)
    return value


def _grace(text: str) -> float:
    try:
        return parse_duration_ns(text) / 1e9
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--plugin-shutdown-grace") from None


def _positive(value: int, hint: str) -> int:
    if value <= 0:
        raise click.BadParameter("must be positive", param_hint=hint)
    return value


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(k.strip().lower() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in _TRIGGER_KINDS]
    if unknown or not kinds:
        raise click.BadParameter(f"use a comma-separated subset of {', '.join(_TRIGGER_KINDS)}",
                                 param_hint="--restrict-plugin-triggers-to")
    return kinds
