"""`timewell show system`: a database's system tables, as upstream's `influxdb3 show system`:
`table-list` (the tables and their columns), `table NAME` (one table's rows) and `summary` (the
first rows of each). Every subcommand is a SQL query of the `system` schema over the HTTP API."""

from __future__ import annotations

import json

import click

from timewell.cli import admin
from timewell.cli.client import (
    DEFAULT_HOST,
    Server,
    describe_error,
    env,
    tls_options,
    write_body,
)

QUERY_URL = "/api/v3/query_sql"
FORMATS = ["pretty", "json", "jsonl", "csv", "parquet"]

# upstream's query, word for word: one row per system table, its columns in schema order
TABLES_QUERY = (
    "WITH cols (table_name, column_name) AS (SELECT table_name, column_name FROM "
    "information_schema.columns WHERE table_schema = 'system' ORDER BY (table_name, "
    "column_name)) SELECT table_name, array_agg(column_name) AS column_names FROM cols GROUP BY "
    "table_name ORDER BY table_name")

# as upstream: the column a table's rows are ordered by when --order-by is not given
DEFAULT_ORDERING = {"cpu": "usage_percent", "last_caches": "count",
                    "parquet_files": "size_bytes", "queries": "end2end_duration",
                    "distinct_caches": "max_cardinality"}
# system.queries leaves out the queries of system tables and information_schema (this
# command's own), as upstream means to: its pattern, '.*(select.queries.|information_schema)*',
# matches every text, so its `table queries` never shows a row
DEFAULT_FILTER = {"queries": r"query_text !~* '\bsystem\s*\.|information_schema'"}


def _connection(function):
    """-d/--database, -H/--host, --token and the TLS options: given to `show system` (as
    upstream) or after its subcommand (as timewell's other commands take them); the
    subcommand's win."""
    for option in (
            tls_options,
            click.option("--token", default=None, envvar=env("AUTH_TOKEN"),
                         help="Authentication token."),
            click.option("-H", "--host", "host", default=None, envvar=env("HOST_URL"),
                         help=f"URL of the timewell server. [default: {DEFAULT_HOST}]"),
            click.option("-d", "--database", default=None, envvar=env("DATABASE_NAME"),
                         help="The database whose system tables to show (required)."),
    ):
        function = option(function)
    return function


def _format_option(function):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="pretty",
                        show_default=True, help="Output format (parquet is not supported "
                        "here, as upstream).")(function)


@admin.show.group("system")
@_connection
@click.pass_context
def show_system(ctx: click.Context, database: str | None, host: str | None,
                token: str | None) -> None:
    """Display system table data: `table-list`, `table NAME`, `summary`."""
    ctx.obj = {"database": database, "host": host, "token": token}


admin.show.add_command(show_system, name="s")  # upstream's alias: `influxdb3 show s`


class _Target:
    """The server and database a subcommand queries."""

    def __init__(self, ctx: click.Context, database: str | None, host: str | None,
                 token: str | None, fmt: str) -> None:
        given = ctx.find_object(dict) or {}
        self.database = database or given.get("database")
        if not self.database:
            raise click.UsageError("Missing option '-d' / '--database'.", ctx.parent)
        if fmt == "parquet":
            raise click.ClickException("parquet format is not supported for this command")
        self.fmt = fmt
        self.server = Server(host or given.get("host") or DEFAULT_HOST,
                             token or given.get("token"))

    def query(self, sql: str, fmt: str | None = None, refused_ok: bool = False):
        return self.server.request("POST", QUERY_URL, refused_ok=refused_ok, json={
            "db": self.database, "q": sql, "format": fmt or self.fmt})

    def table_names(self) -> list[str]:
        return [row["table_name"] for row in self.query(TABLES_QUERY, "json").json()]


@show_system.command("table-list")
@_connection
@_format_option
@click.pass_context
def table_list(ctx: click.Context, database: str | None, host: str | None, token: str | None,
               fmt: str) -> None:
    """List the system tables and their columns."""
    write_body(_Target(ctx, database, host, token, fmt).query(TABLES_QUERY).text)


@show_system.command("table")
@_connection
@click.option("-l", "--limit", type=click.IntRange(0, 65535), default=100, show_default=True,
              help="Rows to show at most; 0 for all.")
@click.option("-o", "--order-by", multiple=True,
              help="Order by these columns (comma-separated, or repeated).")
@click.option("-s", "--select", multiple=True,
              help="Show only these columns (comma-separated, or repeated).")
@_format_option
@click.argument("system_table")
@click.pass_context
def table(ctx: click.Context, database: str | None, host: str | None, token: str | None,
          limit: int, order_by: tuple[str, ...], select: tuple[str, ...], fmt: str,
          system_table: str) -> None:
    """Show the rows of system table SYSTEM_TABLE."""
    target = _Target(ctx, database, host, token, fmt)
    sql = _table_query(system_table, _listed(select), _listed(order_by), limit)
    response = target.query(sql, refused_ok=True)
    if response.status_code >= 400:
        names = target.table_names()
        if system_table not in names:
            raise click.ClickException(
                f"system table '{system_table}' not found: please use a valid system table "
                f"name: {json.dumps(names)}")
        raise click.ClickException(describe_error(response))
    write_body(response.text)


@show_system.command("summary")
@_connection
@click.option("-l", "--limit", type=click.IntRange(0, 65535), default=10, show_default=True,
              help="Rows to show at most from each table; 0 for all.")
@_format_option
@click.pass_context
def summary(ctx: click.Context, database: str | None, host: str | None, token: str | None,
            limit: int, fmt: str) -> None:
    """Show the first rows of every system table."""
    target = _Target(ctx, database, host, token, fmt)
    for name in target.table_names():
        response = target.query(_table_query(name, [], [], limit))
        click.echo(f"{name} summary:")
        write_body(response.text)


def _listed(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _table_query(name: str, select: list[str], order_by: list[str], limit: int) -> str:
    quoted = name.replace('"', '""')
    clauses = [f"SELECT {','.join(select) or '*'} FROM system.\"{quoted}\""]
    if name in DEFAULT_FILTER:
        clauses.append(f"WHERE {DEFAULT_FILTER[name]}")
    ordering = ",".join(order_by) or DEFAULT_ORDERING.get(name)
    if ordering:
        clauses.append(f"ORDER BY {ordering}")
    if limit > 0:
        clauses.append(f"LIMIT {limit}")
    return "\n".join(clauses)
