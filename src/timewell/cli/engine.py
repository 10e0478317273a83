"""Processing-engine commands: `create|enable|disable|delete trigger`, `show triggers`,
`test wal_plugin|schedule_plugin` (plugin code and packages: `cli/plugins.py`)."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from timewell.cli import admin
from timewell.cli.client import Server, database_option, host_option, print_query, token_option
from timewell.cli.plugins import TRIGGER_URL, upload_plugin


def key_values(text: str | None, option: str) -> dict[str, str] | None:
    """`k=v,k2=v2` as a dict (None when not given)."""
    if not text:
        return None
    pairs = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"'{part}' is not key=value", param_hint=option)
        pairs[key.strip()] = value.strip()
    return pairs


@admin.create.command("trigger")
@database_option
@host_option
@token_option
@click.option("--trigger-spec", required=True,
              help="table:<name>, all_tables, every:<duration>, cron:<expr> or request:<path>.")
@click.option("--path", "--plugin-filename", "path", default=None,
              help="Plugin file or directory (a package, or a multi-file plugin with "
                   "__main__.py), relative to the server's --plugin-dir, or gh:<path> from the "
                   "plugin repository.")
@click.option("--multi-file-plugin-dir", default=None,
              help="Instead of --path: a directory of the plugin directory whose .py files "
                   "make one plugin, entered through --entrypoint.")
@click.option("--entrypoint", default=None,
              help="With --multi-file-plugin-dir: the file holding the trigger's function "
                   "(default __main__.py).")
@click.option("--upload", is_flag=True,
              help="--path is a local file or directory: upload it to the server first.")
@click.option("--install-deps", is_flag=True,
              help="Install the packages the plugin declares (requirements.txt, manifest.toml) "
                   "before it starts.")
@click.option("--refresh", is_flag=True,
              help="gh: plugins: fetch the repository's current version, even if other "
                   "triggers run an older one.")
@click.option("--trigger-arguments", default=None, help="Arguments for the plugin: k=v,k2=v2.")
@click.option("--disabled", is_flag=True, help="Create the trigger disabled.")
@click.option("--run-asynchronous", is_flag=True, help="Let runs of this trigger overlap.")
@click.option("--error-behavior", type=click.Choice(["log", "retry", "disable"]), default="log",
              show_default=True, help="What a failing run does.")
@click.option("--public", is_flag=True,
              help="Request triggers only: answer requests without a token (for webhooks). "
                   "Anyone who can reach the server can then run the plugin.")
@click.option("--timeout", default=None,
              help="End a run of this trigger after this long (e.g. 10s), instead of the "
                   "server's --plugin-timeout.")
@click.option("--missed-fires", type=click.Choice(["skip", "catch_up"]), default=None,
              help="Schedule triggers: what to do after a restart about the fire times "
                   "missed while the server was down (default skip).")
@click.argument("trigger_name")
def create_trigger(database: str, host: str, token: str | None, trigger_spec: str,
                   path: str | None, multi_file_plugin_dir: str | None, entrypoint: str | None,
                   trigger_arguments: str | None, disabled: bool, run_asynchronous: bool,
                   error_behavior: str, public: bool, upload: bool, install_deps: bool,
                   refresh: bool, timeout: str | None, missed_fires: str | None,
                   trigger_name: str) -> None:
    """Create trigger TRIGGER_NAME: run a plugin on writes, a schedule or HTTP requests."""
    if (path is None) == (multi_file_plugin_dir is None):
        raise click.UsageError("name the plugin with --path (or --plugin-filename), or with "
                               "--multi-file-plugin-dir")
    if entrypoint is not None and multi_file_plugin_dir is None:
        raise click.UsageError("--entrypoint goes with --multi-file-plugin-dir")
    if multi_file_plugin_dir is not None:
        if upload:
            raise click.UsageError("--upload takes --path (a local file or directory)")
        path = (multi_file_plugin_dir if entrypoint in (None, "__main__.py")
                else f"dir:{multi_file_plugin_dir}:{entrypoint}")
    server = Server(host, token)
    if upload:
        path = upload_plugin(server, Path(path).expanduser())
    body = {
        "db": database, "trigger_name": trigger_name, "plugin_filename": path,
        "trigger_specification": trigger_spec,
        "trigger_arguments": key_values(trigger_arguments, "--trigger-arguments"),
        "disabled": disabled,
        "trigger_settings": {"run_async": run_asynchronous, "error_behavior": error_behavior},
    }
    if public:
        body["trigger_settings"]["public"] = True
    if timeout is not None:
        body["trigger_settings"]["timeout"] = timeout
    if missed_fires is not None:
        body["trigger_settings"]["missed_fires"] = missed_fires
    if install_deps:
        body["install_deps"] = True
    if refresh:
        body["refresh"] = True
    server.request("POST", TRIGGER_URL, json=body)
    click.echo(f"Trigger {trigger_name} created successfully")


def _trigger_command(group: click.Group, verb: str, suffix: str, method: str,
                     flag: str | None = None, flag_help: str = ""):
    @group.command("trigger")
    @database_option
    @host_option
    @token_option
    @click.argument("trigger_name")
    def command(database: str, host: str, token: str | None, trigger_name: str,
                **flags: bool) -> None:
        params = {"db": database, "trigger_name": trigger_name}
        if flag and flags.get(flag):
            params[flag] = "true"
        Server(host, token).request(method, TRIGGER_URL + suffix, params=params)
        click.echo(f"Trigger {trigger_name} {verb} successfully")

    command.__doc__ = f"{verb.capitalize()} trigger TRIGGER_NAME."
    if flag:
        command = click.option(f"--{flag}", is_flag=True, help=flag_help)(command)
    return command


@click.group()
def enable() -> None:
    """Enable a trigger."""


@click.group()
def disable() -> None:
    """Disable a trigger."""


_trigger_command(enable, "enabled", "/enable", "POST", "refresh",
                 "gh: plugins: move to the repository's current version first.")
_trigger_command(disable, "disabled", "/disable", "POST")
_trigger_command(admin.delete, "deleted", "", "DELETE", "force",
                 "Delete even if the trigger is enabled.")


@click.group()
def run() -> None:
    """Run a schedule trigger now (timewell)."""


@run.command("trigger")
@database_option
@host_option
@token_option
@click.argument("trigger_name")
def run_trigger(database: str, host: str, token: str | None, trigger_name: str) -> None:
    """Run the enabled schedule trigger TRIGGER_NAME once, now, as its schedule would (its
    cache, stats and log; its writes are written)."""
    result = Server(host, token).request("POST", TRIGGER_URL + "/run", params={
        "db": database, "trigger_name": trigger_name}).json()
    if result.get("error"):
        click.echo(f"Trigger {trigger_name} ran at {result['call_time']} and failed: "
                   f"{result['error']}", err=True)
        raise SystemExit(1)
    click.echo(f"Trigger {trigger_name} ran at {result['call_time']}")


@admin.show.command("triggers")
@database_option
@host_option
@token_option
@click.option("--format", "fmt", type=click.Choice(["pretty", "json", "jsonl", "csv"]),
              default="pretty", show_default=True)
def show_triggers(database: str, host: str, token: str | None, fmt: str) -> None:
    """List the triggers of a database with their run statistics."""
    query = ("SELECT t.trigger_name, t.trigger_specification, t.plugin_filename, t.disabled, "
             "t.error_behavior, t.run_async, s.runs, s.errors, s.last_error "
             "FROM system.processing_engine_triggers t "
             "LEFT JOIN system.processing_engine_trigger_stats s "
             "ON t.trigger_name = s.trigger_name ORDER BY t.trigger_name")
    print_query(host, token, database, query, fmt)


@click.group()
def test() -> None:
    """Dry-run a plugin: real queries, writes returned instead of applied."""


@test.command("wal_plugin")
@database_option
@host_option
@token_option
@click.option("--lp", default=None, help="Line protocol to feed the plugin.")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the line protocol from this file.")
@click.option("--input-arguments", default=None, help="Arguments: k=v,k2=v2.")
@click.option("--cache-name", default=None, help="Cache namespace to use for the test run.")
@click.argument("filename")
def test_wal_plugin(database: str, host: str, token: str | None, lp: str | None,
                    file: Path | None, input_arguments: str | None, cache_name: str | None,
                    filename: str) -> None:
    """Run FILENAME's process_writes on the given line protocol."""
    if (lp is None) == (file is None):
        raise click.UsageError("give the line protocol with either --lp or --file")
    body = {"filename": filename, "database": database,
            "input_lp": lp if lp is not None else file.read_text(),
            "input_arguments": key_values(input_arguments, "--input-arguments"),
            "cache_name": cache_name}
    _print_result(Server(host, token).request("POST", "/api/v3/plugin_test/wal", json=body))


@test.command("schedule_plugin")
@database_option
@host_option
@token_option
@click.option("--schedule", default=None, help="Cron expression or every:<duration>.")
@click.option("--input-arguments", default=None, help="Arguments: k=v,k2=v2.")
@click.option("--cache-name", default=None, help="Cache namespace to use for the test run.")
@click.argument("filename")
def test_schedule_plugin(database: str, host: str, token: str | None, schedule: str | None,
                         input_arguments: str | None, cache_name: str | None,
                         filename: str) -> None:
    """Run FILENAME's process_scheduled_call once."""
    body = {"filename": filename, "database": database, "schedule": schedule,
            "input_arguments": key_values(input_arguments, "--input-arguments"),
            "cache_name": cache_name}
    _print_result(Server(host, token).request("POST", "/api/v3/plugin_test/schedule",
                                              json=body))


def _print_result(response) -> None:
    result = response.json()
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    if result.get("errors"):
        raise SystemExit(1)
