"""Where plugins run (`--plugin-isolation`): each trigger in a worker process of its own
(`process`, the default; worker_execution.py over worker_pool.py), or in a pool of threads of
the server (`thread`; thread_execution.py). The engine asks for an `Execution` per trigger and
per dry run, and never needs to know which."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from timewell.catalog import TriggerDefinition
from timewell.engine.cache import PluginCache
from timewell.engine.execution import Execution
from timewell.engine.logs import EngineLog, RunLogger
from timewell.engine.plugin_globals import install_plugin_builtins
from timewell.engine.plugins import LoadedPlugin, PluginLoadError, multi_file_entry
from timewell.engine.specs import TriggerSpec
from timewell.engine.stats import EngineStats
from timewell.engine.thread_execution import ThreadExecution
from timewell.engine.worker_execution import WorkerBinding, WorkerExecution
from timewell.engine.worker_pool import WorkerPool
from timewell.errors import InvalidRequest

_PLUGIN_THREADS = 32


class Isolation:
    def __init__(self, settings, database, cache: PluginCache, engine_log: EngineLog,
                 stats: EngineStats, plugin_dir: Path | None,
                 packages_dir: Path | None) -> None:
        self.mode = settings.isolation
        self._database = database  # NodeDatabase
        self._cache = cache
        self._log = engine_log
        self._stats = stats
        self._plugin_dir = str(plugin_dir) if plugin_dir is not None else None
        self._packages_dir = str(packages_dir) if packages_dir is not None else None
        self._memory_limit_text = format_bytes(settings.memory_limit_bytes)
        # Dry runs get a cache of their own, so a test never touches a live trigger's state.
        self._dry_cache = PluginCache()
        self.pool = (WorkerPool(settings.memory_limit_bytes, settings.memory_limit_kind)
                     if self.mode == "process" else None)
        self._warming: set[asyncio.Task] = set()
        self._executor = (ThreadPoolExecutor(_PLUGIN_THREADS, thread_name_prefix="plugin")
                          if self.mode == "thread" else None)

    async def start(self, eager: bool) -> None:
        """Thread mode: plugins' builtins go into the server's. Process mode: start the fork
        server and the spare workers now when `eager`, else at the first trigger."""
        if self.pool is None:
            install_plugin_builtins()
        elif eager:
            await self.pool.start()

    async def stop(self) -> None:
        for task in list(self._warming):
            task.cancel()
        if self.pool is not None:
            await self.pool.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def for_trigger(self, database: str, definition: TriggerDefinition, path: Path,
                    capture_sync_writes: bool = False, logger: RunLogger | None = None,
                    cache: PluginCache | None = None) -> Execution:
        """Where this trigger's plugin will run (nothing is loaded yet)."""
        name = definition.name
        instance = f"{database}_{name}"  # names the plugin's module: stable across restarts
        entry = multi_file_entry(definition.plugin_filename)
        cache = cache or self._cache
        if self.pool is None:
            return ThreadExecution(LoadedPlugin(path, instance, entry), self._database, database,
                                   cache.view(database, name), self._executor,
                                   capture_sync_writes)
        binding = WorkerBinding(database, name, str(path), instance, definition.run_async,
                                capture_sync_writes, self._plugin_dir, self._packages_dir,
                                entry)
        stats = self._stats
        return WorkerExecution(
            self.pool, binding, self._database, cache,
            logger or RunLogger(self._log, database, name), self._memory_limit_text,
            on_restart=lambda cause, detail: stats.record_restart(database, name, cause, detail),
            on_memory=lambda peak: stats.record_memory(database, name, peak))

    async def checked(self, database: str, definition: TriggerDefinition, path: Path,
                      spec: TriggerSpec) -> Execution:
        """An execution whose plugin loaded and has the entry function `spec` needs (loaded
        where it will run); InvalidRequest saying why not."""
        execution = self.for_trigger(database, definition, path)
        try:
            await execution.check(spec.entry_point)
        except PluginLoadError as e:
            await execution.stop(0)
            raise InvalidRequest(str(e)) from None
        except BaseException:
            await execution.stop(0)
            raise
        return execution

    def warm(self, execution: Execution, entry: str) -> None:
        """Process mode: bind a worker and load the plugin now, in the background, so that
        the first event after a restart does not wait for it. A plugin that fails to load
        fails its runs, as it would have anyway."""
        if self.pool is None:
            return
        task = asyncio.ensure_future(execution.check(entry))
        self._warming.add(task)
        task.add_done_callback(self._warmed)

    def _warmed(self, task: asyncio.Task) -> None:
        self._warming.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the runs report it

    def for_dry_run(self, path: Path, database: str, namespace: str,
                    logger: RunLogger, filename: str | None = None) -> Execution:
        """`filename`: the plugin's name as given (a multi-file plugin's entry file)."""
        definition = TriggerDefinition(namespace, filename or str(path), "request:dry_run")
        return self.for_trigger(database, definition, path, capture_sync_writes=True,
                                logger=logger, cache=self._dry_cache)


def format_bytes(size: int | None) -> str:
    """A memory limit as users wrote it (1GiB), for error messages."""
    if not size:
        return "none"
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size} bytes"
