"""The processing engine: triggers bound to plugins, fed by WAL flushes, schedules and HTTP
requests. It reaches the database only through the write and query services."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from timewell.catalog import Catalog, TriggerDefinition
from timewell.engine.cache import PluginCache
from timewell.engine.cache_store import CacheStore
from timewell.engine.database import NodeDatabase
from timewell.engine.dry_run import DryRunner
from timewell.engine.environment import PluginEnvironment, default_package_manager
from timewell.engine.files import PluginFiles
from timewell.engine.logs import EngineLog
from timewell.engine.plugins import (
    LoadedPlugin,
    PluginDirectory,
    PluginLoadError,
    export_plugin_dir,
)
from timewell.engine.registry import ContentHashes, registry_rows, registry_table
from timewell.engine.repository import DEFAULT_PLUGIN_REPO, is_repository_plugin
from timewell.engine.responses import PluginResponse, UnsupportedResponse, to_response
from timewell.engine.rows import flush_batches
from timewell.engine.runner import Invocation, TriggerRunner, fresh_arguments
from timewell.engine.schedule import run_schedule
from timewell.engine.sources import PLUGIN_RECORD, PluginSources
from timewell.engine.specs import (
    AllTablesTrigger,
    CronTrigger,
    EveryTrigger,
    RequestTrigger,
    TableTrigger,
    TriggerSpec,
    parse_trigger_spec,
)
from timewell.engine.stats import EngineStats
from timewell.errors import AlreadyExists, InvalidRequest, NotFound
from timewell.storage.objectstore import ObjectStore
from timewell.storage.wal import WalFlush

log = logging.getLogger(__name__)

ERROR_BEHAVIORS = ("log", "retry", "disable")
_PLUGIN_THREADS = 32


@dataclass(frozen=True)
class EngineSettings:
    plugin_dir: Path | None
    plugin_timeout_s: float | None = None
    state_dir: Path | None = None  # plugin packages, repository caches, plugin snapshots
    plugin_repo: str = DEFAULT_PLUGIN_REPO
    package_manager: str | None = None  # uv | pip | disabled; None: uv when available


class TriggerNotFound(NotFound):
    def __init__(self, database: str, name: str) -> None:
        super().__init__(f"trigger '{name}' not found in database '{database}'")


class ProcessingEngine:
    def __init__(self, catalog: Catalog, database: NodeDatabase, store: ObjectStore,
                 store_prefix: str, settings: EngineSettings) -> None:
        self._catalog = catalog
        self._database = database
        self.settings = settings
        self.plugins = PluginDirectory(settings.plugin_dir)
        state_dir = settings.state_dir or Path(tempfile.mkdtemp(prefix="timewell-engine-"))
        self.sources = PluginSources(self.plugins, settings.plugin_repo, state_dir)
        self.environment = PluginEnvironment(
            state_dir / "plugin-packages", settings.package_manager or default_package_manager())
        self.files = PluginFiles(self.plugins)
        self._hashes = ContentHashes()
        self.log = EngineLog()
        self.stats = EngineStats()
        self.cache = PluginCache()
        self._cache_store = CacheStore(self.cache, store,
                                       f"{store_prefix}/engine/plugin_cache.pickle")
        self._executor = ThreadPoolExecutor(_PLUGIN_THREADS, thread_name_prefix="plugin")
        self._runners: dict[tuple[str, str], TriggerRunner] = {}
        self._specs: dict[tuple[str, str], TriggerSpec] = {}
        self._schedules: dict[tuple[str, str], asyncio.Task] = {}
        self._request_routes: dict[str, TriggerRunner] = {}  # request path -> enabled trigger
        # Dry runs get a cache of their own, so a test never touches a live trigger's state.
        self.dry_runs = DryRunner(self.sources.path, database, PluginCache(), self._executor)

    # -- lifecycle

    async def start(self) -> None:
        from timewell.lineprotocol import builder

        # Plugins written for InfluxDB 3 use LineBuilder (and, in older ones, its errors)
        # without importing them, in the plugin file and in modules it imports: builtins.
        for name in ("LineBuilder", "InvalidMeasurementError", "InvalidKeyError",
                     "InvalidLineError"):
            setattr(builtins, name, getattr(builder, name))
        export_plugin_dir(self.plugins.root)
        self._database.bind(asyncio.get_running_loop())
        self.environment.activate()
        self._cache_store.restore()
        for database, trigger in self._all_triggers():
            if not trigger.disabled:
                try:
                    path = await asyncio.to_thread(self.sources.trigger_path, trigger)
                    self._activate(database, trigger, path)
                except Exception as e:  # a broken plugin must not stop the server starting
                    self.log.add(database, trigger.name, "ERROR",
                                 f"trigger not started: {e}")
        self._cache_store.start()

    async def stop(self) -> None:
        for key in list(self._runners):
            await self._deactivate(key)
        self._cache_store.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- WAL subscriber

    def on_flush(self, flush: WalFlush) -> None:
        if flush.replayed:
            return  # these writes fired their triggers before the restart
        databases = {write.database for write in flush.writes}
        tables = {(write.database, write.table) for write in flush.writes}
        for (database, _), runner in list(self._runners.items()):
            if database not in databases:
                continue
            spec = self._specs[(database, runner.name)]
            if isinstance(spec, TableTrigger):
                if (database, spec.table) in tables:
                    runner.submit(_write_invocation(flush, database, spec.table, runner))
            elif isinstance(spec, AllTablesTrigger):
                runner.submit(_write_invocation(flush, database, None, runner))

    # -- trigger management

    async def create_trigger(self, database: str, definition: TriggerDefinition,
                             install_deps: bool = False, refresh: bool = False) -> None:
        """Validate, persist and start a trigger. Raises InvalidRequest, NotFound,
        AlreadyExists with messages a user can act on.

        A repository plugin is pinned to the version other triggers of it already run (or
        fetched now, when none does or `refresh`); `install_deps` installs the packages the
        plugin declares before it is loaded."""
        self._catalog.database(database)  # unknown database: 404 before anything else
        spec = parse_trigger_spec(definition.trigger_specification)
        definition.trigger_specification = str(spec)
        if definition.error_behavior not in ERROR_BEHAVIORS:
            raise InvalidRequest(f"error_behavior '{definition.error_behavior}' is not one of "
                                 f"{', '.join(ERROR_BEHAVIORS)}")
        _check_arguments(definition.trigger_arguments)
        if definition.extra.get("public") and not isinstance(spec, RequestTrigger):
            raise InvalidRequest("only request triggers can be public")
        with self._catalog.lock:
            if definition.name in self._catalog.database(database).triggers:
                raise AlreadyExists(f"trigger '{definition.name}' already exists in database "
                                    f"'{database}'")
        path = await self._plugin_path(definition, refresh)
        if install_deps:
            await self.environment.install_declared(path)
        _check_entry_point(path, spec, definition.name)
        with self._catalog.lock:
            db = self._catalog.database(database)
            if definition.name in db.triggers:
                raise AlreadyExists(f"trigger '{definition.name}' already exists in database "
                                    f"'{database}'")
            if isinstance(spec, RequestTrigger):
                self._check_request_path_free(spec.path)
            self._catalog.commit([_put_op(database, definition)])
        if not definition.disabled:
            self._activate(database, definition, path)

    async def delete_trigger(self, database: str, name: str, force: bool) -> None:
        trigger = self._trigger(database, name)
        if not trigger.disabled and not force:
            raise InvalidRequest(f"trigger '{name}' is enabled: disable it first or delete "
                                 "with force=true")
        await self._deactivate((database, name))
        self._catalog.commit([{"op": "delete_trigger", "db": database, "name": name}])
        self.cache.clear_trigger(database, name)
        self.stats.forget(database, name)

    async def enable_trigger(self, database: str, name: str, refresh: bool = False) -> None:
        """Enable (`refresh`: first move a repository plugin to the repository's current
        version)."""
        trigger = self._trigger(database, name)
        if refresh and is_repository_plugin(trigger.plugin_filename):
            await self.update_trigger(database, name, refresh=True)
            trigger = self._trigger(database, name)
        if not trigger.disabled and (database, name) in self._runners:
            return
        spec = parse_trigger_spec(trigger.trigger_specification)
        path = await self._plugin_path(trigger, refresh=False)
        _check_entry_point(path, spec, name)
        trigger = self._set_disabled(database, trigger, False)
        self._activate(database, trigger, path)

    async def update_trigger(self, database: str, name: str, plugin_filename: str | None = None,
                             refresh: bool = True) -> dict:
        """Point a trigger at another plugin, or (`refresh`) move a repository plugin to the
        repository's current version; a running trigger restarts on the new code. Returns
        the trigger's plugin, version before and after."""
        trigger = self._trigger(database, name)
        before = self._version_of(database, name)
        changed = TriggerDefinition.from_json(trigger.to_json())
        changed.extra = dict(trigger.extra)
        changed.plugin_filename = plugin_filename or trigger.plugin_filename
        if plugin_filename and plugin_filename != trigger.plugin_filename:
            changed.extra.pop(PLUGIN_RECORD, None)
        if refresh:
            changed.extra.pop(PLUGIN_RECORD, None)
        path = await self._plugin_path(changed, refresh=refresh)
        _check_entry_point(path, parse_trigger_spec(changed.trigger_specification), name)
        self._catalog.commit([_put_op(database, changed)])
        if (database, name) in self._runners:
            await self._deactivate((database, name))
            self._activate(database, changed, path)
        return {"trigger_name": name, "plugin_filename": changed.plugin_filename,
                "previous_version": before, "version": self._version_of(database, name)}

    def trigger_plugin(self, database: str, name: str) -> tuple[TriggerDefinition, Path]:
        """A trigger and where its code lies in the plugin directory (for replacing it)."""
        trigger = self._trigger(database, name)
        return trigger, self.sources.replaceable_path(trigger)

    async def disable_trigger(self, database: str, name: str) -> None:
        trigger = self._trigger(database, name)
        self._set_disabled(database, trigger, True)
        await self._deactivate((database, name))

    async def drop_database(self, database: str) -> None:
        """The database was deleted: stop its triggers and forget their state."""
        for key in [key for key in self._runners if key[0] == database]:
            await self._deactivate(key)
        self.cache.clear_database(database)

    def triggers(self, database: str) -> list[TriggerDefinition]:
        with self._catalog.lock:
            return list(self._catalog.database(database).triggers.values())

    # -- request triggers

    def is_public_request(self, path: str) -> bool:
        """Whether `/api/v3/engine/<path>` is served by an enabled trigger created public
        (callable without a token)."""
        runner = self._request_routes.get(path)
        return runner is not None and runner.definition.extra.get("public") is True

    async def handle_request(self, path: str, query: dict[str, str], headers: dict[str, str],
                             body: bytes) -> PluginResponse:
        runner = self._request_routes.get(path)
        if runner is None:
            raise NotFound(f"no enabled request trigger serves the path '{path}'")
        database, name = runner.database_name, runner.name
        headers = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
        args = runner.definition.trigger_arguments

        def arguments(api):
            return (api, dict(query), dict(headers), body, fresh_arguments(args))

        outcome = await runner.run_once(
            Invocation("process_request", arguments, "request plugin"))
        if outcome.error is not None:
            return _error_response(outcome.error)
        try:
            return to_response(outcome.result)
        except UnsupportedResponse as e:
            self.log.add(database, name, "ERROR", str(e))
            return _error_response(str(e))

    # -- system tables

    def triggers_table(self, database: str) -> pa.Table:
        triggers = self.triggers(database)
        return pa.table({
            "trigger_name": pa.array([t.name for t in triggers], pa.string()),
            "plugin_filename": pa.array([t.plugin_filename for t in triggers], pa.string()),
            "trigger_specification": pa.array([t.trigger_specification for t in triggers],
                                              pa.string()),
            "disabled": pa.array([t.disabled for t in triggers], pa.bool_()),
            "error_behavior": pa.array([t.error_behavior for t in triggers], pa.string()),
            "run_async": pa.array([t.run_async for t in triggers], pa.bool_()),
            "public": pa.array([t.extra.get("public") is True for t in triggers], pa.bool_()),
            "database_name": pa.array([database] * len(triggers), pa.string()),
        })

    def plugin_files_table(self, _database: str) -> pa.Table:
        """Every plugin file the triggers of every database use (the same in any database)."""
        return registry_table(registry_rows(self._all_triggers(), self.sources, self._hashes))

    def arguments_table(self, database: str) -> pa.Table:
        rows = [(t.name, k, v) for t in self.triggers(database)
                for k, v in (t.trigger_arguments or {}).items()]
        return pa.table({
            "trigger_name": pa.array([r[0] for r in rows], pa.string()),
            "argument_key": pa.array([r[1] for r in rows], pa.string()),
            "argument_value": pa.array([r[2] for r in rows], pa.string()),
        })

    # -- internals

    def _trigger(self, database: str, name: str) -> TriggerDefinition:
        with self._catalog.lock:
            trigger = self._catalog.database(database).triggers.get(name)
        if trigger is None:
            raise TriggerNotFound(database, name)
        return trigger

    def _set_disabled(self, database: str, trigger: TriggerDefinition,
                      disabled: bool) -> TriggerDefinition:
        changed = TriggerDefinition.from_json({**trigger.to_json(), "disabled": disabled})
        self._catalog.commit([_put_op(database, changed)])
        return changed

    async def _plugin_path(self, definition: TriggerDefinition, refresh: bool) -> Path:
        return await self.sources.pin(definition, refresh,
                                      [t for _, t in self._all_triggers()])

    def _all_triggers(self) -> list[tuple[str, TriggerDefinition]]:
        with self._catalog.lock:
            return [(db.name, t) for db in self._catalog.live_databases()
                    for t in db.triggers.values()]

    def _version_of(self, database: str, name: str) -> str | None:
        trigger = self._trigger(database, name)
        rows = registry_rows([(database, trigger)], self.sources, self._hashes)
        return rows[0].version if rows else None

    def _check_request_path_free(self, path: str) -> None:
        for db in self._catalog.live_databases():
            for trigger in db.triggers.values():
                other = parse_trigger_spec(trigger.trigger_specification)
                if isinstance(other, RequestTrigger) and other.path == path:
                    raise AlreadyExists(f"request path '{path}' is already served by trigger "
                                        f"'{trigger.name}' in database '{db.name}'")

    def _activate(self, database: str, definition: TriggerDefinition, path: Path) -> None:
        key = (database, definition.name)
        if key in self._runners:
            return
        spec = parse_trigger_spec(definition.trigger_specification)
        runner = TriggerRunner(
            definition, database, LoadedPlugin(path, f"{database}_{definition.name}"),
            self._database, self.cache.view(database, definition.name), self.log, self.stats,
            self._executor, self.settings.plugin_timeout_s,
            self._output_writer(database, definition.name),
            lambda error: self._disable_after_error(database, definition.name, error))
        self._runners[key] = runner
        self._specs[key] = spec
        if isinstance(spec, RequestTrigger):
            self._request_routes[spec.path] = runner
        elif isinstance(spec, TableTrigger | AllTablesTrigger):
            runner.start_queue()
        elif isinstance(spec, EveryTrigger | CronTrigger):
            self._schedules[key] = asyncio.create_task(
                run_schedule(runner, spec, self.stats, self.log))

    async def _deactivate(self, key: tuple[str, str]) -> None:
        runner = self._runners.pop(key, None)
        spec = self._specs.pop(key, None)
        if isinstance(spec, RequestTrigger):
            self._request_routes.pop(spec.path, None)
        schedule = self._schedules.pop(key, None)
        if schedule is not None and schedule is not asyncio.current_task():
            schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await schedule
        if runner is not None:
            await runner.stop()

    def _output_writer(self, database: str, trigger_name: str):
        """Writes a run's queued lines after it returns; refused lines go to the trigger's log
        (the run itself succeeded)."""

        async def write(db_name: str, lines: str) -> None:
            try:
                await self._database.write_later(db_name, lines)
            except Exception as e:
                self.log.add(database, trigger_name, "ERROR",
                             f"writing the plugin's output to database '{db_name}' failed: {e}")

        return write

    async def _disable_after_error(self, database: str, name: str, error: str) -> None:
        try:
            trigger = self._trigger(database, name)
        except NotFound:
            return
        self._set_disabled(database, trigger, True)
        self.log.add(database, name, "ERROR", f"trigger disabled after an error: {error}")
        # Stopping the runner cancels the run that called us, so it happens afterwards.
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(self._deactivate((database, name))))


def _check_entry_point(path: Path, spec: TriggerSpec, name: str) -> None:
    try:
        LoadedPlugin(path, f"check_{name}").function(spec.entry_point)
    except PluginLoadError as e:
        raise InvalidRequest(str(e)) from None


def _check_arguments(arguments) -> None:
    if arguments is None:
        return
    if not isinstance(arguments, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in arguments.items()):
        raise InvalidRequest("trigger_arguments must be an object of string keys and values")


def _put_op(database: str, trigger: TriggerDefinition) -> dict:
    return {"op": "put_trigger", "db": database, "trigger": trigger.to_json()}


def _write_invocation(flush: WalFlush, database: str, table: str | None,
                      runner: TriggerRunner) -> Invocation:
    args = runner.definition.trigger_arguments

    def arguments(api):
        return (api, flush_batches(flush, database, table), fresh_arguments(args))

    return Invocation("process_writes", arguments, "wal plugin")


def _error_response(error: str) -> PluginResponse:
    import orjson

    return PluginResponse(500, {"Content-Type": "application/json"},
                          orjson.dumps({"error": error}))
