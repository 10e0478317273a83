"""The `timewell` command: `serve` runs a server; the other commands talk to one over HTTP."""

from __future__ import annotations

import click

from timewell import __version__
from timewell.cli import admin, caches, data, engine, plugins, system, tokens  # noqa: F401 - add to create/delete
from timewell.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="timewell")
def main() -> None:
    """timewell: a time-series database with an embedded Python processing engine."""


main.add_command(serve)
main.add_command(data.write)
main.add_command(data.query)
main.add_command(admin.create)
main.add_command(admin.show)
main.add_command(admin.delete)
main.add_command(engine.enable)
main.add_command(engine.disable)
main.add_command(engine.test)
main.add_command(engine.run)
main.add_command(admin.update)
main.add_command(plugins.install)
