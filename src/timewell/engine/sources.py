"""Where a trigger's plugin code comes from: a file or package in the plugin directory (run
as it is now, edits picked up), or a snapshot of a repository plugin (`gh:<path>`), pinned to
the version the trigger was created or last updated with."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from timewell.catalog import TriggerDefinition
from timewell.engine.plugins import PluginDirectory
from timewell.engine.repository import (
    Fetched,
    GitRepository,
    HttpRepository,
    PluginRepository,
    RepositoryError,
    Snapshots,
    is_repository_plugin,
    parse_repository,
    repository_path,
)
from timewell.errors import InvalidRequest, NotFound

PLUGIN_RECORD = "plugin"  # the key of TriggerDefinition.extra holding a repository plugin's pin


class PluginSources:
    def __init__(self, plugins: PluginDirectory, repository: str, state_dir: Path) -> None:
        self.plugins = plugins
        self.repository_text = repository
        self.snapshots = Snapshots(state_dir / "plugin-snapshots")
        self._repo_cache = state_dir / "plugin-repos"

    def repository(self) -> PluginRepository:
        try:
            return parse_repository(self.repository_text, self._repo_cache)
        except InvalidRequest as e:
            raise InvalidRequest(f"--plugin-repo: {e}") from None

    def fetch(self, filename: str) -> Fetched:
        """Take `gh:<path>` from the plugin repository as it is now (blocking: network, git)."""
        return self.repository().fetch(repository_path(filename), self.snapshots)

    def path(self, filename: str, record: dict | None = None) -> Path:
        """The plugin's code on disk (blocking): the pinned snapshot of a repository plugin,
        restored at its version if it went missing; a fresh fetch without a pin."""
        if not is_repository_plugin(filename):
            return self.plugins.resolve(filename)
        if record is None:
            return self.fetch(filename).path
        path = self.snapshots.path(record)
        if path.exists():
            return path
        return self._recorded_repository(record).restore(record, self.snapshots)

    def trigger_path(self, trigger: TriggerDefinition) -> Path:
        return self.path(trigger.plugin_filename, trigger.extra.get(PLUGIN_RECORD))

    async def pin(self, definition: TriggerDefinition, refresh: bool,
                  triggers: Iterable[TriggerDefinition]) -> Path:
        """The code `definition` runs. A repository plugin not pinned yet is pinned (in
        `definition.extra`) to the version another of `triggers` runs, else (or when
        `refresh`) to the repository's current one. A missing file is a bad request."""
        filename = definition.plugin_filename
        try:
            if not is_repository_plugin(filename):
                return self.plugins.resolve(filename)
            if PLUGIN_RECORD not in definition.extra and not refresh:
                record = self._record_in_use(filename, triggers)
                if record is not None:
                    definition.extra[PLUGIN_RECORD] = record
            if PLUGIN_RECORD not in definition.extra:
                fetched = await asyncio.to_thread(self.fetch, filename)
                definition.extra[PLUGIN_RECORD] = fetched.record
                return fetched.path
            return await asyncio.to_thread(self.trigger_path, definition)
        except NotFound as e:
            raise InvalidRequest(str(e)) from None

    def replaceable_path(self, trigger: TriggerDefinition) -> Path:
        """Where the plugin directory holds the trigger's code, for replacing it; refused for
        repository plugins, whose code only changes through `update trigger`."""
        if is_repository_plugin(trigger.plugin_filename):
            raise InvalidRequest(f"trigger '{trigger.name}' runs {trigger.plugin_filename} from "
                                 "the plugin repository: its files cannot be replaced; use "
                                 "`timewell update trigger` to move it to the repository's "
                                 "current version")
        return self.plugins.target(trigger.plugin_filename)

    def _record_in_use(self, filename: str,
                       triggers: Iterable[TriggerDefinition]) -> dict | None:
        repository = self.repository()
        for trigger in triggers:
            record = trigger.extra.get(PLUGIN_RECORD)
            if (trigger.plugin_filename == filename and record is not None
                    and record["repository"] == repository.url
                    and record.get("ref") == repository.ref):
                return dict(record)
        return None

    def _recorded_repository(self, record: dict) -> PluginRepository:
        if record.get("source") == "http":
            return HttpRepository(record["repository"])
        if record.get("source") == "git":
            return GitRepository(record["repository"], record.get("ref"), self._repo_cache)
        raise RepositoryError(f"unknown plugin source in the trigger's record: {record!r}")


def describe_source(record: dict) -> str:
    """Where a repository plugin came from, as one string."""
    if record["source"] == "http":
        return record["repository"] + record["file"]
    ref = f"@{record['ref']}" if record.get("ref") else ""
    return f"{record['repository']}{ref}//{record['file']}"
