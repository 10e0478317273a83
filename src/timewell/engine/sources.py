"""Where a trigger's plugin code comes from: a file or package in the plugin directory (run
as it is now, edits picked up), or a snapshot of a repository plugin (`gh:<path>`), pinned to
the version the trigger was created or last updated with."""

from __future__ import annotations

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
from timewell.errors import InvalidRequest

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
