"""`timewell create|show|delete ...`: databases and tables."""

from __future__ import annotations

import click

from timewell.cli.client import (
    Server,
    database_option,
    host_option,
    token_option,
    write_body,
)


@click.group()
def create() -> None:
    """Create a database, a table, ..."""


@click.group()
def show() -> None:
    """List databases, ..."""


@click.group()
def delete() -> None:
    """Delete a database, a table, ..."""


@click.group()
def update() -> None:
    """Change a database's retention, a table's columns, a trigger's plugin."""


@create.command("database")
@host_option
@token_option
@click.option("--retention-period", default=None, help="Keep data this long, e.g. 30d.")
@click.option("--schema-mode", type=click.Choice(["implicit", "explicit"]), default=None,
              help="implicit (the default): writes add tables and columns. explicit (InfluxDB 3 "
                   "Enterprise's) is refused: timewell takes schemas from writes and declared "
                   "tables.")
@click.argument("name")
def create_database(host: str, token: str | None, retention_period: str | None,
                    schema_mode: str | None, name: str) -> None:
    """Create database NAME."""
    body = {"db": name}
    if retention_period:
        body["retention_period"] = retention_period
    if schema_mode:
        body["schema_mode"] = schema_mode
    Server(host, token).request("POST", "/api/v3/configure/database", json=body)
    click.echo(f'Database "{name}" created successfully')


@update.command("database")
@database_option
@host_option
@token_option
@click.option("-r", "--retention-period", default=None,
              help="Keep data this long, e.g. 30d; none: keep it forever.")
def update_database(database: str, host: str, token: str | None,
                    retention_period: str | None) -> None:
    """Change a database's retention period."""
    if retention_period is None:
        raise click.UsageError("--retention-period is required for update database")
    retention = None if retention_period.strip().lower() == "none" else retention_period
    Server(host, token).request("PUT", "/api/v3/configure/database",
                                json={"db": database, "retention_period": retention})
    click.echo(f'Database "{database}" updated successfully')


@show.command("databases")
@host_option
@token_option
@click.option("--format", "fmt", type=click.Choice(["pretty", "json", "jsonl", "csv"]),
              default="pretty", show_default=True)
@click.option("--show-deleted", is_flag=True, help="Also list deleted databases.")
def show_databases(host: str, token: str | None, fmt: str, show_deleted: bool) -> None:
    """List the databases."""
    params = {"format": fmt, **({"show_deleted": "true"} if show_deleted else {})}
    response = Server(host, token).request("GET", "/api/v3/configure/database", params=params)
    write_body(response.text)


@delete.command("database")
@host_option
@token_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.argument("name")
def delete_database(host: str, token: str | None, yes: bool, name: str) -> None:
    """Delete database NAME (its writes are refused from now on)."""
    _confirm(yes, f'database "{name}"')
    Server(host, token).request("DELETE", "/api/v3/configure/database", params={"db": name})
    click.echo(f'Database "{name}" deleted successfully')


def _columns_options(command):
    command = click.option(
        "-f", "--fields", default="",
        help="Comma-separated name:type, type one of utf8, int64, uint64, float64, bool."
    )(command)
    return click.option("--tags", default="",
                        help="Comma-separated tag names, in series-key order.")(command)


def _table_body(database: str, name: str, tags: str, fields: str) -> dict:
    field_specs = []
    for spec in filter(None, (f.strip() for f in fields.split(","))):
        field_name, sep, field_type = spec.rpartition(":")
        if not sep or not field_name:
            raise click.BadParameter(f"'{spec}' is not name:type", param_hint="--fields")
        field_specs.append({"name": field_name, "type": field_type})
    return {"db": database, "table": name,
            "tags": [t.strip() for t in tags.split(",") if t.strip()], "fields": field_specs}


@create.command("table")
@database_option
@host_option
@token_option
@_columns_options
@click.argument("name")
def create_table(database: str, host: str, token: str | None, tags: str, fields: str,
                 name: str) -> None:
    """Create table NAME in a database."""
    Server(host, token).request("POST", "/api/v3/configure/table",
                                json=_table_body(database, name, tags, fields))
    click.echo(f'Table "{database}"."{name}" created successfully')


@update.command("table")
@database_option
@host_option
@token_option
@_columns_options
@click.argument("name")
def update_table(database: str, host: str, token: str | None, tags: str, fields: str,
                 name: str) -> None:
    """Declare more tags and fields on table NAME (add-only: a column keeps its type)."""
    body = _table_body(database, name, tags, fields)
    if not body["tags"] and not body["fields"]:
        raise click.UsageError("one of --tags or --fields is required for update table")
    Server(host, token).request("PATCH", "/api/v3/configure/table", json=body)
    click.echo(f'Table "{database}"."{name}" updated with {len(body["tags"])} tag(s) and '
               f'{len(body["fields"])} field(s)')


@delete.command("table")
@database_option
@host_option
@token_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.argument("name")
def delete_table(database: str, host: str, token: str | None, yes: bool, name: str) -> None:
    """Delete table NAME from a database."""
    _confirm(yes, f'table "{database}"."{name}"')
    Server(host, token).request("DELETE", "/api/v3/configure/table",
                                params={"db": database, "table": name})
    click.echo(f'Table "{database}"."{name}" deleted successfully')


def _confirm(yes: bool, what: str) -> None:
    if yes:
        return
    answer = click.prompt(f"Are you sure you want to delete {what}? Enter 'yes' to confirm",
                          default="", show_default=False)
    if answer.strip().lower() != "yes":
        raise click.ClickException("cancelled; nothing was deleted")
