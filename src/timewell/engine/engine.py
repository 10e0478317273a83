"""The processing engine: triggers bound to plugins, fed by WAL flushes (delivered from
durable per-trigger cursors, delivery.py), schedules and HTTP requests. It reaches the
database only through the write and query services. Plugins run
where `--plugin-isolation` says: worker processes (worker_execution.py, the default) or
threads of the server (thread_execution.py)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from timewell.catalog import Catalog, TriggerDefinition
from timewell.engine.cache import PluginCache
from timewell.engine.cache_store import CacheStore
from timewell.engine.cursors import CursorStore, parse_cursor_key
from timewell.engine.database import NodeDatabase
from timewell.engine.delivery import WriteDelivery
from timewell.engine.dry_run import DryRunner
from timewell.engine.environment import PluginEnvironment, default_package_manager
from timewell.engine.events import Invocation, RequestCall
from timewell.engine.execution import Execution
from timewell.engine.files import PluginFiles
from timewell.engine.flush_log import FlushLog
from timewell.engine.isolation import Isolation
from timewell.engine.limits import TRIGGER_KINDS, check_timeout, time_limit_s, trigger_kind
from timewell.engine.logs import EngineLog
from timewell.engine.plugin_globals import export_plugin_dir
from timewell.engine.plugins import PluginDirectory
from timewell.engine.registry import ContentHashes, registry_rows, registry_table
from timewell.engine.repository import DEFAULT_PLUGIN_REPO, is_repository_plugin
from timewell.engine.responses import PluginResponse
from timewell.engine.runner import TriggerRunner
from timewell.engine.schedule import (
    MISSED_FIRES,
    Downtime,
    FireRecorder,
    run_now_invocation,
    run_schedule,
    utc_now,
)
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
from timewell.engine.system_tables import arguments_table, triggers_table
from timewell.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from timewell.storage.objectstore import ObjectStore
from timewell.storage.wal import Wal, WalFlush

log = logging.getLogger(__name__)

ERROR_BEHAVIORS = ("log", "retry", "disable")


@dataclass(frozen=True)
class EngineSettings:
    plugin_dir: Path | None
    plugin_timeout_s: float | None = None  # None: limits.default_timeout_s
    state_dir: Path | None = None  # plugin packages, repository caches, plugin snapshots
    plugin_repo: str = DEFAULT_PLUGIN_REPO
    package_manager: str | None = None  # uv | pip | disabled; None: uv when available
    isolation: str = "process"  # process | thread
    memory_limit_bytes: int | None = 1 << 30  # per worker process; None: no limit
    memory_limit_kind: str = "data"  # RLIMIT_DATA ("data") or RLIMIT_AS ("as")
    shutdown_grace_s: float = 5.0
    async_concurrency_limit: int = 32  # runs of run_async triggers at once, server-wide
    allowed_kinds: tuple[str, ...] = TRIGGER_KINDS
    trigger_max_lag_bytes: int = 1 << 30  # WAL kept for write triggers behind, at most
    schedule_max_catch_up: int = 100  # missed fires a catch_up schedule runs after downtime


class TriggerNotFound(NotFound):
    def __init__(self, database: str, name: str) -> None:
        super().__init__(f"trigger '{name}' not found in database '{database}'")


class ProcessingEngine:
    def __init__(self, catalog: Catalog, database: NodeDatabase, store: ObjectStore,
                 store_prefix: str, settings: EngineSettings, wal: Wal | None = None) -> None:
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
        self.isolation = Isolation(settings, database, self.cache, self.log, self.stats,
                                   self.plugins.root, self.environment.root)
        self._runners: dict[tuple[str, str], TriggerRunner] = {}
        self._specs: dict[tuple[str, str], TriggerSpec] = {}
        self._schedules: dict[tuple[str, str], asyncio.Task] = {}
        self._request_routes: dict[str, TriggerRunner] = {}  # request path -> enabled trigger
        # Write triggers: the WAL is their queue, read from durable cursors.
        self._wal = wal
        self.cursors = CursorStore(store, store_prefix)
        self._records = self.cursors.load_all()  # (database, trigger) -> its durable record
        self.flushes = FlushLog(wal.read_flush if wal is not None else lambda _seq: None)
        self._deliveries: dict[tuple[str, str], WriteDelivery] = {}
        self._recorders: dict[tuple[str, str], FireRecorder] = {}  # schedules' last fires
        self._started = False
        # Until start, the WAL replay must keep what enabled write triggers have not processed.
        self._resuming = {key: record["wal_sequence"] for key, record in self._records.items()
                          if "wal_sequence" in record and self._is_enabled_write_trigger(key)}
        self.stats.position = self._position
        if wal is not None:
            wal.retain_from = self._retain_from
            wal.max_retained_bytes = settings.trigger_max_lag_bytes
        self._async_slots: asyncio.Semaphore | None = None
        self._stopping: asyncio.Future | None = None
        # Dry runs get a cache of their own, so a test never touches a live trigger's state.
        self.dry_runs = DryRunner(self.sources.path, self.isolation.for_dry_run)

    # -- lifecycle

    async def start(self) -> None:
        export_plugin_dir(self.plugins.root)
        self._database.bind(asyncio.get_running_loop())
        self._async_slots = asyncio.Semaphore(self.settings.async_concurrency_limit)
        # Ahead of the first trigger; a server that cannot have plugins never pays for the
        # fork server (an interpreter importing pyarrow) at all.
        await self.isolation.start(eager=self.plugins.root is not None
                                   or bool(self._all_triggers()))
        self.environment.activate()
        self._cache_store.restore()
        for database, trigger in self._all_triggers():
            if not trigger.disabled:
                try:
                    path = await asyncio.to_thread(self.sources.trigger_path, trigger)
                    execution = self.isolation.for_trigger(database, trigger, path)
                    self._activate(database, trigger, execution)
                    self.isolation.warm(execution, parse_trigger_spec(
                        trigger.trigger_specification).entry_point)
                except Exception as e:  # a broken plugin must not stop the server starting
                    self.log.add(database, trigger.name, "ERROR",
                                 f"trigger not started: {e}")
        self._started = True
        self._resuming = {}
        self._prune()
        self._cache_store.start()

    def begin_shutdown(self) -> None:
        """The server is stopping (SIGTERM): cancel every run now (the plugin's next
        influxdb3_local call raises KeyboardInterrupt; after --plugin-shutdown-grace its worker
        is killed), so that requests waiting on plugins finish before the server waits on
        them."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop_triggers())

    async def stop(self) -> None:
        self.begin_shutdown()
        await self._stopping
        await self.isolation.stop()
        self._cache_store.stop()

    async def _stop_triggers(self) -> None:
        await asyncio.gather(*(self._deactivate(key) for key in list(self._runners)),
                             return_exceptions=True)

    # -- WAL subscriber

    def on_flush(self, flush: WalFlush) -> None:
        """Note the flush (pointers: its sequence and rows per table) while some write trigger
        may want it, and wake the triggers it concerns; they read it themselves."""
        if not self._deliveries and (self._started or not self._resuming):
            self.flushes.last_sequence = max(self.flushes.last_sequence, flush.sequence)
            return
        self.flushes.add(flush)
        if flush.replayed:
            self._committed_cursors(flush)
            return  # at start-up: deliveries start after the replay
        tables = {(write.database, write.table) for write in flush.writes}
        databases = {database for database, _ in tables}
        for delivery in self._deliveries.values():
            if delivery.database in databases and (
                    delivery.table is None or (delivery.database, delivery.table) in tables):
                delivery.wake()
        self._prune()

    def _committed_cursors(self, flush: WalFlush) -> None:
        """A replayed WAL file holds the cursors committed with runs' output: they may be
        newer than the saved records (the crash came before those were written)."""
        for key, sequence in flush.cursors.items():
            trigger = parse_cursor_key(key)
            record = self._records.get(trigger)
            if record is None or record.get("wal_sequence", sequence) >= sequence:
                continue
            record["wal_sequence"] = sequence
            if trigger in self._resuming:
                self._resuming[trigger] = sequence

    def _prune(self) -> None:
        """Forget the flushes every write trigger has passed."""
        if self._deliveries:
            self.flushes.prune(min(d.cursor for d in self._deliveries.values()))
        elif self._started:
            self.flushes.prune(self.flushes.last_sequence)

    def _retain_from(self) -> int | None:
        """The oldest WAL sequence an enabled write trigger has not durably processed (the
        WAL keeps it past snapshots); called from the snapshot's thread."""
        cursors = [d.saved_cursor for d in list(self._deliveries.values())]
        cursors += list(self._resuming.values())
        return min(cursors) + 1 if cursors else None

    def _position(self, database: str, name: str) -> tuple | None:
        delivery = self._deliveries.get((database, name))
        return None if delivery is None else (delivery.cursor, delivery.lag())

    def _is_enabled_write_trigger(self, key: tuple[str, str]) -> bool:
        with self._catalog.lock:
            db = self._catalog.databases.get(key[0])
            trigger = db.triggers.get(key[1]) if db is not None and not db.deleted else None
        return (trigger is not None and not trigger.disabled and isinstance(
            parse_trigger_spec(trigger.trigger_specification), TableTrigger | AllTablesTrigger))

    async def _start_at_end(self, database: str, definition: TriggerDefinition) -> None:
        """A write trigger created or enabled now sees the flushes from now on only; a
        schedule owes no fire time from before now."""
        spec = parse_trigger_spec(definition.trigger_specification)
        if isinstance(spec, TableTrigger | AllTablesTrigger):
            end = self.flushes.last_sequence
            record = {"wal_sequence": end, "attempted_through": end}
        elif isinstance(spec, EveryTrigger | CronTrigger):
            record = {"last_fire": utc_now().isoformat()}
        else:
            return
        await asyncio.to_thread(self.cursors.save, database, definition.name, record)
        self._records[(database, definition.name)] = record

    def _fire_recorder(self, database: str, name: str) -> FireRecorder:
        def persist(fire: dt.datetime) -> None:
            record = {"last_fire": fire.isoformat()}
            self.cursors.save(database, name, record)
            self._records[(database, name)] = record

        return FireRecorder(self._wal.barrier if self._wal is not None else _nothing, persist)

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
        kind = trigger_kind(spec)
        if kind not in self.settings.allowed_kinds:
            raise Forbidden(f"this server does not run {kind} triggers ('{spec}'): it was "
                            "started with --restrict-plugin-triggers-to "
                            f"{','.join(self.settings.allowed_kinds)}")
        check_timeout(definition.extra.get("timeout_s"))
        missed_fires = definition.extra.get("missed_fires", "skip")
        if missed_fires not in MISSED_FIRES:
            raise InvalidRequest(f"missed_fires '{missed_fires}' is not one of "
                                 f"{', '.join(MISSED_FIRES)}")
        if missed_fires != "skip" and not isinstance(spec, EveryTrigger | CronTrigger):
            raise InvalidRequest("missed_fires applies to schedule triggers (every:, cron:) "
                                 "only")
        with self._catalog.lock:
            if definition.name in self._catalog.database(database).triggers:
                raise AlreadyExists(f"trigger '{definition.name}' already exists in database "
                                    f"'{database}'")
        path = await self._plugin_path(definition, refresh)
        if install_deps:
            await self.environment.install_declared(path)
        execution = await self.isolation.checked(database, definition, path, spec)
        try:
            with self._catalog.lock:
                db = self._catalog.database(database)
                if definition.name in db.triggers:
                    raise AlreadyExists(f"trigger '{definition.name}' already exists in "
                                        f"database '{database}'")
                if isinstance(spec, RequestTrigger):
                    self._check_request_path_free(spec.path)
                self._catalog.commit([_put_op(database, definition)])
        except BaseException:
            await execution.stop(0)
            raise
        if definition.disabled:
            await execution.stop(0)
        else:
            await self._start_at_end(database, definition)
            self._activate(database, definition, execution)

    async def delete_trigger(self, database: str, name: str, force: bool) -> None:
        trigger = self._trigger(database, name)
        if not trigger.disabled and not force:
            raise InvalidRequest(f"trigger '{name}' is enabled: disable it first or delete "
                                 "with force=true")
        await self._deactivate((database, name))
        self._catalog.commit([{"op": "delete_trigger", "db": database, "name": name}])
        self.cache.clear_trigger(database, name)
        self.stats.forget(database, name)
        self._records.pop((database, name), None)
        await asyncio.to_thread(self.cursors.delete, database, name)

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
        execution = await self.isolation.checked(database, trigger, path, spec)
        trigger = self._set_disabled(database, trigger, False)
        await self._start_at_end(database, trigger)
        self._activate(database, trigger, execution)

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
        execution = await self.isolation.checked(
            database, changed, path, parse_trigger_spec(changed.trigger_specification))
        self._catalog.commit([_put_op(database, changed)])
        if (database, name) in self._runners:
            await self._deactivate((database, name))
            self._activate(database, changed, execution)
        else:
            await execution.stop(0)
        return {"trigger_name": name, "plugin_filename": changed.plugin_filename,
                "previous_version": before, "version": self._version_of(database, name)}

    def trigger_plugin(self, database: str, name: str) -> tuple[TriggerDefinition, Path]:
        """A trigger and where its code lies in the plugin directory (for replacing it)."""
        trigger = self._trigger(database, name)
        return trigger, self.sources.replaceable_path(trigger)

    async def run_trigger_now(self, database: str, name: str) -> dict:
        """Run an enabled schedule trigger once, now, as its schedule would (its execution,
        cache, arguments, timeout, error behaviour and stats); the schedule goes on as
        before. Returns the call time and the run's error, if any."""
        trigger = self._trigger(database, name)
        spec = parse_trigger_spec(trigger.trigger_specification)
        if not isinstance(spec, EveryTrigger | CronTrigger):
            raise InvalidRequest(
                f"trigger '{name}' is a {trigger_kind(spec)} trigger: only schedule triggers "
                "(every:, cron:) run on demand; dry-run a write plugin with POST "
                "/api/v3/plugin_test/wal, call a request trigger at /api/v3/engine/<path>")
        runner = self._runners.get((database, name))
        if runner is None:
            raise InvalidRequest(
                f"trigger '{name}' is disabled: enable it first (POST "
                "/api/v3/configure/processing_engine_trigger/enable), or dry-run its plugin "
                "with POST /api/v3/plugin_test/schedule")
        invocation = run_now_invocation(runner.definition.trigger_arguments)
        outcome = await runner.run_guarded(invocation)
        return {"trigger_name": name, "call_time": invocation.event.call_time.isoformat() + "Z",
                "error": outcome.error}

    async def disable_trigger(self, database: str, name: str) -> None:
        trigger = self._trigger(database, name)
        self._set_disabled(database, trigger, True)
        await self._deactivate((database, name))

    async def drop_database(self, database: str) -> None:
        """The database was deleted: stop its triggers and forget their state."""
        # In parallel: each may take the shutdown grace period to end a blocked run.
        await asyncio.gather(*(self._deactivate(key) for key in list(self._runners)
                               if key[0] == database))
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
        headers = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
        event = RequestCall(dict(query), headers, body)
        outcome = await runner.run_once_guarded(Invocation(
            "process_request", event, runner.definition.trigger_arguments, "request plugin"))
        if outcome.error is not None:
            return _error_response(outcome.error)
        return outcome.result

    # -- system tables

    def triggers_table(self, database: str) -> pa.Table:
        return triggers_table(database, self.triggers(database))

    def plugin_files_table(self, _database: str) -> pa.Table:
        """Every plugin file the triggers of every database use (the same in any database)."""
        return registry_table(registry_rows(self._all_triggers(), self.sources, self._hashes))

    def arguments_table(self, database: str) -> pa.Table:
        return arguments_table(self.triggers(database))

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

    def _activate(self, database: str, definition: TriggerDefinition,
                  execution: Execution) -> None:
        key = (database, definition.name)
        if key in self._runners:
            asyncio.ensure_future(execution.stop(0))
            return
        spec = parse_trigger_spec(definition.trigger_specification)
        runner = TriggerRunner(
            definition, database, execution, self.log, self.stats,
            time_limit_s(definition, self.settings.plugin_timeout_s),
            self._output_writer(database, definition.name),
            lambda error: self._disable_after_error(database, definition.name, error),
            self._async_slots)
        self._runners[key] = runner
        self._specs[key] = spec
        self.stats.of(database, definition.name)  # its row shows from now on, runs or not
        if isinstance(spec, RequestTrigger):
            self._request_routes[spec.path] = runner
        elif isinstance(spec, TableTrigger | AllTablesTrigger):
            record = self._records.get(key) or {}
            cursor = record.get("wal_sequence", self.flushes.last_sequence)
            delivery = WriteDelivery(
                runner, spec.table if isinstance(spec, TableTrigger) else None, self.flushes,
                self._wal, self.cursors, self.stats, self.log, cursor,
                record.get("attempted_through", cursor))
            self._deliveries[key] = delivery
            delivery.start()
        elif isinstance(spec, EveryTrigger | CronTrigger):
            last_fire = (self._records.get(key) or {}).get("last_fire")
            downtime = Downtime(dt.datetime.fromisoformat(last_fire) if last_fire else None,
                                definition.extra.get("missed_fires", "skip"),
                                self.settings.schedule_max_catch_up)
            recorder = self._fire_recorder(database, definition.name)
            self._recorders[key] = recorder
            self._schedules[key] = asyncio.create_task(run_schedule(
                runner, spec, self.stats, self.log, downtime, recorder))

    async def _deactivate(self, key: tuple[str, str]) -> None:
        runner = self._runners.pop(key, None)
        spec = self._specs.pop(key, None)
        if isinstance(spec, RequestTrigger):
            self._request_routes.pop(spec.path, None)
        delivery = self._deliveries.pop(key, None)
        if delivery is not None:
            delivery.cancel()
        if runner is not None:
            # Running runs get the grace period to return before their worker is killed.
            await runner.stop(self.settings.shutdown_grace_s)
        if delivery is not None:
            await delivery.stop()
            self._records[key] = {"wal_sequence": delivery.saved_cursor,
                                  "attempted_through": delivery.saved_cursor}
        schedule = self._schedules.pop(key, None)
        if schedule is not None and schedule is not asyncio.current_task():
            schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await schedule
        recorder = self._recorders.pop(key, None)
        if recorder is not None:
            await recorder.flush()

    def _output_writer(self, database: str, trigger_name: str):
        """Writes a run's queued lines after it returns, in one WAL write with the cursor the
        run commits; refused lines go to the trigger's log (the run itself succeeded)."""

        async def write(outputs: dict[str, str], commits: dict[str, int] | None) -> None:
            try:
                failures = await self._database.write_committed(outputs, commits or {})
            except Exception as e:
                failures = dict.fromkeys(outputs, e)
            for db_name, e in failures.items():
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


async def _nothing() -> None:
    pass


def _check_arguments(arguments) -> None:
    if arguments is None:
        return
    if not isinstance(arguments, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in arguments.items()):
        raise InvalidRequest("trigger_arguments must be an object of string keys and values")


def _put_op(database: str, trigger: TriggerDefinition) -> dict:
    return {"op": "put_trigger", "db": database, "trigger": trigger.to_json()}


def _error_response(error: str) -> PluginResponse:
    import orjson

    return PluginResponse(500, {"Content-Type": "application/json"},
                          orjson.dumps({"error": error}))
