"""Plugin code and packages: `update trigger`, `install package`, `show plugins`, and the
upload behind `create trigger --upload`."""

from __future__ import annotations

from pathlib import Path

import click

from timewell.cli import admin
from timewell.cli.client import Server, database_option, host_option, print_query, token_option

TRIGGER_URL = "/api/v3/configure/processing_engine_trigger"
FILES_URL = "/api/v3/plugins/files"
_SKIPPED = {"__pycache__", ".git", ".venv"}


def local_plugin_files(directory: Path) -> list[dict]:
    """A local package directory as the API takes it: relative_path and content of each
    file (compiled files and hidden directories left out)."""
    files = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if (not path.is_file() or path.suffix == ".pyc"
                or _SKIPPED.intersection(relative.parts)
                or any(part.startswith(".") for part in relative.parts)):
            continue
        files.append({"relative_path": relative.as_posix(), "content": _text(path)})
    return files


def upload_plugin(server: Server, local: Path) -> str:
    """Upload a local plugin file or package directory into the server's plugin directory
    under its own name; that name."""
    if local.is_file():
        server.request("POST", FILES_URL, json={"plugin_name": local.name,
                                                "content": _text(local)})
        return local.name
    if local.is_dir():
        name = local.resolve().name
        for file in local_plugin_files(local):
            server.request("POST", FILES_URL, json={
                "plugin_name": f"{name}/{file['relative_path']}", "content": file["content"]})
        return name
    raise click.BadParameter(f"{local} is not a local file or directory", param_hint="--path")


@admin.update.command("trigger")
@database_option
@host_option
@token_option
@click.option("--trigger-name", required=True, help="The trigger to update.")
@click.option("--path", default=None,
              help="A local plugin file or directory to upload in place of the trigger's, or "
                   "a plugin name on the server (gh:<path> included) to switch to. Without "
                   "it: move a gh: plugin to the repository's current version.")
def update_trigger(database: str, host: str, token: str | None, trigger_name: str,
                   path: str | None) -> None:
    """Replace a trigger's plugin code, or move it to its repository's current version."""
    server = Server(host, token)
    local = Path(path).expanduser() if path else None
    target = {"db": database}
    if local is not None and local.is_file():
        # relative_path only counts for a package plugin: its file of that name is replaced
        server.request("PUT", FILES_URL, params=target,
                       json={"plugin_name": trigger_name, "content": _text(local),
                             "relative_path": local.name})
    elif local is not None and local.is_dir():
        server.request("PUT", "/api/v3/plugins/directory", params=target,
                       json={"plugin_name": trigger_name, "files": local_plugin_files(local)})
    else:
        body = {"db": database, "trigger_name": trigger_name,
                "refresh": path is None or path.startswith("gh:")}
        if path:
            body["plugin_filename"] = path
        result = server.request("PUT", TRIGGER_URL, json=body).json()
        if result.get("previous_version") != result.get("version"):
            click.echo(f"Plugin '{trigger_name}' updated successfully: "
                       f"{result.get('previous_version')} -> {result.get('version')}")
        else:
            click.echo(f"Plugin '{trigger_name}' is up to date at {result.get('version')}")
        return
    click.echo(f"Plugin '{trigger_name}' updated successfully")


@click.group()
def install() -> None:
    """Install packages for plugins."""


@install.command("package")
@host_option
@token_option
@click.option("-r", "--requirements", default=None,
              help="A requirements file: read here and sent when it exists on this machine, "
                   "else taken as a path on the server (relative to its plugin directory).")
@click.argument("packages", nargs=-1)
def install_package(host: str, token: str | None, requirements: str | None,
                    packages: tuple[str, ...]) -> None:
    """Install PACKAGES (or a requirements file) into the server's plugin environment."""
    if bool(packages) == bool(requirements):
        raise click.UsageError("name packages, or a requirements file with -r (not both)")
    server = Server(host, token)
    url = "/api/v3/configure/plugin_environment/"
    if packages:
        response = server.request("POST", url + "install_packages",
                                  json={"packages": list(packages)})
    elif Path(requirements).expanduser().is_file():
        response = server.request("POST", url + "install_requirements",
                                  json={"requirements": _text(Path(requirements).expanduser())})
    else:
        response = server.request("POST", url + "install_requirements",
                                  json={"requirements_location": requirements})
    result = response.json()
    installed = result.get("installed") or []
    click.echo("Installed: " + (", ".join(installed) if installed else "nothing new"))
    if result.get("provided_by_server"):
        click.echo("Provided by the server: " + ", ".join(result["provided_by_server"]))
    for warning in result.get("warnings") or []:
        click.echo(f"Warning: {warning}", err=True)


@admin.show.command("plugins")
@host_option
@token_option
@click.option("--format", "fmt", type=click.Choice(["pretty", "json", "jsonl", "csv"]),
              default="pretty", show_default=True)
def show_plugins(host: str, token: str | None, fmt: str) -> None:
    """List the plugin files triggers use: source, version and triggers of each."""
    query = ("SELECT plugin_name, file_name, file_path, size_bytes, last_modified, source, "
             "version, triggers FROM system.plugin_files ORDER BY plugin_name, file_name")
    print_query(host, token, "_internal", query, fmt)


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not a UTF-8 text file; plugin files are "
                                   "uploaded as text") from None
