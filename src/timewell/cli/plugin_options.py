"""`timewell serve` flags for the plugin environment: the plugin repository and the package
manager."""

from __future__ import annotations

import functools

import click

from timewell.engine.repository import DEFAULT_PLUGIN_REPO

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
]


def plugin_environment_options(command):
    """Adds the flags; the command gets them as `plugin_environment`, Settings fields."""

    @functools.wraps(command)
    def callback(*args, plugin_repo: str, package_manager: str, **kwargs):
        if not plugin_repo.strip():
            raise click.BadParameter("must not be empty", param_hint="--plugin-repo")
        settings = {"plugin_repo": plugin_repo.strip(),
                    "package_manager": None if package_manager == "discover" else package_manager}
        return command(*args, plugin_environment=settings, **kwargs)

    for option in reversed(_OPTIONS):
        callback = option(callback)
    return callback
